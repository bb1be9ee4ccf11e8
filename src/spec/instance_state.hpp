#pragma once
// An instance's life cycle, which the worker runs and the master tracks.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/result.hpp"

namespace kuiga {

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

}  // namespace kuiga
