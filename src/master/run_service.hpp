#pragma once
// The master's runs: their transitions, their records in the Store and the events they raise.
// It keeps every record first and acts second, so a restarted master picks up where the old one
// stopped; what a reconnecting worker reports it runs wins over a stale record. Where instances
// and cells go is the Scheduler's (scheduler.hpp), the links to the nodes are WorkerSessions'
// (worker_sessions.hpp), and the gRPC adapter (rpc_server.hpp) turns the nodes' messages into
// the plain types below: no protobuf here.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/jitter.hpp"
#include "imagestore/image_store.hpp"
#include "master/api_error.hpp"
#include "master/metrics.hpp"
#include "master/scheduler.hpp"
#include "master/store.hpp"
#include "master/worker_sessions.hpp"

namespace kuiga::master {

struct MasterConfig {
  std::chrono::milliseconds heartbeat{1000};
  // A worker silent this long is lost (its stream breaking is noticed at once).
  std::chrono::milliseconds lostAfter{4000};
  std::chrono::milliseconds commandTimeout{300000};
  // Instances per create command. One command per worker lets the runtime parallelise the
  // whole batch; chunks made creation wait for each chunk's slowest instance (+40% at 10,000).
  uint32_t createChunk = 50000;
};

// An instance's state as a node reports it (in its registration, or an event).
struct InstanceStatus {
  InstanceId id;
  std::string state;
  std::string reason;
  int64_t timeNs = 0;
};

// What a node tells the master when it connects (the gRPC adapter reads it off the stream).
struct Registration {
  std::string name;
  uint32_t capacity = 0;
  std::map<std::string, std::string> labels;
  std::string runtime;
  std::vector<InstanceStatus> instances;  // what it runs now, after its own recovery
  std::string underlay;                   // where other nodes' tunnels reach it; "": none
  bool plexer = false;
  std::vector<RunId> cells;  // a plexer's: the runs whose cells it holds now
};

// The master's answer: how often to beat, what to remove, which runs it keeps records of.
struct RegistrationAnswer {
  uint32_t heartbeatMs = 0;
  std::string clusterId;
  std::vector<InstanceId> remove;
  std::vector<RunId> keepRuns;
};

// Progress of a bulk operation on a run, for the API.
struct RunProgress {
  std::string operation;  // "create", "start", "stop", "delete" or empty
  uint64_t done = 0;
  uint64_t total = 0;
};

struct RunView {
  RunRecord run;
  std::map<std::string, uint64_t> counts;
  RunProgress progress;
  // Where the run's cell is (its gateway, UE leases, medium, ZEP dispatcher): "" when the run
  // has none, or its workers each have their own (no underlay); and how often it moved.
  std::string cellWorker;
  uint32_t cellMoves = 0;
};

struct WorkerView {
  WorkerRecord record;
  uint64_t load = 0;  // instances placed on it
  int64_t heartbeatAgeMs = -1;
  uint64_t zepUnplaceable = 0;  // as of its last heartbeat (0 when offline)
};

// A state change announced to event subscribers (server-sent events).
struct MasterEvent {
  std::string kind;  // "run" or "instances"
  nlohmann::json data;
  std::string owner;  // the run's (set by the master as it publishes)
};
using EventSubscriber = std::function<void(const MasterEvent&)>;

struct LogCursor {
  InstanceId id;
  uint64_t offset = 0;
};
struct LogChunk {
  InstanceId id;
  std::string data;
  uint64_t offset = 0;
};

struct JitterReport {
  JitterStats run;
  std::map<uint32_t, JitterStats> perInstance;
};

class RunService {
 public:
  explicit RunService(Store& store, MasterConfig config = {});
  ~RunService();
  RunService(const RunService&) = delete;
  RunService& operator=(const RunService&) = delete;

