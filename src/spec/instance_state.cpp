#include "spec/instance_state.hpp"

#include <array>

namespace kuiga {

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

}  // namespace kuiga
