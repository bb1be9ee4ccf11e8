#pragma once
// Whole-machine readings for benchmarks: memory in use, busy CPU time, and counts of kernel
// objects that must not leak.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace kuiga::bench {

// MemTotal - MemFree - the free pages on the per-CPU lists - Buffers - page cache (without
// shmem) - reclaimable slab, in KiB: memory that programs and the kernel hold, without caches
// the kernel would drop.
uint64_t memoryInUseKiB();
// memoryInUseKiB() once two readings `interval` apart differ by less than `toleranceKiB` (or
// after 20 tries): memory the kernel frees or allocates on its own after a step (RCU-freed
// objects, per-CPU lists) settles first.
uint64_t settledMemoryKiB(std::chrono::milliseconds interval, uint64_t toleranceKiB);
// Every "Key: value kB" line of /proc/meminfo.
std::map<std::string, uint64_t> memInfo();
// Busy CPU time of all CPUs since boot (user, nice, system, irq, softirq, steal) in µs.
uint64_t busyCpuMicros();
// Distinct network namespaces held by processes or bind mounts.
size_t countNetworkNamespaces();
// Waits (up to `bound`) until the kernel has torn down every network namespace that died
// before the call, and returns the seconds it waited. The kernel frees dead namespaces on one
// ordered work queue, in batches: a batch of 10,000 holds the rtnl lock for a minute and
// more, and a benchmark started under it measures the teardown, not itself. The slab's count
// cannot tell (objects on per-CPU slabs count as used), so this kills a probe namespace with
// a veth into a scratch one, twice: once the second probe's end is gone, the batch that held
// the first (and everything that died before it) has run to its end.
Result<double> waitForNamespaceTeardown(std::chrono::seconds bound);
// Processes whose real uid is in [uidFirst, uidLast] or whose name is `comm`.
size_t countProcesses(uid_t uidFirst, uid_t uidLast, const std::string& comm);
// Processes whose command line holds `needle` (a worker's own run directory names only its
// instances' inits, and its zygote, which is not counted), and the network namespaces they
// hold: what one worker left, and not what another Kuiga Box on the same machine runs.
struct ProcessCount {
  size_t processes = 0;
  size_t netns = 0;
};
ProcessCount processesNaming(const std::string& needle);
// Proportional set size of a process in KiB (0 if gone).
uint64_t pssKiB(pid_t pid);
// User plus system time of one thread of this process, in seconds.
double threadCpuSeconds(pid_t tid);
// User plus system time of this process (all its threads, none of its children), in seconds.
double selfCpuSeconds();
// The machine a benchmark ran on: "kernel" (release) and "cpus", added to its JSON.
void addMachine(nlohmann::json& out);

// CPU time of the user-space processes that ran before a benchmark began, the benchmark
// excluded: what the machine spends beside it. Not every machine idles beside a benchmark: the
// VM this one was developed on runs an agent as PID 1 whose CPU grows, faster than linearly,
// with the number of processes in network namespaces of their own (a core of two from about
// 4,000; `kuiga bench wakeups --netns` measures it without Kuiga), which a figure of the whole
// machine's CPU or a time to create thousands of instances counts as Kuiga's. Kernel threads
// are not counted: their work (tearing down namespaces, address timers) is partly the
// benchmark's.
class BystanderCpu {
 public:
  BystanderCpu();  // the processes alive now
  struct Lap {
    double seconds = 0;  // of all of them since the last lap (or since construction)
    std::string top;     // the one that used most, "comm (pid N)"
    double topSeconds = 0;
  };
  Lap lap();

 private:
  struct Proc {
    pid_t pid;
    unsigned long long startTime;
    std::string comm;
    uint64_t ticks;
  };
  std::vector<Proc> procs_;
};

}  // namespace kuiga::bench
