#include "bench/bench_failures.hpp"

#include <fmt/format.h>

namespace kuiga::bench {

void FailureTally::add(const worker::BulkResult& r, const char* step) {
  for (const auto& [id, e] : r.failed) failures_.emplace(id, std::string(step) + ": " + e.message);
}

void FailureTally::addNotRunning(const std::vector<worker::InstanceStatus>& listing,
                                 std::span<const InstanceId> ids, bool endedIsFine) {
  std::map<InstanceId, const worker::InstanceStatus*> held;
  for (const auto& s : listing) held.emplace(s.id, &s);
  for (const auto& id : ids) {
    auto it = held.find(id);
    if (it == held.end()) {
      failures_.emplace(id, "not held by the runtime");
    } else if (const auto& s = *it->second; s.state == InstanceState::Failed ||
                                            (!endedIsFine && s.state != InstanceState::Running)) {
      failures_.emplace(id,
                        std::string(toString(s.state)) + (s.reason.empty() ? "" : ": " + s.reason));
    }
  }
}

void FailureTally::write(nlohmann::json& out, const BenchLog& log) const {
  out["failed"] = failures_.size();
  auto& first = out["first_failures"] = nlohmann::json::array();
  for (const auto& [id, reason] : failures_) {
    if (first.size() == 5) break;
    first.push_back(displayName(id) + ": " + reason);
  }
  if (failures_.empty()) return;
  log(fmt::format("{} instance(s) failed; the first:", failures_.size()));
  for (const auto& line : first) log("  " + line.get<std::string>());
}

}  // namespace kuiga::bench
