#include "worker/node_limits.hpp"

#include <sys/resource.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "sys/file.hpp"

namespace kuiga::worker {

namespace {

// The PIDs and threads the host needs besides the instances.
constexpr uint64_t kHostTasks = 16384;
// PID_MAX_LIMIT on 64-bit kernels.
constexpr uint64_t kPidMaxLimit = 4194304;
// Descriptors the worker needs besides its instances': sockets, logs, the radio, capture.
constexpr uint64_t kWorkerFds = 1024;

std::string dotted(const std::string& key) {
  std::string s = key;
  std::replace(s.begin(), s.end(), '/', '.');
  return s;
}

// Raises `root/key` to `want`; never lowers it.
void raise(const std::string& root, const std::string& key, uint64_t want, NodeLimitsReport& r) {
  auto cur = sys::readFile(root + "/" + key);
  if (!cur) return r.warnings.push_back(fmt::format("{}: {}", dotted(key), cur.error().message));
  const uint64_t have = std::strtoull(cur->c_str(), nullptr, 10);
  if (have >= want) return;
  if (auto w = sys::writeFile(root + "/" + key, std::to_string(want)); !w)
    return r.warnings.push_back(
        fmt::format("{} is {}, {} needed: {}", dotted(key), have, want, w.error().message));
  r.raised.push_back({dotted(key), have, want});
}

}  // namespace

NodeLimitsReport raiseNodeLimits(uint64_t capacity, uint64_t fdsPerInstance,
                                 const std::string& sysctlRoot) {
  NodeLimitsReport r;
  const uint64_t tasks = capacity * kTasksPerInstance + kHostTasks;
  raise(sysctlRoot, "kernel/pid_max", std::min(tasks, kPidMaxLimit), r);
  raise(sysctlRoot, "kernel/threads-max", tasks, r);
  const uint64_t fds = capacity * fdsPerInstance + kWorkerFds;
  raise(sysctlRoot, "fs/file-max", fds * 4, r);  // the instances' own files too
  // The neighbour tables' default limits (gc_thresh3 = 1024 entries) overflow with a few
  // thousand instances each talking to one peer ("neighbour table overflow").
  for (const char* family : {"ipv4", "ipv6"})
    for (auto [key, want] : {std::pair{"gc_thresh1", 8192ull}, std::pair{"gc_thresh2", 65536ull},
                             std::pair{"gc_thresh3", 131072ull}})
      raise(sysctlRoot, fmt::format("net/{}/neigh/default/{}", family, key), want, r);
  // One descriptor per isolated instance is held by the worker (see ns_instance.hpp).
  (void)sys::raiseFileLimit(1u << 20);
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < fds)
    r.warnings.push_back(fmt::format(
        "open files (RLIMIT_NOFILE) is {}, and {} instances need about {}: past about {} "
        "isolated instances, creations fail (group isolation holds one per group)",
        rl.rlim_cur, capacity, fds,
        rl.rlim_cur > kWorkerFds ? (rl.rlim_cur - kWorkerFds) / fdsPerInstance : 0));
  return r;
}

std::string describe(const NodeLimitsReport& r) {
  std::string out;
  for (const auto& c : r.raised)
    out += fmt::format("{}{} {} -> {}", out.empty() ? "" : ", ", c.name, c.from, c.to);
  return out.empty() ? "none" : out;
}

}  // namespace kuiga::worker
