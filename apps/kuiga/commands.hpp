#pragma once
// The subcommands of `kuiga`. Each returns the process exit code.
#include <string>
#include <vector>

#include "bench/api_bench.hpp"
#include "bench/instances_bench.hpp"
#include "bench/master_bench.hpp"
#include "bench/plexer_bench.hpp"
#include "bench/seccomp_bench.hpp"
#include "bench/wakeup_bench.hpp"
#include "bench/zep_bench.hpp"

namespace kuiga::app {

struct WorkerRunOptions {
  std::string stateDir = "./kuiga-data/worker";
  std::string name = "local";
  std::string app;
  std::vector<std::string> args;
  uint32_t count = 1;
  std::string net = "veth";
  std::string isolation = "instance";
  uint32_t groupSize = kDefaultGroupSize;
  RunId run = 1;
  int64_t startInMs = 2000;
};

std::string defaultInitPath();
// kuiga-gate, the entrypoint of docker instances, next to the kuiga binary.
std::string defaultGatePath();
std::string defaultExample(const std::string& name);

int runDemo(bench::InstancesBenchOptions opts);
int runBench(const bench::InstancesBenchOptions& opts, bool json);
int runApiBench(bench::ApiBenchOptions opts, bool json);
int runPlexerBench(bench::PlexerBenchOptions opts, bool json);
int runMasterBench(bench::MasterBenchOptions opts, bool json);
// Two malloc arenas unless MALLOC_ARENA_MAX says otherwise (docs/performance.md).
void limitAllocatorArenas();
int runZepBench(bench::ZepBenchOptions opts, bool json);
int runSeccompBench(const bench::SeccompBenchOptions& opts, bool json);
int runWakeupBench(bench::WakeupBenchOptions opts, bool json);
int runWorker(const WorkerRunOptions& opts);
int recoverWorker(const std::string& stateDir, const std::string& name, bool destroy);

}  // namespace kuiga::app
