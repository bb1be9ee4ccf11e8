#pragma once
// An in-memory Runtime for control-plane tests: instances move through the same states as in
// the ns runtime, at once, with logs written to a directory. Failures are injected by index.
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "worker/runtime.hpp"

namespace kuiga::test {

class FakeRuntime final : public worker::Runtime {
 public:
  FakeRuntime(std::string logDir, worker::EventSink sink);

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
  Result<worker::RecoveryReport> recover() override;
  VoidResult console(InstanceId id, std::string_view line) override;
  std::string logPath(InstanceId id) const override;

  // Instances with these indexes fail while being created.
  void failCreate(std::set<uint32_t> indexes);
  // Makes a running instance crash, as an AUT would.
  void crash(InstanceId id, const std::string& why);
  std::vector<worker::InstanceSpec> created() const;

 private:
  void transition(InstanceId id, InstanceState s, const std::string& reason = {});
  std::string logDir_;
  worker::EventSink sink_;
  mutable std::mutex mu_;
  std::map<InstanceId, worker::InstanceStatus> instances_;
  std::map<InstanceId, worker::InstanceSpec> specs_;
  std::set<uint32_t> failCreate_;
};

}  // namespace kuiga::test
