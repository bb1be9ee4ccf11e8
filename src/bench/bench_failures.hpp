#pragma once
// The instances a benchmark lost, said plainly: at 10,000 instances one failure is a bug, not
// noise, and a benchmark whose figures leave one out must not look like a success.
#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/instances_bench.hpp"
#include "worker/runtime.hpp"

namespace kuiga::bench {

class FailureTally {
 public:
  // Every instance an operation failed for, with its reason.
  void add(const worker::BulkResult& r, const char* step);
  // Every one of `ids` that `listing` (a runtime's) does not hold as running (one that
  // crashed, or whose running event never came), with the runtime's reason. With
  // `endedIsFine`, for AUTs that end when done, only failed ones and missing ones count.
  void addNotRunning(const std::vector<worker::InstanceStatus>& listing,
                     std::span<const InstanceId> ids, bool endedIsFine = false);
  [[nodiscard]] size_t count() const { return failures_.size(); }
  // "failed" (the count: the command exits 1 unless it is 0) and "first_failures" (up to
  // five, "instance: step: reason"), also logged.
  void write(nlohmann::json& out, const BenchLog& log) const;

 private:
  std::map<InstanceId, std::string> failures_;  // first reason per instance
};

}  // namespace kuiga::bench
