#pragma once
// `kuiga bench api`: the time from POST /api/v1/runs to every instance running, through the
// whole stack (REST API, master, SQLite, gRPC, worker agent, ns runtime) in one process, as
// `kuiga up` runs it. Compare with `kuiga bench instances`, the runtime alone. With
// --slow-clients and --sse it also measures how ordinary requests fare while a crowd of slow
// clients and event streams is held.
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
  // While the run runs: slow clients and event streams held against the master, and the
  // latency of ordinary requests meanwhile (api_load.hpp). Nothing held when both are 0.
  unsigned slowClients = 0;
  unsigned sse = 0;
  double holdS = 10;
  // A master that is already up (with a worker of room), instead of one in this process, and
  // a token for it (else the client config's, as the CLI finds it).
  std::string masterUrl;
  std::string token;
};

Result<nlohmann::json> runApiBench(const ApiBenchOptions& opts,
                                   const std::function<void(const std::string&)>& log);

}  // namespace kuiga::bench
