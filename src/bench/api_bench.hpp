#pragma once
// `kuiga bench api`: the time from POST /api/v1/runs to every instance running, through the
// whole stack (REST API, master, SQLite, gRPC, worker agent, ns runtime) in one process, as
// `kuiga up` runs it. Compare with `kuiga bench instances`, the runtime alone.
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace kuiga::bench {

struct ApiBenchOptions {
  uint32_t count = 1000;
  std::string app;       // the periodic AUT
  std::string initPath;  // kuiga-init
  std::string name;      // worker name; empty: "kbapi<pid>"
  std::string dataDir;   // empty: a fresh directory under /tmp, removed afterwards
  double runningS = 2;   // time spent running before the stop
};

Result<nlohmann::json> runApiBench(const ApiBenchOptions& opts,
                                   const std::function<void(const std::string&)>& log);

}  // namespace kuiga::bench
