#pragma once
// The kernel's floor of an isolated instance on this machine: what the instance the runtime
// makes costs before Kuiga adds anything, measured piece by piece with copies made for the
// purpose, so that what Kuiga adds (above_floor_kib) can be stated without the machine's noise
// (docs/performance.md, "The floor").
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace kuiga::bench {

struct Floor {
  // kuiga-init waiting in new network (loopback up), mount, PID, UTS and IPC namespaces.
  double initNamespacesKib = 0;
  // A veth pair, one end a bridge port, the other in the namespace (0 without a network).
  double vethKib = 0;
  // The AUT's process structures (task, memory map and its areas, signal and file tables):
  // what a copy of the AUT costs beyond its PSS, page tables and kernel stacks, which the run
  // reads from each running AUT instead (autKernelKib).
  double autProcessKib = 0;
  size_t copies = 0;
};

// The AUT as the instance runs it: its executable and its arguments (argv[0] first). Its copies
// are given a start time an hour away, so they wait without running.
struct AutCommand {
  std::string path;
  std::vector<std::string> argv;
};

// Receives each step's progress ("floor: veths measured in 12.3 s").
using FloorLog = std::function<void(const std::string&)>;

// Makes `copies` of each piece and reads /proc/meminfo before and after (the same accounting
// as the benchmark's memory figures); removes them and waits for the kernel to free them.
Result<Floor> measureFloor(const std::string& initPath, size_t copies, bool veth,
                           const AutCommand& aut, const FloorLog& log = {});

// The AUT's kernel side that grows while it runs, from /proc/PID/status (0 if gone): its page
// tables and its threads' kernel stacks. Its process structures are the floor's
// (autProcessKib).
double autKernelKib(pid_t aut);

}  // namespace kuiga::bench
