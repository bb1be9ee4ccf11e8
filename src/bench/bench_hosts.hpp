#pragma once
// Hosts for the benchmarks that span workers (`--workers K`): K network namespaces joined by an
// underlay switch (a bridge in a namespace of its own, MTU 1550), and an NsRuntime opened in
// each, so that each has its own radio network and its tunnels start from its own underlay
// address, as K worker machines would. A run's devices, spread over the hosts round-robin, are
// joined into one radio network with the run's cell on host 0: the other hosts' cores relay
// the gateway's frames through their tunnels, as the master sets them up. With one host, it is
// one NsRuntime in the calling thread's namespace and nothing else.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sys/fd.hpp"
#include "worker/ns/ns_runtime.hpp"

namespace kuiga::bench {

class BenchHosts {
 public:
  // `base.name` and `base.stateDir` get a suffix per host; each host's instances get uids of
  // their own.
  static Result<std::unique_ptr<BenchHosts>> open(unsigned count,
                                                  const worker::ns::NsRuntimeConfig& base,
                                                  const worker::EventSink& sink);
  // Destroys each runtime (instances, radio network), then the namespaces.
  ~BenchHosts();

  [[nodiscard]] size_t size() const { return hosts_.size(); }
  worker::ns::NsRuntime& runtime(size_t k) { return *hosts_[k].runtime; }
  // The host of device `index` of a run.
  [[nodiscard]] size_t hostOf(uint32_t index) const { return index % hosts_.size(); }
  // Joins the run's `count` devices into one radio network, its cell (gateway) on host 0.
  VoidResult join(RunId run, uint32_t count);
  // Frames that reached host 0 through the run's tunnel, by the kernel's count (0 on one host).
  Result<uint64_t> tunnelReceived(RunId run);

  // The runtime operations, each host's share in a thread of its own.
  worker::BulkResult create(std::span<const worker::InstanceSpec> specs);
  worker::BulkResult start(std::span<const InstanceId> ids);
  worker::BulkResult stop(std::span<const InstanceId> ids, std::chrono::milliseconds grace);
  worker::BulkResult remove(std::span<const InstanceId> ids);
  [[nodiscard]] std::string logPath(InstanceId id) const;
  // Every host's instances.
  [[nodiscard]] std::vector<worker::InstanceStatus> list() const;
  VoidResult destroyAll();

 private:
  struct Host {
    sys::UniqueFd netns;  // -1 with a single host: the caller's
    std::string underlay;
    std::unique_ptr<worker::ns::NsRuntime> runtime;
  };
  BenchHosts() = default;
  VoidResult build(unsigned count);  // the namespaces and the underlay
  template <typename T, typename Op>
  worker::BulkResult perHost(std::span<const T> items, Op op);

  sys::UniqueFd switch_;  // the underlay's bridge lives here
  std::vector<Host> hosts_;
  bool destroyed_ = false;
};

}  // namespace kuiga::bench
