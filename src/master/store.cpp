#include "master/store.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <cerrno>

#include <fmt/format.h>

#include "master/store_internal.hpp"

namespace kuiga::master {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  state TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  spec TEXT NOT NULL,
  created_ns INTEGER NOT NULL,
  updated_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS instances (
  run INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  worker TEXT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  updated_ns INTEGER NOT NULL,
  PRIMARY KEY (run, idx)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS instances_worker ON instances(worker);
CREATE TABLE IF NOT EXISTS history (
  run INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL,
  worker TEXT NOT NULL,
  time_ns INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS history_instance ON history(run, idx);
CREATE TABLE IF NOT EXISTS run_events (
  run INTEGER NOT NULL,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  host TEXT NOT NULL,
  detail TEXT NOT NULL,
  time_ns INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS run_events_run ON run_events(run);
-- Instances per run and state, kept by triggers in the same transactions as the instances:
-- a run's counts are read on every API request and after every event batch, and counting
-- 10,000 rows each time cost the ns runtime a third of the CPU it needs to create them.
CREATE TABLE IF NOT EXISTS run_counts (
  run INTEGER NOT NULL,
  state TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (run, state)) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS instances_counted_insert AFTER INSERT ON instances BEGIN
  INSERT OR IGNORE INTO run_counts(run, state, n) VALUES (NEW.run, NEW.state, 0);
  UPDATE run_counts SET n = n + 1 WHERE run = NEW.run AND state = NEW.state;
END;
CREATE TRIGGER IF NOT EXISTS instances_counted_update AFTER UPDATE OF state ON instances
WHEN OLD.state != NEW.state BEGIN
  UPDATE run_counts SET n = n - 1 WHERE run = OLD.run AND state = OLD.state;
  INSERT OR IGNORE INTO run_counts(run, state, n) VALUES (NEW.run, NEW.state, 0);
  UPDATE run_counts SET n = n + 1 WHERE run = NEW.run AND state = NEW.state;
END;
CREATE TRIGGER IF NOT EXISTS instances_counted_delete AFTER DELETE ON instances BEGIN
  UPDATE run_counts SET n = n - 1 WHERE run = OLD.run AND state = OLD.state;
END;
CREATE TABLE IF NOT EXISTS workers (
  name TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  capacity INTEGER NOT NULL,
  labels TEXT NOT NULL,
  online INTEGER NOT NULL,
  last_seen_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
  digest TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  profile TEXT NOT NULL,
  manifest TEXT NOT NULL,
  created_ns INTEGER NOT NULL);
-- Who uploaded an image: a user sees the images they uploaded (the same AUT uploaded by two
-- users is one image of both).
CREATE TABLE IF NOT EXISTS image_owners (
  digest TEXT NOT NULL,
  owner TEXT NOT NULL,
  PRIMARY KEY (digest, owner)) WITHOUT ROWID;
-- The certificate each worker or plexer holds now (its serial); a revoked one is refused.
CREATE TABLE IF NOT EXISTS node_certs (
  name TEXT PRIMARY KEY,
  serial TEXT NOT NULL,
  issued_ns INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0);
-- API tokens, by the SHA-256 of their secret (never the secret itself).
CREATE TABLE IF NOT EXISTS tokens (
  name TEXT PRIMARY KEY,
  user TEXT NOT NULL,
  role TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_ns INTEGER NOT NULL,
  expires_ns INTEGER NOT NULL);
-- Tests the master runs (POST /api/v1/tests); their files are under DATA/tests/ID.
CREATE TABLE IF NOT EXISTS tests (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  owner TEXT NOT NULL,
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  summary TEXT NOT NULL DEFAULT '{}',
  created_ns INTEGER NOT NULL,
  finished_ns INTEGER NOT NULL DEFAULT 0);
)sql";

void insertRunEvent(SQLite::Database& db, RunId run, const RunEvent& e) {
  SQLite::Statement q(db,
                      "INSERT INTO run_events(run, kind, state, host, detail, time_ns) "
                      "VALUES(?,?,?,?,?,?)");
  q.bind(1, static_cast<int64_t>(run));
  q.bind(2, e.kind);
  q.bind(3, e.state);
  q.bind(4, e.host);
  q.bind(5, e.detail);
  q.bind(6, static_cast<int64_t>(e.timeNs));
  q.exec();
}

RunRecord readRun(SQLite::Statement& q) {
  RunRecord r;
  r.id = static_cast<RunId>(q.getColumn(0).getInt64());
  r.state = parseRunState(q.getColumn(1).getString()).value_or(RunState::Dirty);
  r.reason = q.getColumn(2).getString();
  auto spec = RunSpec::fromJson(nlohmann::json::parse(q.getColumn(3).getString()));
  if (spec) r.spec = *spec;
  r.createdNs = q.getColumn(4).getInt64();
  r.updatedNs = q.getColumn(5).getInt64();
  r.logs = q.getColumn(6).getString();
  r.owner = q.getColumn(7).getString();
  return r;
}

InstanceRecord readInstance(SQLite::Statement& q) {
  InstanceRecord r;
  r.id = {static_cast<RunId>(q.getColumn(0).getInt64()),
          static_cast<uint32_t>(q.getColumn(1).getInt64())};
  r.worker = q.getColumn(2).getString();
  r.state = q.getColumn(3).getString();
  r.reason = q.getColumn(4).getString();
  r.updatedNs = q.getColumn(5).getInt64();
  return r;
}

constexpr const char* kInstanceColumns = "run, idx, worker, state, reason, updated_ns";

}  // namespace

Store::Store(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::open(const std::string& path) {
  return guard("open '" + path + "'", [&]() -> Result<std::unique_ptr<Store>> {
    auto db =
        std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db->setBusyTimeout(5000);
    // WAL with synchronous=FULL: a committed change survives kill -9 and power loss, and
    // readers never wait for the writer.
    db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
    db->exec(kSchema);
    // Added after the first schema: what became of a run's logs ("" while it lives, "kept" or
    // "purged" once deleted).
    if (!hasColumn(*db, "runs", "logs"))
      db->exec("ALTER TABLE runs ADD COLUMN logs TEXT NOT NULL DEFAULT ''");
    // And where each run's cell is (master_cells.cpp), and how often it moved.
    if (!hasColumn(*db, "runs", "cell"))
      db->exec(
          "ALTER TABLE runs ADD COLUMN cell TEXT NOT NULL DEFAULT '';"
          "ALTER TABLE runs ADD COLUMN cell_moves INTEGER NOT NULL DEFAULT 0");
    // And a node's role: "worker", or "plexer" (it holds runs' cells and no instances).
    if (!hasColumn(*db, "workers", "role"))
      db->exec("ALTER TABLE workers ADD COLUMN role TEXT NOT NULL DEFAULT 'worker'");
    // And who created a run: its owner. Runs of a master from before tokens are the first
    // admin's ("admin").
    if (!hasColumn(*db, "runs", "owner"))
      db->exec("ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT 'admin'");
    // Images from before owners are the first admin's too.
    db->exec(
        "INSERT OR IGNORE INTO image_owners(digest, owner) SELECT digest, 'admin' FROM images "
        "WHERE digest NOT IN (SELECT digest FROM image_owners)");
    return std::unique_ptr<Store>(new Store(std::move(db)));
  });
}

Result<RunId> Store::insertRun(const RunSpec& spec, const std::string& owner, int64_t nowNs) {
  std::lock_guard lock(mu_);
  return guard("insert run", [&]() -> Result<RunId> {
    SQLite::Transaction t(*db_);
    SQLite::Statement q(
        *db_, "INSERT INTO runs(state, spec, created_ns, updated_ns, owner) VALUES(?,?,?,?,?)");
    q.bind(1, std::string(toString(RunState::Pending)));
    q.bind(2, spec.toJson().dump());
    q.bind(3, static_cast<int64_t>(nowNs));
    q.bind(4, static_cast<int64_t>(nowNs));
    q.bind(5, owner);
    q.exec();
    auto id = static_cast<RunId>(db_->getLastInsertRowid());
    insertRunEvent(*db_, id,
                   {"state", std::string(toString(RunState::Pending)), "", "created", nowNs});
    t.commit();
    return id;
  });
}

VoidResult Store::insertInstances(RunId run,
                                  const std::vector<std::pair<uint32_t, std::string>>& placed,
                                  int64_t nowNs) {
  std::lock_guard lock(mu_);
  return guard("insert instances", [&]() -> VoidResult {
    SQLite::Transaction t(*db_);
    SQLite::Statement q(*db_,
                        "INSERT INTO instances(run, idx, worker, state, reason, "
                        "updated_ns) VALUES(?,?,?,'pending','',?)");
    SQLite::Statement h(*db_,
                        "INSERT INTO history(run, idx, state, reason, worker, time_ns) "
                        "VALUES(?,?,'pending','',?,?)");
    for (const auto& [idx, worker] : placed) {
      q.bind(1, static_cast<int64_t>(run));
      q.bind(2, static_cast<int64_t>(idx));
      q.bind(3, worker);
      q.bind(4, static_cast<int64_t>(nowNs));
      q.exec();
      q.reset();
      h.bind(1, static_cast<int64_t>(run));
      h.bind(2, static_cast<int64_t>(idx));
      h.bind(3, worker);
      h.bind(4, static_cast<int64_t>(nowNs));
      h.exec();
      h.reset();
    }
    t.commit();
    return {};
  });
}

VoidResult Store::setRunState(RunId id, RunState s, const std::string& reason, int64_t nowNs) {
  std::lock_guard lock(mu_);
  return guard("update run", [&]() -> VoidResult {
    SQLite::Transaction t(*db_);
    SQLite::Statement q(*db_, "UPDATE runs SET state=?, reason=?, updated_ns=? WHERE id=?");
    q.bind(1, std::string(toString(s)));
    q.bind(2, reason);
    q.bind(3, static_cast<int64_t>(nowNs));
    q.bind(4, static_cast<int64_t>(id));
    q.exec();
    insertRunEvent(*db_, id, {"state", std::string(toString(s)), "", reason, nowNs});
    t.commit();
    return {};
  });
}

Result<std::optional<RunRecord>> Store::run(RunId id) {
  std::lock_guard lock(mu_);
  return guard("read run", [&]() -> Result<std::optional<RunRecord>> {
    SQLite::Statement q(
        *db_,
        "SELECT id, state, reason, spec, created_ns, updated_ns, logs, owner FROM runs "
        "WHERE id=?");
    q.bind(1, static_cast<int64_t>(id));
    if (!q.executeStep()) return std::nullopt;
    return readRun(q);
  });
}

Result<std::vector<RunRecord>> Store::runs() {
  std::lock_guard lock(mu_);
  return guard("list runs", [&]() -> Result<std::vector<RunRecord>> {
    SQLite::Statement q(
        *db_,
        "SELECT id, state, reason, spec, created_ns, updated_ns, logs, owner FROM runs "
        "ORDER BY id");
    std::vector<RunRecord> out;
    while (q.executeStep()) out.push_back(readRun(q));
    return out;
  });
}

VoidResult Store::deleteRun(RunId id) {
  std::lock_guard lock(mu_);
  return guard("delete run", [&]() -> VoidResult {
    SQLite::Transaction t(*db_);
    for (const char* sql : {"DELETE FROM history WHERE run=?", "DELETE FROM run_events WHERE run=?",
                            "DELETE FROM instances WHERE run=?",
                            "DELETE FROM run_counts WHERE run=?", "DELETE FROM runs WHERE id=?"}) {
      SQLite::Statement q(*db_, sql);
      q.bind(1, static_cast<int64_t>(id));
      q.exec();
    }
    t.commit();
    return {};
  });
}

VoidResult Store::setRunLogs(RunId id, const std::string& logs) {
  std::lock_guard lock(mu_);
  return guard("update run", [&]() -> VoidResult {
    SQLite::Statement q(*db_, "UPDATE runs SET logs=? WHERE id=?");
    q.bind(1, logs);
    q.bind(2, static_cast<int64_t>(id));
    q.exec();
    return {};
  });
}

VoidResult Store::setRunCell(RunId id, const std::string& host, uint32_t moves,
                             const std::string& event, int64_t nowNs) {
  std::lock_guard lock(mu_);
  return guard("update run", [&]() -> VoidResult {
    SQLite::Transaction t(*db_);
    SQLite::Statement q(*db_, "UPDATE runs SET cell=?, cell_moves=? WHERE id=?");
    q.bind(1, host);
    q.bind(2, static_cast<int64_t>(moves));
    q.bind(3, static_cast<int64_t>(id));
    q.exec();
    if (!event.empty()) insertRunEvent(*db_, id, {"cell", "", host, event, nowNs});
    t.commit();
    return {};
  });
}

Result<std::map<RunId, std::pair<std::string, uint32_t>>> Store::runCells() {
  std::lock_guard lock(mu_);
  return guard("list cells", [&]() -> Result<std::map<RunId, std::pair<std::string, uint32_t>>> {
    SQLite::Statement q(*db_, "SELECT id, cell, cell_moves FROM runs WHERE cell <> ''");
    std::map<RunId, std::pair<std::string, uint32_t>> out;
    while (q.executeStep())
      out[static_cast<RunId>(q.getColumn(0).getInt64())] = {
          q.getColumn(1).getString(), static_cast<uint32_t>(q.getColumn(2).getInt64())};
    return out;
  });
}

Result<std::vector<RunId>> Store::runsWithRecords() {
  std::lock_guard lock(mu_);
  return guard("list runs", [&]() -> Result<std::vector<RunId>> {
    SQLite::Statement q(*db_, "SELECT id FROM runs WHERE state <> 'deleted' OR logs = 'kept'");
    std::vector<RunId> out;
    while (q.executeStep()) out.push_back(static_cast<RunId>(q.getColumn(0).getInt64()));
    return out;
  });
}

Result<std::string> Store::clusterId(const std::function<std::string()>& make) {
  std::lock_guard lock(mu_);
  return guard("cluster id", [&]() -> Result<std::string> {
    SQLite::Statement q(*db_, "SELECT value FROM meta WHERE key='cluster_id'");
    if (q.executeStep()) return q.getColumn(0).getString();
    std::string id = make();
    SQLite::Statement w(*db_, "INSERT INTO meta(key, value) VALUES('cluster_id', ?)");
    w.bind(1, id);
    w.exec();
    return id;
  });
}

Result<std::pair<std::vector<RunRecord>, uint64_t>> Store::runs(const RunQuery& rq) {
  std::lock_guard lock(mu_);
  return guard("list runs", [&]() -> Result<std::pair<std::vector<RunRecord>, uint64_t>> {
    const char* where =
        "WHERE (?1 = '' OR state = ?1) AND (?1 <> '' OR ?2 OR state <> 'deleted') AND "
        "(?5 = '' OR owner = ?5)";
    SQLite::Statement q(*db_, std::string("SELECT id, state, reason, spec, created_ns, "
                                          "updated_ns, logs, owner FROM runs ") +
                                  where + " ORDER BY id LIMIT ?3 OFFSET ?4");
    SQLite::Statement n(*db_, std::string("SELECT count(*) FROM runs ") + where);
    for (auto* st : {&q, &n}) {
      st->bind(1, rq.state);
      st->bind(2, rq.withDeleted ? 1 : 0);
      st->bind(5, rq.owner);
    }
    q.bind(3, static_cast<int64_t>(rq.limit));
    q.bind(4, static_cast<int64_t>(rq.offset));
    std::vector<RunRecord> out;
    while (q.executeStep()) out.push_back(readRun(q));
    n.executeStep();
    return std::make_pair(std::move(out), static_cast<uint64_t>(n.getColumn(0).getInt64()));
  });
}

VoidResult Store::updateInstances(const std::vector<InstanceUpdate>& updates) {
  if (updates.empty()) return {};
  std::lock_guard lock(mu_);
  return guard("update instances", [&]() -> VoidResult {
    SQLite::Transaction t(*db_);
    SQLite::Statement q(
        *db_,
        "UPDATE instances SET state=?, reason=?, updated_ns=?, "
        "worker=coalesce(?, worker) WHERE run=? AND idx=? AND (?7 IS NULL OR worker=?7) "
        "AND NOT (state=?1 AND ?4 IS NULL) "
        "RETURNING worker");
    SQLite::Statement h(*db_,
                        "INSERT INTO history(run, idx, state, reason, worker, time_ns) "
                        "VALUES(?,?,?,?,?,?)");
    for (const auto& u : updates) {
      q.bind(1, u.state);
      q.bind(2, u.reason);
      q.bind(3, static_cast<int64_t>(u.timeNs));
      if (u.worker)
        q.bind(4, *u.worker);
      else
        q.bind(4);
      q.bind(5, static_cast<int64_t>(u.id.run));
      q.bind(6, static_cast<int64_t>(u.id.index));
      if (u.onlyIfWorker)
        q.bind(7, *u.onlyIfWorker);
      else
        q.bind(7);
      std::string worker;
      bool found = q.executeStep();
      if (found) worker = q.getColumn(0).getString();
      q.reset();
      q.clearBindings();
      if (!found) continue;  // an instance of a run that no longer exists
      h.bind(1, static_cast<int64_t>(u.id.run));
      h.bind(2, static_cast<int64_t>(u.id.index));
      h.bind(3, u.state);
      h.bind(4, u.reason);
      h.bind(5, worker);
      h.bind(6, static_cast<int64_t>(u.timeNs));
      h.exec();
      h.reset();
    }
    t.commit();
    return {};
  });
}

Result<std::optional<InstanceRecord>> Store::instance(InstanceId id) {
  std::lock_guard lock(mu_);
  return guard("read instance", [&]() -> Result<std::optional<InstanceRecord>> {
    SQLite::Statement q(
        *db_, fmt::format("SELECT {} FROM instances WHERE run=? AND idx=?", kInstanceColumns));
    q.bind(1, static_cast<int64_t>(id.run));
    q.bind(2, static_cast<int64_t>(id.index));
    if (!q.executeStep()) return std::nullopt;
    return readInstance(q);
  });
}

Result<std::vector<InstanceRecord>> Store::instances(RunId run, const std::string& state,
                                                     uint32_t offset, uint32_t limit) {
  std::lock_guard lock(mu_);
  return guard("list instances", [&]() -> Result<std::vector<InstanceRecord>> {
    SQLite::Statement q(*db_, fmt::format("SELECT {} FROM instances WHERE run=? AND (?='' OR "
                                          "state=?) ORDER BY idx LIMIT ? OFFSET ?",
                                          kInstanceColumns));
    q.bind(1, static_cast<int64_t>(run));
    q.bind(2, state);
    q.bind(3, state);
    q.bind(4, static_cast<int64_t>(limit));
    q.bind(5, static_cast<int64_t>(offset));
    std::vector<InstanceRecord> out;
    while (q.executeStep()) out.push_back(readInstance(q));
    return out;
  });
}

Result<std::vector<HistoryEntry>> Store::history(InstanceId id) {
  std::lock_guard lock(mu_);
  return guard("read history", [&]() -> Result<std::vector<HistoryEntry>> {
    SQLite::Statement q(*db_,
                        "SELECT state, reason, worker, time_ns FROM history WHERE run=? AND "
                        "idx=? ORDER BY rowid");
    q.bind(1, static_cast<int64_t>(id.run));
    q.bind(2, static_cast<int64_t>(id.index));
    std::vector<HistoryEntry> out;
    while (q.executeStep())
      out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                     q.getColumn(2).getString(), q.getColumn(3).getInt64()});
    return out;
  });
}

Result<std::vector<RunEvent>> Store::runHistory(RunId id) {
  std::lock_guard lock(mu_);
  return guard("read run history", [&]() -> Result<std::vector<RunEvent>> {
    SQLite::Statement q(*db_,
                        "SELECT kind, state, host, detail, time_ns FROM run_events WHERE run=? "
                        "ORDER BY rowid");
    q.bind(1, static_cast<int64_t>(id));
    std::vector<RunEvent> out;
    while (q.executeStep())
      out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                     q.getColumn(2).getString(), q.getColumn(3).getString(),
                     q.getColumn(4).getInt64()});
    return out;
  });
}