  // Runs. create() answers once every instance is placed and recorded; creating them on the
  // workers continues in the background (the run is pending until all are booting).
  ApiResult<RunView> createRun(RunSpec spec, const std::string& owner);
  // Who created the run (404 when there is no such run).
  ApiResult<std::string> runOwner(RunId id);
  ApiResult<RunView> startRun(RunId id);
  ApiResult<RunView> stopRun(RunId id);
  // Removes the run's instances; its logs and captures go too, unless `keepLogs` (they stay
  // readable until purgeLogs()).
  ApiResult<RunView> deleteRun(RunId id, bool keepLogs = false);
  ApiResult<RunView> purgeLogs(RunId id);
  ApiResult<RunView> run(RunId id);
  ApiResult<std::vector<RunView>> runs();
  // A page of the listing and how many runs match in all.
  ApiResult<std::pair<std::vector<RunView>, uint64_t>> runs(const RunQuery& q);
  ApiResult<std::vector<InstanceRecord>> instances(RunId run, const std::string& state,
                                                   uint32_t offset, uint32_t limit);
  ApiResult<nlohmann::json> instance(InstanceId id);
  // The run's own history: the states it entered, with their reasons, and where its cell went.
  ApiResult<nlohmann::json> runHistory(RunId id);
  // Writes `line` to the console of each listed instance of the run (all when empty) that is
  // running or booting, `rate` instances a second, in the background; returns how many.
  ApiResult<uint32_t> consoleMany(RunId id, const std::string& line,
                                  const std::vector<uint32_t>& indexes, uint32_t rate);
  ApiResult<void> console(InstanceId id, const std::string& line);
  // Churn in a running run (run_service_churn.cpp): stops the listed devices (all when empty)
  // that boot or run, SIGTERM then SIGKILL after `grace`; or starts them again: a booting one
  // is started, a terminated one is made anew with its identity and started. Returns how many
  // it acts on; the work goes on in the background, and the devices' events tell its end.
  ApiResult<uint32_t> stopInstances(RunId id, const std::vector<uint32_t>& indexes,
                                    std::chrono::milliseconds grace);
  ApiResult<uint32_t> startInstances(RunId id, const std::vector<uint32_t>& indexes);
  // Reads logs from the workers that hold the instances; missing instances are skipped.
  ApiResult<std::vector<LogChunk>> readLogs(const std::vector<LogCursor>& cursors,
                                            uint32_t maxBytesEach);
  ApiResult<JitterReport> jitter(RunId id);
  // What the Plexer counted for the run's devices, from every worker that held them.
  ApiResult<nlohmann::json> radio(RunId id);
  // GET /metrics: Prometheus text.
  std::string metricsText();
  Metrics& metrics() { return metrics_; }
  // The run's UE lease logs from every worker that held its devices, one after the other.
  ApiResult<std::string> leases(RunId id);
  // The workers that hold (or held) instances of the run, whose captures make up its pcapng.
  ApiResult<std::vector<std::string>> pcapWorkers(RunId id);
  // Reads a worker's capture of the run: bytes at `offset` and whether it ends there for now.
  // `instance`: only that instance's interface and frames.
  ApiResult<std::pair<std::string, bool>> readPcap(const std::string& worker, RunId id,
                                                   uint64_t offset, uint32_t maxBytes,
                                                   std::optional<uint32_t> instance = {});

  ApiResult<std::vector<WorkerView>> workers();
  // Ends the node's session now (its instances and cells follow their runs' policies).
  void dropWorker(const std::string& worker, const std::string& why);
  // Forgets an offline worker that holds no live instance (409 otherwise).
  ApiResult<void> forgetWorker(const std::string& worker);
  // Total free capacity of the online workers.
  uint64_t freeCapacity();

  // Event subscribers; the returned id unsubscribes.
  uint64_t subscribe(EventSubscriber s);
  void unsubscribe(uint64_t id);
  // Tells the subscribers (the runs' own events, and the test service's).
  void publish(MasterEvent ev);

  // Called by the gRPC adapter (rpc_server.cpp): a node's registration (reconciled with what
  // the master expects it to run), its signs of life and events, its stream's end. onHeartbeat
  // and onEvents return false when `link` is no longer the node's session (it was declared lost
  // or reconnected): the adapter then ends that stream, and the node registers anew.
  RegistrationAnswer registerNode(const Registration& reg, std::shared_ptr<WorkerLink> link);
  bool onHeartbeat(const std::string& worker, const WorkerLink* link,
                   std::optional<uint64_t> zepUnplaceable = std::nullopt);
  bool onEvents(const std::string& worker, const WorkerLink* link,
                const std::vector<InstanceStatus>& events);
  void onDisconnect(const std::string& worker, const WorkerLink* link);
  // The nodes' sessions: their calls and replies.
  WorkerSessions& nodes() { return nodes_; }

  [[nodiscard]] const MasterConfig& config() const { return config_; }
  // This master's cluster: made at its first start and kept in its store. Workers keep
  // records of one cluster only.
  [[nodiscard]] const std::string& clusterId() const { return clusterId_; }
  // From here on, closing worker streams is the master's own doing, not a loss of workers.
  void beginShutdown();

 private:
  struct RunMem;
  using Clock = std::chrono::steady_clock;

