// The store's records of the tests the master runs.
#include "master/store_internal.hpp"

namespace kuiga::master {

namespace {

constexpr const char* kColumns = "id, owner, name, state, error, summary, created_ns, finished_ns";

TestRecord readTest(SQLite::Statement& q) {
  TestRecord t;
  t.id = static_cast<uint64_t>(q.getColumn(0).getInt64());
  t.owner = q.getColumn(1).getString();
  t.name = q.getColumn(2).getString();
  t.state = q.getColumn(3).getString();
  t.error = q.getColumn(4).getString();
  t.summary = nlohmann::json::parse(q.getColumn(5).getString(), nullptr, false);
  if (t.summary.is_discarded()) t.summary = nlohmann::json::object();
  t.createdNs = q.getColumn(6).getInt64();
  t.finishedNs = q.getColumn(7).getInt64();
  return t;
}

}  // namespace

Result<uint64_t> Store::insertTest(const TestRecord& t) {
  std::lock_guard lock(mu_);
  return guard("record a test", [&]() -> Result<uint64_t> {
    SQLite::Statement q(*db_,
                        "INSERT INTO tests(owner, name, state, error, summary, created_ns) "
                        "VALUES(?,?,?,?,?,?)");
    q.bind(1, t.owner);
    q.bind(2, t.name);
    q.bind(3, t.state);
    q.bind(4, t.error);
    q.bind(5, t.summary.dump());
    q.bind(6, static_cast<int64_t>(t.createdNs));
    q.exec();
    return static_cast<uint64_t>(db_->getLastInsertRowid());
  });
}

VoidResult Store::updateTest(const TestRecord& t) {
  std::lock_guard lock(mu_);
  return guard("record a test", [&]() -> VoidResult {
    SQLite::Statement q(*db_,
                        "UPDATE tests SET state=?, error=?, summary=?, finished_ns=? WHERE id=?");
    q.bind(1, t.state);
    q.bind(2, t.error);
    q.bind(3, t.summary.dump());
    q.bind(4, static_cast<int64_t>(t.finishedNs));
    q.bind(5, static_cast<int64_t>(t.id));
    q.exec();
    return {};
  });
}

Result<std::optional<TestRecord>> Store::test(uint64_t id) {
  std::lock_guard lock(mu_);
  return guard("read a test", [&]() -> Result<std::optional<TestRecord>> {
    SQLite::Statement q(*db_, fmt::format("SELECT {} FROM tests WHERE id=?", kColumns));
    q.bind(1, static_cast<int64_t>(id));
    if (!q.executeStep()) return std::nullopt;
    return readTest(q);
  });
}

Result<std::vector<TestRecord>> Store::tests(const std::string& owner, uint32_t limit) {
  std::lock_guard lock(mu_);
  return guard("list tests", [&]() -> Result<std::vector<TestRecord>> {
    SQLite::Statement q(*db_, fmt::format("SELECT {} FROM tests WHERE ?='' OR owner=? ORDER BY id "
                                          "DESC LIMIT ?",
                                          kColumns));
    q.bind(1, owner);
    q.bind(2, owner);
    q.bind(3, static_cast<int64_t>(limit));
    std::vector<TestRecord> out;
    while (q.executeStep()) out.push_back(readTest(q));
    return out;
  });
}

VoidResult Store::deleteTest(uint64_t id) {
  std::lock_guard lock(mu_);
  return guard("forget a test", [&]() -> VoidResult {
    SQLite::Statement q(*db_, "DELETE FROM tests WHERE id=?");
    q.bind(1, static_cast<int64_t>(id));
    q.exec();
    return {};
  });
}

}  // namespace kuiga::master