Result<std::map<std::string, uint64_t>> Store::countByState(RunId run) {
  std::lock_guard lock(mu_);
  return guard("count instances", [&]() -> Result<std::map<std::string, uint64_t>> {
    SQLite::Statement q(*db_, "SELECT state, n FROM run_counts WHERE run=? AND n > 0");
    q.bind(1, static_cast<int64_t>(run));
    std::map<std::string, uint64_t> out;
    while (q.executeStep())
      out[q.getColumn(0).getString()] = static_cast<uint64_t>(q.getColumn(1).getInt64());
    return out;
  });
}

Result<std::vector<InstanceRecord>> Store::instancesOnWorker(const std::string& worker) {
  std::lock_guard lock(mu_);
  return guard("list instances of a worker", [&]() -> Result<std::vector<InstanceRecord>> {
    SQLite::Statement q(*db_, fmt::format("SELECT {} FROM instances WHERE worker=? AND state != "
                                          "'deleted' ORDER BY run, idx",
                                          kInstanceColumns));
    q.bind(1, worker);
    std::vector<InstanceRecord> out;
    while (q.executeStep()) out.push_back(readInstance(q));
    return out;
  });
}

Result<std::map<std::string, uint64_t>> Store::loadPerWorker() {
  std::lock_guard lock(mu_);
  return guard("count load", [&]() -> Result<std::map<std::string, uint64_t>> {
    SQLite::Statement q(*db_,
                        "SELECT worker, count(*) FROM instances WHERE state NOT IN ('deleted', "
                        "'lost') GROUP BY worker");
    std::map<std::string, uint64_t> out;
    while (q.executeStep())
      out[q.getColumn(0).getString()] = static_cast<uint64_t>(q.getColumn(1).getInt64());
    return out;
  });
}

