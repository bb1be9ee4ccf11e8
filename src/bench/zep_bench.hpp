#pragma once
// `kuiga bench zep`: N zep-node instances on the ns runtime each send R IEEE 802.15.4 frames a
// second over ZEP to the Plexer's dispatcher, on a random geometric topology; what the nodes
// said they sent against what the dispatcher took, put on the air, dropped and delivered,
// and the dispatcher thread's CPU. With --unicast, each node sends to one neighbour and asks
// for ACKs, as RIOT's SubMAC does: acknowledged frames, retransmissions and frames given up.
#include <string>

#include <nlohmann/json.hpp>

#include "bench/instances_bench.hpp"

namespace kuiga::bench {

struct ZepBenchOptions {
  // Worker hosts the nodes are spread over (network namespaces on one underlay); the
  // dispatcher is on the first.
  unsigned workers = 1;
  uint32_t nodes = 1000;
  double rate = 0.5;      // frames per second per node
  double durationS = 20;  // sending time of each node
  double radius = 0.1;    // of the random geometric topology (unit square)
  uint32_t payloadBytes = 20;
  uint32_t channelQueue = 64;  // frames waiting for the channel at most
  bool unicast = false;        // each node to its first neighbour, with the ACK request bit
  bool hello = false;          // each node says hello first (socket_zep_hello)
  std::string acks = "dispatcher";
  std::string isolation = "instance";  // or "group": groupSize nodes share one veth link
  uint32_t groupSize = 1000;
  std::string app;  // zep-node
  std::string initPath;
  std::string stateDir;  // empty: a fresh directory under /tmp, removed afterwards
  std::string name;
  unsigned threads = 0;
};

Result<nlohmann::json> runZepBench(const ZepBenchOptions& opts, const BenchLog& log);

}  // namespace kuiga::bench
