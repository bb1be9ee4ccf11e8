#pragma once
// `kuiga bench plexer`: the report's load test of the Plexer's capture (section 5.2.2, never
// run in 2016). N sender instances on the ns runtime each send R frames/s for a fixed time;
// the Plexer captures the radio network; the kernel's count of what each sender's port
// received is what was sent, and sent minus captured is missed (Equation 5.2).
#include <string>

#include <nlohmann/json.hpp>

#include "bench/instances_bench.hpp"

namespace kuiga::bench {

struct PlexerBenchOptions {
  // Worker hosts (network namespaces on one underlay) the senders are spread over: the run is
  // one radio network over them, its gateway on the first.
  unsigned workers = 1;
  uint32_t senders = 100;
  double rate = 5;            // frames per second per sender
  uint32_t frameBytes = 128;  // Ethernet frame size, headers included
  double durationS = 10;      // sending time of each sender
  std::string app;            // udp-sensor (its `flood` mode)
  std::string initPath;
  std::string stateDir;  // empty: a fresh directory under /tmp, removed afterwards
  std::string name;
  unsigned threads = 0;
};

Result<nlohmann::json> runPlexerBench(const PlexerBenchOptions& opts, const BenchLog& log);

}  // namespace kuiga::bench
