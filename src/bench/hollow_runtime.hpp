#pragma once
// A worker runtime whose instances are records only: they move through the states at once and
// run nothing. For measuring the control plane at sizes no one machine could run (50,000
// devices over hollow workers, as Kubernetes' kubemark measures a control plane).
#include <map>
#include <mutex>

#include "worker/runtime.hpp"

namespace kuiga::bench {

class HollowRuntime final : public worker::Runtime {
 public:
  explicit HollowRuntime(worker::EventSink sink) : sink_(std::move(sink)) {}
  worker::BulkResult create(std::span<const worker::InstanceSpec> specs,
                            const worker::Progress& progress = {}) override;
  worker::BulkResult start(std::span<const InstanceId> ids,
                           const worker::Progress& progress = {}) override;
  worker::BulkResult stop(std::span<const InstanceId> ids, std::chrono::milliseconds grace,
                          const worker::Progress& progress = {}) override;
  worker::BulkResult remove(std::span<const InstanceId> ids,
                            const worker::Progress& progress = {}) override;
  std::optional<worker::InstanceStatus> status(InstanceId id) const override;
  std::vector<worker::InstanceStatus> list() const override;
  Result<worker::RecoveryReport> recover() override { return worker::RecoveryReport{}; }
  VoidResult console(InstanceId, std::string_view) override { return {}; }
  std::string logPath(InstanceId) const override { return "/nonexistent"; }

 private:
  // Moves every id to `to`, telling the sink in one batch.
  worker::BulkResult move(std::span<const InstanceId> ids,
                          std::initializer_list<InstanceState> through);
  worker::EventSink sink_;
  mutable std::mutex mu_;
  std::map<InstanceId, InstanceState> states_;
};

}  // namespace kuiga::bench
