#pragma once
// What a worker keeps of runs besides their instances, on its state directory: instance logs
// ("logs/rR-iI.log"), captures ("pcap/run-R.*", "zep/run-R-*"), lease logs and cell specs
// ("radio/run-R.*"). Files are told apart by the run id in their names, so removing a run's, or
// every run's but some, needs no record of what was written.
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "spec/identity.hpp"

namespace kuiga::worker {

class RunArtifacts {
 public:
  explicit RunArtifacts(std::string stateDir);
  // The run each file belongs to, by its name; nullopt for files of no run.
  static std::optional<RunId> runOf(const std::string& dir, const std::string& fileName);
  // Runs with files here.
  std::set<RunId> runs() const;
  // Deletes the run's files; returns how many.
  size_t purge(RunId run) const;
  // Moves every run's files under `dest` (same subdirectories), for records of another cluster.
  VoidResult moveAll(const std::string& dest) const;

  static constexpr const char* kDirs[] = {"logs", "pcap", "zep", "radio"};

 private:
  std::string stateDir_;
};

// The cluster this worker's records belong to, kept in <stateDir>/cluster-id ("" if none yet).
std::string storedClusterId(const std::string& stateDir);
VoidResult storeClusterId(const std::string& stateDir, const std::string& id);

}  // namespace kuiga::worker
