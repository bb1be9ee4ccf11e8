#pragma once
// The worker agent: dials the master, registers what this worker can run and what it runs now,
// then executes the master's commands on its Runtime and streams instance events back in
// batches. It reconnects after losing the master; its registration then tells the master the
// truth, so nothing depends on events sent while the link was down.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "imagestore/image_store.hpp"
#include "plexer/plexer.hpp"
#include "worker/agent/master_link.hpp"
#include "worker/net/radio_network.hpp"
#include "worker/runtime.hpp"

namespace kuiga::rpc {
class RadioPeers;
}

namespace kuiga::worker {

// Collects the runtime's events until the agent sends them. Made before the runtime, whose
// sink it is.
class EventQueue {
 public:
  EventSink sink();
  std::vector<InstanceEvent> take();
  void push(std::vector<InstanceEvent> evs);

 private:
  std::mutex mu_;
  std::vector<InstanceEvent> events_;
};

struct AgentConfig {
  std::string name;
  uint32_t capacity = 1000;
  std::map<std::string, std::string> labels;
  std::string runtimeName = "ns";
  std::string cacheDir;         // fetched images
  std::string stateDir;         // the worker's: run artifacts (logs, captures) and its cluster id
  std::string underlayAddress;  // where other workers' tunnels reach this one ("": none)
  // A plexer (`kuiga plexer`) takes no instances: it holds the cells the master places on it,
  // until the master closes them, not only while instances of their runs are here.
  bool plexer = false;
  std::chrono::milliseconds flushEvery{100};
  std::chrono::milliseconds reconnectEvery{1000};
};

class Agent {
 public:
  // `plexer` (may be null) captures every instance on the radio network and serves the
  // master's reads of it, and opens the cells the master places here.
  Agent(AgentConfig config, MasterLink& link, Runtime& runtime, EventQueue& events,
        imagestore::BlobSource& blobs, plexer::Plexer* plexer = nullptr,
        net::RadioNetwork* radio = nullptr);
  ~Agent();
  // Runs until `stop` is requested: connects, serves, reconnects.
  void run(std::stop_token stop);
  // True while registered with a master.
  bool connected() const;

 private:
  struct Conn;
  void serve(Conn& conn, std::stop_token stop);
  void execute(Conn& conn, const struct CommandBox& cmd);
  // Opens the run's cell from its radio and ZEP specs (JSON; empty: the run has none), for
  // `count` devices in groups of `groupSize` (0: isolated).
  VoidResult openCell(RunId run, const std::string& radioJson, const std::string& zepJson,
                      uint32_t count, uint32_t groupSize);
  // Routes the prefixes of the created tun-mode (Contiki) instances in the radio namespace; an
  // instance whose prefix cannot be routed fails.
  void routeDevicePrefixes(std::span<const InstanceSpec> specs, BulkResult& created);
  // A tun-mode run's prefixes after its peers changed: all of them on the cell's host, none
  // on a relay.
  VoidResult routeRunPrefixes(const rpc::RadioPeers& p, bool relay);
  // Closes the cells and captures of runs that have no instance here any more.
  void closeIdleCells();
  // Removes everything this worker holds of the run: its radio, capture, logs.
  void purgeRun(RunId run);
  // The run's layer-2 network on this worker (its tree of bridges, its tunnel), before its
  // cell, dispatcher or devices; closed once it has no instances here.
  VoidResult openRadio(RunId run, NetMode net);
  void closeRadio(RunId run);
  VoidResult setRadioPeers(const rpc::RadioPeers& peers);
  // Closes the run's cell, dispatcher and gateway here (its devices and tree stay).
  void closeCell(RunId run);
  // Removes what it holds of every run the master does not keep (deleted and purged runs).
  void keepOnly(const std::set<RunId>& keep);
  // Before registering with a master of cluster `id`: records of another cluster's master are
  // not mixed in. Its instances are removed and its files kept under stale/<its cluster id>.
  VoidResult adoptCluster(const std::string& id);

  AgentConfig config_;
  MasterLink& link_;
  Runtime& runtime_;
  EventQueue& events_;
  imagestore::ImageCache cache_;
  plexer::Plexer* plexer_;  // null: no radio network here (a test's worker)
  net::RadioNetwork* radio_;
  // One instance's cut of a run's capture, made at offset 0 and served in chunks from here.
  struct PcapCut {
    RunId run = 0;
    uint32_t index = 0;
    std::string data;
  };
  std::mutex cutMu_;
  PcapCut cut_;
  // A plexer's runs whose cells the master placed here (from RadioPeers, or found open again
  // after a restart): kept open with no instance here.
  std::set<RunId> hosted_;
  mutable std::mutex mu_;
  bool connected_ = false;
  std::string clusterId_;  // of the master this worker registered with last
};

// Reads up to `max` bytes of an instance log at `offset`, counting the rotated part
// ("<path>.1") first. Returns the bytes and the offset after them.
Result<std::pair<std::string, uint64_t>> readLog(const std::string& path, uint64_t offset,
                                                 uint32_t max);

}  // namespace kuiga::worker
