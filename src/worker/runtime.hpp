#pragma once
// The Runtime: how a worker runs instances (the report's WorkerAdapter). Every operation is bulk,
// because runs have thousands of instances; stop and remove are idempotent and accept ids the
// runtime does not know.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "spec/identity.hpp"
#include "worker/instance.hpp"

namespace kuiga::worker {

// Called after each finished item of a bulk operation with (done, total); may be called from
// several threads, never concurrently.
using Progress = std::function<void(size_t done, size_t total)>;

struct BulkResult {
  size_t ok = 0;
  std::vector<std::pair<InstanceId, Error>> failed;
  bool allOk() const { return failed.empty(); }
};

struct RecoveryReport {
  size_t adopted = 0;  // instances still running, now supervised again
  size_t reaped = 0;   // instances or leftovers torn down
  std::vector<std::string> notes;
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  // pending -> prolog -> booting: everything is ready, the AUT has not started.
  virtual BulkResult create(std::span<const InstanceSpec> specs, const Progress& progress = {}) = 0;
  // booting -> running once the AUT has been exec'd.
  virtual BulkResult start(std::span<const InstanceId> ids, const Progress& progress = {}) = 0;
  // SIGTERM, then after `grace` SIGKILL to every process of the instance; -> terminated.
  virtual BulkResult stop(std::span<const InstanceId> ids, std::chrono::milliseconds grace,
                          const Progress& progress = {}) = 0;
  // Stops if needed and removes every trace: processes, namespaces, links, cgroups, files.
  virtual BulkResult remove(std::span<const InstanceId> ids, const Progress& progress = {}) = 0;

  virtual std::optional<InstanceStatus> status(InstanceId id) const = 0;
  virtual std::vector<InstanceStatus> list() const = 0;
  // Re-adopt or reap what a previous process of this worker left behind.
  virtual Result<RecoveryReport> recover() = 0;
  // Write one line (a newline is added) to the instance's stdin.
  virtual VoidResult console(InstanceId id, std::string_view line) = 0;
  // Current log file of the instance (rotated files end in .1).
  virtual std::string logPath(InstanceId id) const = 0;
};

}  // namespace kuiga::worker
