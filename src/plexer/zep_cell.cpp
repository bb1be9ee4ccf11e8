#include "plexer/zep_cell.hpp"

namespace kuiga::plexer {

ZepCell::ZepCell(Topology topology, ZepCellConfig config)
    : topology_(std::move(topology)),
      channel_(MediumConfig{
          .rateBps = config.rateBps, .queueFrames = config.channelQueue, .seed = config.seed}),
      rng_(config.seed),
      nodes_(topology_.nodes()) {}

ZepCell::Outcome ZepCell::send(uint32_t from, size_t psduBytes, int64_t now) {
  Outcome out;
  if (from >= nodes_.size()) return out;
  auto& me = nodes_[from];
  // The PHY's preamble, SFD and length byte take airtime too (6 bytes).
  auto d = channel_.transmit(from, psduBytes + 6, now);
  if (d.verdict != Medium::Verdict::Deliver) {
    ++me.droppedChannel;
    return out;
  }
  ++me.sent;
  out.onAir = true;
  out.deliverAtNs = d.deliverAtNs;
  bool anyLink = false;
  // One draw per link that is neither certain nor absent, in the order of the receivers.
  topology_.forEachLink(from, [&](const Topology::Link& l) {
    anyLink = true;
    if (l.probability < 1 && rng_.uniform() >= l.probability) {
      ++me.lostOnLinks;
      return;
    }
    out.receivers.push_back(l.to);
    ++nodes_[l.to].received;
  });
  if (!anyLink) ++me.noListener;
  return out;
}

}  // namespace kuiga::plexer
