#include "worker/instance.hpp"

#include <time.h>

#include <array>

namespace kuiga::worker {

namespace {
constexpr std::array<std::string_view, kInstanceStateCount> kStateNames{
    "pending", "prolog", "booting", "running", "shutting_down", "terminated", "failed"};
}

std::string_view toString(InstanceState s) {
  return kStateNames[static_cast<size_t>(s)];
}

Result<InstanceState> parseInstanceState(std::string_view s) {
  for (size_t i = 0; i < kStateNames.size(); ++i)
    if (kStateNames[i] == s) return static_cast<InstanceState>(i);
  return failMsg("unknown instance state '" + std::string(s) + "'");
}

bool isFinal(InstanceState s) {
  return s == InstanceState::Terminated || s == InstanceState::Failed;
}

bool canTransition(InstanceState from, InstanceState to) {
  using S = InstanceState;
  if (isFinal(from)) return false;
  if (to == S::Failed) return true;
  switch (from) {
    case S::Pending:
      return to == S::Prolog;
    case S::Prolog:
      return to == S::Booting || to == S::Terminated;
    case S::Booting:
      return to == S::Running || to == S::ShuttingDown || to == S::Terminated;
    case S::Running:
      return to == S::ShuttingDown || to == S::Terminated;
    case S::ShuttingDown:
      return to == S::Terminated;
    default:
      return false;
  }
}

std::string_view toString(NetMode m) {
  switch (m) {
    case NetMode::Veth:
      return "veth";
    case NetMode::Tap:
      return "tap";
    case NetMode::None:
      return "none";
    case NetMode::Tun:
      return "tun";
  }
  return "?";
}

Result<NetMode> parseNetMode(std::string_view s) {
  if (s == "veth") return NetMode::Veth;
  if (s == "tap") return NetMode::Tap;
  if (s == "none") return NetMode::None;
  if (s == "tun") return NetMode::Tun;
  return failMsg("unknown network mode '" + std::string(s) + "' (veth, tap, tun or none)");
}

int64_t realtimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace kuiga::worker
