#pragma once
// Instances as the worker sees them: spec, states and events.
#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/identity.hpp"
#include "common/result.hpp"

namespace kuiga::worker {

// The report's life cycle (section 3.9): booting means "ready, waiting to be started".
enum class InstanceState : uint8_t {
  Pending,
  Prolog,
  Booting,
  Running,
  ShuttingDown,
  Terminated,
  Failed,
};
constexpr size_t kInstanceStateCount = 7;

std::string_view toString(InstanceState s);
Result<InstanceState> parseInstanceState(std::string_view s);
bool isFinal(InstanceState s);
// Whether the life cycle allows `from -> to` (a failure may happen from any live state).
bool canTransition(InstanceState from, InstanceState to);

// Tun: veth with its addresses, plus a persistent IP tun "tun0" owned by the instance's user
// and configured for Contiki-NG native (see worker/net/instance_network.hpp).
enum class NetMode : uint8_t { Veth, Tap, None, Tun };
std::string_view toString(NetMode m);
Result<NetMode> parseNetMode(std::string_view s);

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

struct InstanceSpec {
  InstanceId id;
  std::string appDir;             // host directory shown read-only at /app
  std::string executable;         // file name inside /app
  std::vector<std::string> args;  // argv[1..], already expanded from the run's template
  std::vector<std::string> env;   // "NAME=value"
  NetMode net = NetMode::Veth;
  Limits limits;
  // The default seccomp filter (ns: seccomp_policy.hpp; docker: the engine's default profile).
  // false only when the run asks for security.seccomp "unconfined".
  bool seccomp = true;
};

struct InstanceEvent {
  InstanceId id;
  InstanceState state = InstanceState::Pending;
  int64_t timeNs = 0;  // CLOCK_REALTIME
  std::string reason;  // why, for failures and stops
};

using EventSink = std::function<void(const std::vector<InstanceEvent>&)>;

struct InstanceStatus {
  InstanceId id;
  InstanceState state = InstanceState::Pending;
  std::string reason;
  pid_t pid = -1;  // the instance's init, as seen from the worker
  std::vector<InstanceEvent> history;
};

int64_t realtimeNs();

}  // namespace kuiga::worker
