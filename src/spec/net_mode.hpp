#pragma once
// How a device is networked, and what it may use: the run spec's "net" and "limits".
#include <algorithm>
#include <cstdint>
#include <string_view>

#include "common/result.hpp"

namespace kuiga {

// Tun: veth with its addresses, plus a persistent IP tun "tun0" owned by the instance's user
// and configured for Contiki-NG native (see worker/net/instance_network.hpp).
enum class NetMode : uint8_t { Veth, Tap, None, Tun };
std::string_view toString(NetMode m);
Result<NetMode> parseNetMode(std::string_view s);

// What a device shares with others (issue 20). Instance: namespaces and an init of its own.
// Group: the namespaces and init of a group of up to group_size devices of its run, each
// still a process under a uid of its own (docs/usage.md says what it gives up).
enum class Isolation : uint8_t { Instance, Group };
std::string_view toString(Isolation i);
Result<Isolation> parseIsolation(std::string_view s);
constexpr uint32_t kDefaultGroupSize = 1000;
// A group's init holds two pipes per device under the worker's RLIMIT_NOFILE (20,000 here).
constexpr uint32_t kMaxGroupSize = 5000;

// 0 means "no limit". Only limited resources get a controller: a memory cgroup alone costs
// about 160 KiB of kernel memory per instance (docs/performance.md).
struct Limits {
  uint64_t memoryBytes = 0;
  uint64_t pids = 64;
  uint32_t cpuMilli = 0;  // thousandths of a CPU
  // The instance's private files (/work, /tmp, /run, /dev/shm together), in RAM: a cap, not a
  // reservation, counted against its memory limit when it has one.
  uint32_t diskMb = 64;
};

// The inode cap that goes with a disk cap: 256 per MiB (16,384 for the default 64 MiB).
constexpr uint64_t diskInodes(uint32_t diskMb) {
  return std::max<uint64_t>(1024, uint64_t{diskMb} * 256);
}

}  // namespace kuiga
