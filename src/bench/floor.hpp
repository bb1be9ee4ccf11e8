#pragma once
// The kernel's floor of an isolated instance on this machine: what the instance the runtime
// makes costs before Kuiga adds anything, measured piece by piece with copies made for the
// purpose, so that what Kuiga adds (above_floor_kib) can be stated without the machine's noise
// (docs/performance.md, "The floor").
#include <sys/types.h>

#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace kuiga::bench {

struct Floor {
  // kuiga-init waiting in new network (loopback up), mount, PID, UTS and IPC namespaces.
  double initNamespacesKib = 0;
  // A veth pair, one end a bridge port, the other in the namespace (0 without a network).
  double vethKib = 0;
  size_t copies = 0;
};

// Makes `copies` of each piece and reads /proc/meminfo before and after (the same accounting
// as the benchmark's memory figures); removes them and waits for the kernel to free them.
Result<Floor> measureFloor(const std::string& initPath, size_t copies, bool veth);

// The AUT's kernel side outside its RSS: its page tables and its threads' kernel stacks, from
// /proc/PID/status (0 if gone). Its task structures, about 12 KiB, are left out: they count
// as overhead above the floor, which errs against us.
double autKernelKib(pid_t aut);

}  // namespace kuiga::bench
