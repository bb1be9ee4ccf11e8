#include "plexer/zep/cell.hpp"

#include <algorithm>

#include "plexer/zep/datagram.hpp"

namespace kuiga::plexer {

ZepCell::ZepCell(Topology topology, ZepCellConfig config)
    : topology_(std::move(topology)),
      channel_(MediumConfig{
          .rateBps = config.rateBps, .queueFrames = config.channelQueue, .seed = config.seed}),
      seed_(config.seed),
      nodes_(topology_.nodes()),
      last_(topology_.nodes()) {}

bool ZepCell::delivers(uint32_t from, const Topology::Link& link) {
  if (link.probability >= 1) return true;
  const uint64_t key = uint64_t{from} << 32 | link.to;
  auto it = draws_.find(key);
  if (it == draws_.end()) {
    // The link's stream starts from one splitmix64 step of the seed and the link: streams of
    // neighbouring links are unrelated, and a seed still names every stream.
    SplitMix64 start(seed_ ^ (key * 0x9e3779b97f4a7c15ull));
    it = draws_.emplace(key, SplitMix64(start.next())).first;
  }
  return it->second.uniform() < link.probability;
}

ZepCell::Outcome ZepCell::send(uint32_t from, const ZepFrame& frame, int64_t now) {
  Outcome out;
  if (from >= nodes_.size()) return out;
  auto& me = nodes_[from];
  if (frame.sequence) {
    auto& last = last_[from];
    if (last.sequence == *frame.sequence && now - last.at <= kRetryWindowNs) ++me.retransmissions;
    last = {now, *frame.sequence};
  }
  // The PHY's preamble, SFD and length byte take airtime too (6 bytes).
  auto d = channel_.transmit(from, frame.psduBytes + 6, now);
  if (d.verdict != Medium::Verdict::Deliver) {
    ++me.droppedChannel;
    return out;
  }
  ++me.sent;
  out.onAir = true;
  out.deliverAtNs = d.deliverAtNs;
  bool anyLink = false;
  // One draw from each link's stream that is neither certain nor absent.
  topology_.forEachLink(from, [&](const Topology::Link& l) {
    anyLink = true;
    if (!delivers(from, l)) {
      ++me.lostOnLinks;
      return;
    }
    out.receivers.push_back(l.to);
    ++nodes_[l.to].received;
  });
  if (!anyLink) ++me.noListener;
  if (frame.ackFrom && std::find(out.receivers.begin(), out.receivers.end(), *frame.ackFrom) !=
                           out.receivers.end()) {
    // The ACK holds the channel from the frame's end: the turnaround (192 us: 6 bytes' worth at
    // 250 kbit/s) and its own airtime, PHY header included.
    const auto turnaroundBytes = static_cast<size_t>(static_cast<__int128>(zep::kTurnaroundNs) *
                                                     channel_.config().rateBps / 8'000'000'000);
    channel_.extend(turnaroundBytes + zep::kImmAckBytes + 6, out.deliverAtNs);
    ++me.acks;
    out.acked = true;
  }
  return out;
}

}  // namespace kuiga::plexer
