#pragma once
// `kuiga bench master`: what a `kuiga master` process holds for a run's records, at sizes past
// one machine's (50,000 devices by default), with hollow workers (bench/hollow_runtime.hpp) in
// this process: the master's resident and proportional memory idle, with the run ready and
// running, and after it is deleted, and how long each step took.
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace kuiga::bench {

struct MasterBenchOptions {
  uint32_t count = 50000;
  uint32_t workers = 5;
  uint32_t runs = 2;     // one after the other: what stays after a delete must not grow
  std::string app;       // an AUT to upload (the periodic example)
  std::string initPath;  // unused: hollow workers run nothing
};

Result<nlohmann::json> runMasterBench(const MasterBenchOptions& o,
                                      const std::function<void(const std::string&)>& log);

}  // namespace kuiga::bench
