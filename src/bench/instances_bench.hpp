#pragma once
// `kuiga bench instances` and `kuiga demo`: create N instances of a periodic AUT, start them,
// let them run, stop and remove them, and measure every step (issue: "the ns runtime").
#include <sys/types.h>

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "worker/instance.hpp"

namespace kuiga::bench {

struct InstancesBenchOptions {
  uint32_t count = 100;
  std::string app;  // the periodic AUT, or any program taking the arguments START_MS PERIOD_MS
  NetMode net = NetMode::Veth;
  Isolation isolation = Isolation::Instance;
  uint32_t groupSize = kDefaultGroupSize;
  uint32_t periodMs = 1000;
  uint32_t spreadMs = 0;  // start times spread evenly over this many ms
  double durationS = 10;  // running time after the (last) start time
  std::string stateDir;   // empty: a fresh directory under /tmp, removed afterwards
  std::string name;       // worker name; empty: "bench<pid>"
  std::string initPath;
  std::string runtime = "ns";  // or "docker"
  std::string dockerSocket = "/var/run/docker.sock";
  std::string gatePath;  // kuiga-gate, for docker
  unsigned threads = 0;
  RunId run = 1;
  Limits limits;
  uint64_t memoryLimitMiB = 0;  // sets limits.memoryBytes
  // Measure the kernel's floor first (ns runtime): floor_kib and above_floor_kib. It adds
  // a minute or two at 10,000, making the copies and waiting for the kernel to free them.
  bool floor = true;
  // Copies of each of the floor's pieces; 0: as many as --count, and at least 300.
  size_t floorCopies = 0;
  // Isolated inits cloned by the worker's zygote (NsRuntimeConfig::zygote); false: each
  // pivots into the skeleton itself, to compare the two on one machine.
  bool zygote = true;
};

// Receives human-readable progress ("created 1000/1000 in 3.2 s").
using BenchLog = std::function<void(const std::string&)>;

// Where a benchmark keeps its state (`stateDir`, or a fresh /tmp/kuiga-NAME that `temporary`
// says to remove afterwards) and its runnable image: a directory holding only the AUT, shown
// at /app.
// A temporary state directory goes with the object, on every way out of a benchmark, its
// failures included.
struct BenchDirs {
  std::string stateDir, appDir, executable;
  bool temporary = false;

  BenchDirs() = default;
  BenchDirs(BenchDirs&& o) noexcept;
  BenchDirs& operator=(BenchDirs&&) = delete;
  BenchDirs(const BenchDirs&) = delete;
  BenchDirs& operator=(const BenchDirs&) = delete;
  ~BenchDirs();
};
Result<BenchDirs> prepareBenchDirs(const std::string& app, const std::string& stateDir,
                                   const std::string& name);

Result<nlohmann::json> runInstancesBench(const InstancesBenchOptions& opts, const BenchLog& log);

}  // namespace kuiga::bench