VoidResult Store::upsertWorker(const WorkerRecord& w) {
  std::lock_guard lock(mu_);
  return guard("record worker", [&]() -> VoidResult {
    SQLite::Statement q(*db_,
                        "INSERT INTO workers(name, address, capacity, labels, online, "
                        "last_seen_ns, role) VALUES(?,?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE "
                        "SET address=excluded.address, capacity=excluded.capacity, "
                        "labels=excluded.labels, online=excluded.online, "
                        "last_seen_ns=excluded.last_seen_ns, role=excluded.role");
    q.bind(1, w.name);
    q.bind(2, w.address);
    q.bind(3, static_cast<int64_t>(w.capacity));
    q.bind(4, w.labels.dump());
    q.bind(5, w.online ? 1 : 0);
    q.bind(6, static_cast<int64_t>(w.lastSeenNs));
    q.bind(7, w.role);
    q.exec();
    return {};
  });
}

VoidResult Store::setWorkerOnline(const std::string& name, bool online, int64_t nowNs) {
  std::lock_guard lock(mu_);
  return guard("update worker", [&]() -> VoidResult {
    SQLite::Statement q(*db_, "UPDATE workers SET online=?, last_seen_ns=? WHERE name=?");
    q.bind(1, online ? 1 : 0);
    q.bind(2, static_cast<int64_t>(nowNs));
    q.bind(3, name);
    q.exec();
    return {};
  });
}

