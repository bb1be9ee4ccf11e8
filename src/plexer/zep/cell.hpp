#pragma once
// The ZEP dispatcher's decisions for one run's 802.15.4 radio, apart from sockets and clocks:
// a frame from a node takes its airtime on the one shared channel at 250 kbit/s (a sender
// waits while another frame is on the air, and is dropped when too many wait), then reaches
// each node the topology links it to with that link's probability. Each link draws from its
// own stream (a splitmix64 seeded from the run's seed and the link's two ends), so the n-th
// frame on a link meets the same draw whatever other nodes sent in between: the same seed,
// topology and traffic give the same deliveries, however the senders' frames happened to
// interleave on the host's clock. A frame that asks
// for an ACK is acknowledged when the draw delivers it to its destination (the ACK then takes
// its airtime after the frame); a lost frame is not, so its sender retransmits as over the air.
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "plexer/splitmix.hpp"
#include "plexer/uplink/medium.hpp"
#include "plexer/zep/topology.hpp"

namespace kuiga::plexer {

struct ZepCellConfig {
  uint64_t rateBps = 250'000;  // IEEE 802.15.4 O-QPSK, 2.4 GHz
  uint32_t channelQueue = 64;  // frames waiting for the channel at most
  uint64_t seed = 0;
};

struct ZepNodeCounters {
  uint64_t sent = 0;             // frames the node put on the air
  uint64_t received = 0;         // copies delivered to it
  uint64_t droppedChannel = 0;   // its frames dropped: too many waiting for the channel
  uint64_t lostOnLinks = 0;      // copies of its frames that a link's draw lost
  uint64_t noListener = 0;       // its frames no link led from (nobody in range)
  uint64_t acks = 0;             // its frames acknowledged by their destination
  uint64_t retransmissions = 0;  // its frames repeating its last sequence number in the window
};

// A frame as the cell weighs it.
struct ZepFrame {
  size_t psduBytes = 0;
  // The MAC sequence number of a data or command frame: a repeat within kRetryWindowNs of the
  // sender's last one is a retransmission.
  std::optional<uint8_t> sequence = std::nullopt;
  // The node the frame asks an ACK of (AR set, unicast to a known device), if any.
  std::optional<uint32_t> ackFrom = std::nullopt;
};

class ZepCell {
 public:
  ZepCell(Topology topology, ZepCellConfig config);

  // A MAC retries after its ACK wait (864 us) and a CSMA backoff (at most 31 periods of 320 us
  // at each of up to 5 attempts): well within 100 ms, in which one sender cannot put 256
  // frames on the air (the sequence number's wrap).
  static constexpr int64_t kRetryWindowNs = 100'000'000;

  struct Outcome {
    bool onAir = false;       // false: dropped waiting for the channel
    int64_t deliverAtNs = 0;  // when the copies arrive (the frame's end on the air)
    std::vector<uint32_t> receivers;
    bool acked = false;  // frame.ackFrom received it: its ACK follows on the air
  };
  // A frame from node `from` at `now`.
  Outcome send(uint32_t from, const ZepFrame& frame, int64_t nowNs);
  Outcome send(uint32_t from, size_t psduBytes, int64_t nowNs) {
    return send(from, ZepFrame{.psduBytes = psduBytes}, nowNs);
  }

  [[nodiscard]] const Topology& topology() const { return topology_; }
  [[nodiscard]] const ZepNodeCounters& counters(uint32_t node) const { return nodes_.at(node); }
  [[nodiscard]] int64_t airtimeNs() const { return channel_.counters().airtimeNs; }

 private:
  Topology topology_;
  Medium channel_;
  uint64_t seed_;
  // The stream of each lossy link (by from << 32 | to) that has carried a frame.
  std::unordered_map<uint64_t, SplitMix64> draws_;
  bool delivers(uint32_t from, const Topology::Link& link);
  std::vector<ZepNodeCounters> nodes_;
  struct LastFrame {
    int64_t at = 0;
    int sequence = -1;
  };
  std::vector<LastFrame> last_;
};

}  // namespace kuiga::plexer
