#pragma once
// A whole worker on the ns runtime: the runtime (recovered from what a previous process left),
// the Plexer's capture of its radio network, and the agent that connects both to the master.
// `kuiga worker`, `kuiga up`, `kuiga bench api` and the tests run one.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "imagestore/s3_store.hpp"
#include "plexer/plexer.hpp"
#include "worker/agent/agent.hpp"
#include "worker/docker/docker_runtime.hpp"
#include "worker/ns/ns_runtime.hpp"

namespace kuiga::worker {

struct WorkerNodeConfig {
  std::string master;  // the master's URL
  // Its link's credentials: given (a worker in the master's process), else kept in
  // STATE/pki/, else got by enrolling with `joinToken` (master_link.hpp).
  std::optional<NodeCredentials> credentials;
  std::string joinToken;
  std::string apiCaPem;  // the CA of the master's HTTPS certificate, when not the cluster's
  std::string name = "local";
  std::string stateDir;
  std::string initPath;  // kuiga-init
  uint32_t capacity = 10000;
  std::map<std::string, std::string> labels;
  std::string runtime = "ns";  // or "docker"
  std::string dockerSocket = "/var/run/docker.sock";
  std::string gatePath;       // kuiga-gate, for the docker runtime
  bool removeOnExit = false;  // the destructor removes every instance and the worker's objects
  std::vector<std::string> exposed;  // host paths ns instances see read-only (--expose)
  uid_t uidBase = 200000;            // its instances' uids, from here on (--uid-base)
  // The address other workers' tunnels reach this one's radio network at (--underlay-address):
  // a run whose devices are on several workers is one radio network over them. Empty: runs'
  // radios stay on each worker.
  std::string underlayAddress;
  // A plexer (`kuiga plexer`): capacity 0, it holds the cells the master places on it.
  bool plexer = false;
  // Fetch images from this S3 bucket (read-only credentials are enough) instead of the master.
  std::optional<imagestore::S3Config> s3;
};

class WorkerNode {
 public:
  static Result<std::unique_ptr<WorkerNode>> start(WorkerNodeConfig config);
  // Disconnects; leaves the instances running (for a restart) unless removeOnExit.
  ~WorkerNode();
  // Disconnects and removes every instance, the radio namespace, mounts and cgroups.
  VoidResult destroy();
  [[nodiscard]] bool connected() const { return agent_->connected(); }
  Runtime& runtime() { return *runtime_; }
  // The runtime itself, when it is that one (null otherwise).
  ns::NsRuntime* nsRuntime() { return ns_; }
  docker::DockerRuntime* dockerRuntime() { return docker_; }

 private:
  WorkerNode() = default;
  void disconnect();
  WorkerNodeConfig config_;
  EventQueue events_;
  std::unique_ptr<Runtime> runtime_;
  ns::NsRuntime* ns_ = nullptr;
  docker::DockerRuntime* docker_ = nullptr;
  int radioNetnsFd_ = -1;  // the runtime's radio network, for the Plexer
  std::unique_ptr<plexer::Plexer> plexer_;
  std::unique_ptr<MasterLink> link_;
  std::unique_ptr<imagestore::BlobSource> blobs_;
  std::unique_ptr<Agent> agent_;
  std::jthread thread_;
  bool destroyed_ = false;
};

}  // namespace kuiga::worker