  ApiResult<RunView> view(RunId id);
  ApiResult<RunMem*> runMem(RunId id);  // with mu_ held
  // The records and spec of a running run's devices that churn acts on, and its churn lock.
  struct Churn {
    RunSpec spec;
    std::vector<InstanceRecord> records;
    std::shared_ptr<std::mutex> lock;
  };
  ApiResult<Churn> churnTargets(RunId id, const std::vector<uint32_t>& indexes);
  bool stillRunning(RunId id);  // running, with no bulk operation in flight
  // Places `count` instances by free capacity (Scheduler); empty when they do not fit.
  // The node of each of the run's `indices`, its groups kept whole (placeGroups()).
  std::vector<std::string> place(const std::vector<uint32_t>& indices, const RunSpec& spec,
                                 const std::set<std::string>& exclude = {});
  // The online workers' room (capacity and load), for the Scheduler.
  std::vector<NodeRoom> rooms(const std::set<std::string>& exclude = {});
  void createOn(RunId id, const std::map<std::string, std::vector<uint32_t>>& byWorker,
                bool thenStart);
  void bulk(RunId id, const std::string& op,
            const std::map<std::string, std::vector<uint32_t>>& byWorker);
  std::map<std::string, std::vector<uint32_t>> byWorker(RunId id, bool liveOnly);
  // Re-evaluates a run's state from its instances' states.
  void evaluate(RunId id);
  void setRunState(RunId id, RunState s, const std::string& reason = {});
  // Declares the worker lost, if `link` is still its session's (not one it registered since).
  void markLost(const std::string& worker, const std::string& why, const WorkerLink* link);
  // Marks the worker's live instances lost and applies each run's policy.
  void loseInstances(const std::string& worker, const std::string& why);
  // Returns whether the lost instances were rescheduled (their createOn() is under way).
  bool applyPolicy(RunId id, const std::string& worker, const std::vector<uint32_t>& lost);
  void monitor(std::stop_token st);
  // Applies the failure policy to lost instances it was never applied to, and re-evaluates
  // the active runs; runs every few seconds.
  void recheck();
  void spawn(std::function<void()> fn);

  // Tells each worker holding the run's devices which other workers hold the rest, so that
  // the run is one radio network over them (master_radio.cpp). Serialised: the last call
  // sends the latest placement.
  void syncRadioPeers(RunId id);
  // Whether `worker`'s creates open the run's cell: it holds it, or it has no underlay (its
  // devices are on a radio of their own).
  bool opensCell(RunId id, const std::string& worker);
  // A plexer lost (`node` names it): the runs whose cell it held follow their policy.
  void loseCells(const std::string& node, const std::string& why);
  // A plexer registered with the cells it holds: each is adopted, or closed there when the
  // run is gone or its cell is elsewhere.
  void adoptCells(const std::string& plexer, const std::vector<RunId>& cells);
  // Tells `node` to close what it holds of the run's radio (its cell, tree and tunnel).
  void closeCellOn(const std::string& node, RunId id);
  // The plexer holding the run's cell; "" when none does (a worker's cell, or none).
  std::string cellPlexer(RunId id);
  // Chooses the run's cell host from its participants (a plexer chosen joins them, with no
  // devices); `moved` names the host it left, when it moved. With mu_ held.
  using Participants = std::map<std::string, std::vector<uint32_t>>;
  std::string placeCellLocked(RunMem& mem, Participants& participants,
                              const std::map<std::string, std::string>& underlay,
                              std::string& moved);
  // Tells every worker that held the run's instances to remove what it keeps of it.
  void purgeOnWorkers(RunId id, const std::map<std::string, std::vector<uint32_t>>& byW);

  Store& store_;
  MasterConfig config_;
  std::string clusterId_;

  std::mutex policyMu_;      // serialises marking lost + policy with recheck()
  std::mutex radioPeersMu_;  // serialises syncRadioPeers()
  std::mutex mu_;            // runs_; may be held while nodes_ is called, never the other way round
  Metrics metrics_;
  WorkerSessions nodes_;
  std::map<RunId, std::unique_ptr<RunMem>> runs_;
  Clock::time_point started_ = Clock::now();

  std::mutex subMu_;
  std::map<uint64_t, EventSubscriber> subscribers_;
  uint64_t nextSubscriber_ = 1;

  std::mutex tasksMu_;
  struct Task {
    std::shared_ptr<std::atomic<bool>> done;
    std::jthread thread;
  };
  std::vector<Task> tasks_;
  bool stopping_ = false;
  std::atomic<bool> shuttingDown_{false};
  std::jthread monitor_;
};

}  // namespace kuiga::master
