#pragma once
// The master's durable state in SQLite: runs, instances with their history, workers and images.
// Every change is committed before the master acts on it or answers, so `kill -9` of the master
// loses nothing it has acknowledged. Thread-safe; batches go in one transaction each.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "master/auth/tokens.hpp"
#include "spec/identity.hpp"
#include "spec/run_spec.hpp"

namespace SQLite {
class Database;
}

namespace kuiga::master {

struct RunRecord {
  RunId id = 0;
  RunState state = RunState::Pending;
  std::string reason;  // why it is dirty
  RunSpec spec;
  int64_t createdNs = 0;
  int64_t updatedNs = 0;
  std::string logs;   // "" while the run lives; once deleted "kept" or "purged"
  std::string owner;  // the user who created it
};

// A test the master runs (test_service.hpp). State: queued, running, passed, failed, error.
struct TestRecord {
  uint64_t id = 0;
  std::string owner;
  std::string name;
  std::string state = "queued";
  std::string error;                                  // why it is an error
  nlohmann::json summary = nlohmann::json::object();  // its points' verdicts and runs
  int64_t createdNs = 0;
  int64_t finishedNs = 0;
};

struct InstanceRecord {
  InstanceId id;
  std::string worker;
  std::string state = "pending";
  std::string reason;
  int64_t updatedNs = 0;
};

struct InstanceUpdate {
  InstanceId id;
  std::string state;
  std::string reason;
  int64_t timeNs = 0;
  std::optional<std::string> worker;  // set when the instance moves to another worker
  // Set for reports from a worker: applied only while the instance is still placed there, so a
  // late report from a lost worker cannot overwrite an instance rescheduled elsewhere.
  std::optional<std::string> onlyIfWorker;
};

struct HistoryEntry {
  std::string state;
  std::string reason;
  std::string worker;
  int64_t timeNs = 0;
};

// One line of a run's own history: a state it entered (kind "state", with the reason) or
// where its cell went (kind "cell", with the host).
struct RunEvent {
  std::string kind;
  std::string state;
  std::string host;
  std::string detail;
  int64_t timeNs = 0;
};

struct WorkerRecord {
  std::string name;
  std::string address;  // where it connected from
  uint32_t capacity = 0;
  nlohmann::json labels = nlohmann::json::object();
  bool online = false;
  int64_t lastSeenNs = 0;
  std::string role = "worker";  // or "plexer": it holds runs' cells, never instances
};

struct ImageRecord {
  std::string digest;
  std::string name;  // the uploaded file's name
  std::string profile;
  nlohmann::json manifest;
  int64_t createdNs = 0;
};

// A page of the run listing: `state` empty is every state but deleted, unless `withDeleted`.
struct RunQuery {
  uint32_t offset = 0;
  uint32_t limit = 100;
  std::string state;
  bool withDeleted = false;
  std::string owner;  // only this user's runs; "" every user's
};

class Store {
 public:
  static Result<std::unique_ptr<Store>> open(const std::string& path);
  ~Store();

  Result<RunId> insertRun(const RunSpec& spec, const std::string& owner, int64_t nowNs);
  // Instances of a new run, with the worker each was placed on, in one transaction.
  VoidResult insertInstances(RunId run, const std::vector<std::pair<uint32_t, std::string>>& placed,
                             int64_t nowNs);
  VoidResult setRunState(RunId id, RunState s, const std::string& reason, int64_t nowNs);
  VoidResult setRunLogs(RunId id, const std::string& logs);
  // Where the run's cell is ("" none) and how often it moved; every run's that has one. With
  // `event`, the run's history says so in the same transaction.
  VoidResult setRunCell(RunId id, const std::string& host, uint32_t moves, const std::string& event,
                        int64_t nowNs);
  Result<std::map<RunId, std::pair<std::string, uint32_t>>> runCells();
  // Forgets a run whose create could not be recorded whole (its instances and history too).
  VoidResult deleteRun(RunId id);
  // Runs whose records (logs, captures) workers keep: not deleted, or deleted with logs kept.
  Result<std::vector<RunId>> runsWithRecords();
  // This master's cluster id, made by `make` the first time and kept from then on.
  Result<std::string> clusterId(const std::function<std::string()>& make);
  Result<std::optional<RunRecord>> run(RunId id);
  Result<std::vector<RunRecord>> runs();
  // One page in id order, and how many runs match in all.
  Result<std::pair<std::vector<RunRecord>, uint64_t>> runs(const RunQuery& q);

  // Applies state changes (and their history) in one transaction.
  VoidResult updateInstances(const std::vector<InstanceUpdate>& updates);
  Result<std::optional<InstanceRecord>> instance(InstanceId id);
  // `state` empty = all; ordered by index.
  Result<std::vector<InstanceRecord>> instances(RunId run, const std::string& state = {},
                                                uint32_t offset = 0, uint32_t limit = UINT32_MAX);
  Result<std::vector<HistoryEntry>> history(InstanceId id);
  // The run's states and cell moves, oldest first (the state changes are recorded with
  // setRunState, in its transaction).
  Result<std::vector<RunEvent>> runHistory(RunId id);
  Result<std::map<std::string, uint64_t>> countByState(RunId run);
  // Instances placed on a worker, in runs that are not deleted.
  Result<std::vector<InstanceRecord>> instancesOnWorker(const std::string& worker);
  // Number of instances placed per worker, over runs that are not deleted.
  Result<std::map<std::string, uint64_t>> loadPerWorker();

  VoidResult upsertWorker(const WorkerRecord& w);
  VoidResult setWorkerOnline(const std::string& name, bool online, int64_t nowNs);
  Result<std::vector<WorkerRecord>> workers();

  // Inserts unless the digest exists; returns whether it was new.
  Result<bool> insertImage(const ImageRecord& img);
  Result<std::optional<ImageRecord>> image(const std::string& digest);
  Result<std::vector<ImageRecord>> images();

  // Who may use an image: the users who uploaded it (store_access.cpp).
  VoidResult addImageOwner(const std::string& digest, const std::string& owner);
  Result<bool> imageOwnedBy(const std::string& digest, const std::string& owner);
  Result<std::vector<ImageRecord>> imagesOf(const std::string& owner);
  // API tokens, kept by the hash of their secret. insertToken is false when the name is taken.
  Result<bool> insertToken(const Token& t, const std::string& hash);
  VoidResult deleteToken(const std::string& name);
  Result<std::vector<std::pair<Token, std::string>>> tokens();
  // The certificate a node holds now: its serial, and whether it was revoked.
  struct NodeCert {
    std::string serial;
    bool revoked = false;
  };
  VoidResult setNodeCert(const std::string& name, const std::string& serial, int64_t nowNs);
  Result<std::optional<NodeCert>> nodeCert(const std::string& name);
  VoidResult revokeNodeCert(const std::string& name);
  // Forgets a worker's record (its certificate's stays, revoked or not).
  VoidResult deleteWorker(const std::string& name);
  // Tests (store_tests.cpp). `owner` "" lists everyone's, newest first.
  Result<uint64_t> insertTest(const TestRecord& t);
  VoidResult updateTest(const TestRecord& t);
  Result<std::optional<TestRecord>> test(uint64_t id);
  Result<std::vector<TestRecord>> tests(const std::string& owner, uint32_t limit);
  VoidResult deleteTest(uint64_t id);

 private:
  explicit Store(std::unique_ptr<SQLite::Database> db);
  std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;
};

}  // namespace kuiga::master
