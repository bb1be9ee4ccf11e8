#pragma once
// `kuiga bench wakeups`: the machine's floor for the instances benchmark's jitter and CPU per
// wakeup. N copies of the periodic AUT wake on the instances benchmark's schedule (the same
// START_MS, period and spread), as bare processes of the benchmark, each in a session of its
// own (as each isolated instance's init is: a scheduler autogroup each) and writing straight to
// a file of its own: no namespace, init, cgroup or log relay of Kuiga's. What these copies' jitter
// and CPU per wakeup come to is what the kernel and the machine give N processes that wake;
// what `kuiga bench instances` measures beyond it is Kuiga's.
//
// With `netns`, each copy is also in a network namespace of its own, and nothing else. An
// isolated instance's devices each hold one, and some machines pay for each network namespace
// that a process holds (the VM this was measured on runs an agent whose CPU grows with their
// number, docs/performance.md): this tells that cost apart from Kuiga's.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "bench/instances_bench.hpp"
#include "common/result.hpp"

namespace kuiga::bench {

struct WakeupBenchOptions {
  uint32_t count = 1000;
  std::string app;  // the periodic AUT: START_MS PERIOD_MS
  uint32_t periodMs = 1000;
  uint32_t spreadMs = 0;  // start times spread evenly over this many ms
  double durationS = 10;  // running time after the last start time
  bool netns = false;     // each copy in a network namespace of its own
};

Result<nlohmann::json> runWakeupBench(const WakeupBenchOptions& opts, const BenchLog& log);

}  // namespace kuiga::bench
