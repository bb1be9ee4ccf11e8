#pragma once
// The kernel's node-wide limits that thousands of instances outgrow. Each is raised to what a
// worker of `capacity` instances needs and never lowered (another program on the host may have
// raised it further). Per-uid limits (inotify instances and watches, RLIMIT_NPROC) need
// nothing: every live instance runs as a uid of its own (uid_pool.hpp).
#include <cstdint>
#include <string>
#include <vector>

namespace kuiga::worker {

struct NodeLimitChange {
  std::string name;  // "kernel.pid_max"
  uint64_t from = 0, to = 0;
};

struct NodeLimitsReport {
  std::vector<NodeLimitChange> raised;
  // What could not be raised or cannot be enough, for the worker's log.
  std::vector<std::string> warnings;
};

// Tasks an instance may hold, for the PID and thread limits: its init, its AUT and a few of the
// AUT's threads or children (a limit, not a reservation: a pid costs nothing until used).
constexpr uint64_t kTasksPerInstance = 4;

// Raises kernel.pid_max, kernel.threads-max, fs.file-max and the neighbour tables (ARP and NDP
// entries, shared by all network namespaces) for `capacity` instances, and this process's
// RLIMIT_NOFILE as far as its hard limit allows. `fdsPerInstance` is what the worker holds
// open per instance (1 for an isolated instance's output); a limit that stays short of it
// is a warning. `sysctlRoot` is /proc/sys but for tests.
NodeLimitsReport raiseNodeLimits(uint64_t capacity, uint64_t fdsPerInstance = 1,
                                 const std::string& sysctlRoot = "/proc/sys");

// "kernel.pid_max 32768 -> 57344, ..." or "none".
std::string describe(const NodeLimitsReport& r);

}  // namespace kuiga::worker