Result<std::vector<WorkerRecord>> Store::workers() {
  std::lock_guard lock(mu_);
  return guard("list workers", [&]() -> Result<std::vector<WorkerRecord>> {
    SQLite::Statement q(*db_,
                        "SELECT name, address, capacity, labels, online, last_seen_ns, role "
                        "FROM workers ORDER BY name");
    std::vector<WorkerRecord> out;
    while (q.executeStep()) {
      WorkerRecord w;
      w.name = q.getColumn(0).getString();
      w.address = q.getColumn(1).getString();
      w.capacity = static_cast<uint32_t>(q.getColumn(2).getInt64());
      w.labels = nlohmann::json::parse(q.getColumn(3).getString(), nullptr, false);
      w.online = q.getColumn(4).getInt() != 0;
      w.lastSeenNs = q.getColumn(5).getInt64();
      w.role = q.getColumn(6).getString();
      out.push_back(std::move(w));
    }
    return out;
  });
}

Result<bool> Store::insertImage(const ImageRecord& img) {
  std::lock_guard lock(mu_);
  return guard("record image", [&]() -> Result<bool> {
    SQLite::Statement q(*db_,
                        "INSERT OR IGNORE INTO images(digest, name, profile, manifest, "
                        "created_ns) VALUES(?,?,?,?,?)");
    q.bind(1, img.digest);
    q.bind(2, img.name);
    q.bind(3, img.profile);
    q.bind(4, img.manifest.dump());
    q.bind(5, static_cast<int64_t>(img.createdNs));
    return q.exec() > 0;
  });
}

ImageRecord readImage(SQLite::Statement& q) {
  return {q.getColumn(0).getString(), q.getColumn(1).getString(), q.getColumn(2).getString(),
          nlohmann::json::parse(q.getColumn(3).getString(), nullptr, false),
          q.getColumn(4).getInt64()};
}

Result<std::optional<ImageRecord>> Store::image(const std::string& digest) {
  std::lock_guard lock(mu_);
  return guard("read image", [&]() -> Result<std::optional<ImageRecord>> {
    SQLite::Statement q(*db_,
                        "SELECT digest, name, profile, manifest, created_ns FROM images WHERE "
                        "digest=?");
    q.bind(1, digest);
    if (!q.executeStep()) return std::nullopt;
    return readImage(q);
  });
}

Result<std::vector<ImageRecord>> Store::images() {
  std::lock_guard lock(mu_);
  return guard("list images", [&]() -> Result<std::vector<ImageRecord>> {
    SQLite::Statement q(*db_,
                        "SELECT digest, name, profile, manifest, created_ns FROM images ORDER BY "
                        "created_ns");
    std::vector<ImageRecord> out;
    while (q.executeStep()) out.push_back(readImage(q));
    return out;
  });
}

}  // namespace kuiga::master
