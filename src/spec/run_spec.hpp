#pragma once
// Test runs as the master sees them: the spec a user submits, and the run's life cycle
// (report, section 3.10): pending -> ready -> running -> stopped -> deleted, dirty on failure.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "spec/net_mode.hpp"
#include "spec/radio.hpp"
#include "spec/zep.hpp"

namespace kuiga {

enum class RunState : uint8_t { Pending, Ready, Running, Stopped, Deleted, Dirty };
std::string_view toString(RunState s);
Result<RunState> parseRunState(std::string_view s);

// What a user may do to a run in each state; anything else is answered with 409.
enum class RunAction : uint8_t { Start, Stop, Delete };
std::string_view toString(RunAction a);
// nullopt when allowed, else why not.
std::optional<std::string> refuse(RunState s, RunAction a);

enum class FailurePolicy : uint8_t { Dirty, Reschedule };

// Instance states the master tracks: the runtime's seven, plus `lost` (its worker is gone) and
// `deleted` (removed with its run).
constexpr std::string_view kLost = "lost";
constexpr std::string_view kDeleted = "deleted";
const std::vector<std::string>& instanceStateNames();

struct RunSpec {
  std::string name;
  std::string image;  // image digest
  uint32_t count = 0;
  std::vector<std::string> args;  // argument template, one entry per argv element
  bool argsGiven = false;         // false: the image's default arguments
  std::optional<NetMode> net;     // nullopt: the image's default
  // "isolation": "group" puts group_size devices in one set of namespaces (issue 20).
  Isolation isolation = Isolation::Instance;
  uint32_t groupSize = kDefaultGroupSize;
  Limits limits;
  FailurePolicy policy = FailurePolicy::Dirty;
  int64_t startMs = 0;    // common start time for timed AUTs ({start_ms}); 0 = set at create
  uint32_t periodMs = 0;  // period of a timed AUT, for jitter; 0 = not timed
  uint64_t seed = 0;
  // How the devices reach a base station through the Plexer; nullopt: they reach nothing
  // off the radio network.
  std::optional<RadioSpec> radio;
  // An IEEE 802.15.4 radio among the devices over ZEP, through the Plexer's dispatcher;
  // nullopt: none. Its devices are placed on one worker.
  std::optional<ZepSpec> zep;
  // security.seccomp: the default filter (true), or "unconfined" (false), which the run's
  // instances' history records.
  bool seccomp = true;
  // With an upload in the same request: the AUT's profile and its file name inside /app.
  // Not part of the stored spec (the image records both).
  std::optional<std::string> uploadProfile, uploadExecutable;

  nlohmann::json toJson() const;
  // Validates every field with a message naming it; `image` may be empty when an upload comes
  // with the spec.
  static Result<RunSpec> fromJson(const nlohmann::json& j);
};

// Splits an argument string on white space ("--period {period_ms} {tap}").
std::vector<std::string> splitArgs(const std::string& s);

}  // namespace kuiga
