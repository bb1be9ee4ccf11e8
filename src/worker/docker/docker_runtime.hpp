#pragma once
// The `docker` runtime: each instance is a container of the Docker Engine (or Podman's
// compatible service), spoken to over its unix socket. For teams that standardise on
// containers; the `ns` runtime stays the default and the one that reaches 10,000 instances.
//
// An instance's life:
//   create  image built once per AUT from a scratch base (image_builder.hpp); the container is
//           created with no network of Docker's ("none"), Docker's init as PID 1 and kuiga-gate
//           holding the AUT back; started, so that its network namespace exists; wired to the
//           worker's radio network exactly like an ns instance (the same RadioNetwork, the
//           same addresses, so the Plexer sees its frames like any other device's); its output
//           followed into the instance's log file. -> booting
//   start   SIGUSR1 to the gate, which execs the AUT. -> running
//   stop    Docker's stop: SIGTERM, SIGKILL after the grace. -> terminated
//   exit    Docker's "die" event: exit code 0 -> terminated, else failed (OOM named).
//   remove  the container goes (forced), with its network namespace and link.
// Containers carry labels kuiga.worker, kuiga.run, kuiga.index, kuiga.net, so a restarted
// worker finds them: running ones are re-adopted, the rest removed.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sys/fd.hpp"
#include "worker/docker/engine.hpp"
#include "worker/runtime.hpp"
#include "worker/uid_pool.hpp"

namespace kuiga::worker::net {
class RadioNetwork;
}

namespace kuiga::worker::docker {

class Follower;

struct DockerRuntimeConfig {
  std::string name = "default";  // worker name: container names and labels
  std::string stateDir;          // logs/, build/ and the radio namespace pin
  std::string socket = "/var/run/docker.sock";
  std::string gatePath;    // the kuiga-gate binary
  uid_t uidBase = 200000;  // each live container's AUT runs as a uid of its own from here
  uint32_t uidCount = 65536;
  gid_t gid = 200000;
  unsigned threads = 8;  // engine requests in flight during bulk operations
  uint64_t logMaxBytes = 16ull << 20;
  std::chrono::milliseconds readyTimeout{60000};
};

class DockerRuntime final : public Runtime {
 public:
  static Result<std::unique_ptr<DockerRuntime>> open(DockerRuntimeConfig config, EventSink sink);
  // Leaves the containers running (a restarted worker re-adopts them with recover()).
  ~DockerRuntime() override;

  BulkResult create(std::span<const InstanceSpec> specs, const Progress& progress = {}) override;
  BulkResult start(std::span<const InstanceId> ids, const Progress& progress = {}) override;
  BulkResult stop(std::span<const InstanceId> ids, std::chrono::milliseconds grace,
                  const Progress& progress = {}) override;
  BulkResult remove(std::span<const InstanceId> ids, const Progress& progress = {}) override;
  std::optional<InstanceStatus> status(InstanceId id) const override;
  std::vector<InstanceStatus> list() const override;
  Result<RecoveryReport> recover() override;
  VoidResult console(InstanceId id, std::string_view line) override;
  std::string logPath(InstanceId id) const override;

  // Removes every container of this worker and the radio namespace.
  VoidResult destroyAll();
  [[nodiscard]] int radioNetnsFd() const;
  // The radio network its instances are attached to (runs' trees and tunnels).
  [[nodiscard]] net::RadioNetwork& radioNetwork() { return *radio_; }
  Result<std::vector<std::string>> radioLinks() const;
  [[nodiscard]] const Engine& engine() const { return engine_; }
  [[nodiscard]] std::string containerName(InstanceId id) const;

  struct Instance;

 private:
  DockerRuntime(DockerRuntimeConfig config, EventSink sink, Engine engine);
  VoidResult prolog(Instance& inst, const std::string& image);
  void discard(Instance& inst);
  void transition(Instance& inst, InstanceState to, std::string reason = {});
  // The container ended with `exitCode`; final state and reason from what we know of it.
  void ended(Instance& inst, int exitCode, bool oomKilled);
  void onEngineEvent(const nlohmann::json& ev);
  // Called when a container's log stream ends; applies an exit that waited for it.
  std::function<void()> outputEnded(InstanceId id);
  // Applies exits that waited longer than their deadline for the output.
  void endOverdue();
  void flushEvents();
  std::shared_ptr<Instance> find(InstanceId id) const;
  // Runs `op` for every id on the bulk threads, counting, collecting failures and reporting
  // progress; the sink hears of every change before it returns.
  BulkResult forEach(std::span<const InstanceId> ids, const Progress& progress,
                     const std::function<VoidResult(InstanceId)>& op);
  // A hijacked attach connection whose writes reach the container's stdin.
  Result<sys::UniqueFd> attachStdin(const std::string& container);

  DockerRuntimeConfig config_;
  EventSink sink_;
  Engine engine_;
  UidPool uids_;
  std::unique_ptr<net::RadioNetwork> radio_;

  mutable std::mutex mu_;
  std::map<InstanceId, std::shared_ptr<Instance>> instances_;
  std::vector<InstanceEvent> pendingEvents_;
  std::map<InstanceId, std::chrono::steady_clock::time_point> endWaiting_;
  std::mutex sinkMu_;

  std::unique_ptr<Follower> follower_;  // last: its thread uses everything above
};

}  // namespace kuiga::worker::docker
