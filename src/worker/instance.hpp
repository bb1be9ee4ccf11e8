#pragma once
// Instances as the worker sees them: spec, states and events.
#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "spec/identity.hpp"
#include "spec/instance_state.hpp"
#include "spec/net_mode.hpp"

namespace kuiga::worker {

struct InstanceSpec {
  InstanceId id;
  std::string appDir;             // host directory shown read-only at /app
  std::string executable;         // file name inside /app
  std::vector<std::string> args;  // argv[1..], already expanded from the run's template
  std::vector<std::string> env;   // "NAME=value"
  NetMode net = NetMode::Veth;
  // Group: the device runs in the group of its run's devices [k * groupSize, (k+1) * groupSize)
  // (ns runtime only); its limits are per device where the kernel allows it cheaply.
  Isolation isolation = Isolation::Instance;
  uint32_t groupSize = kDefaultGroupSize;
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
