#include "plexer/uplink/medium.hpp"

#include <algorithm>

namespace kuiga::plexer {

Medium::Medium(MediumConfig config) : config_(config), rng_(config.seed) {}

void Medium::expireActive(int64_t now) {
  while (!byActivity_.empty() && now - byActivity_.front().second >= config_.activeWindowNs) {
    active_.erase(byActivity_.front().first);
    byActivity_.pop_front();
  }
}

Medium::Decision Medium::transmit(uint32_t device, size_t bytes, int64_t now) {
  expireActive(now);
  auto it = active_.find(device);
  if (it == active_.end()) {
    if (config_.activeCap && active_.size() >= config_.activeCap) {
      ++counters_.droppedActiveCap;
      return {Verdict::ActiveCap};
    }
  } else {
    byActivity_.erase(it->second);
  }
  active_[device] = byActivity_.insert(byActivity_.end(), {device, now});

  int64_t start = now;
  if (config_.rateBps) {
    while (!waiting_.empty() && waiting_.front() <= now) waiting_.pop_front();
    if (waiting_.size() >= config_.queueFrames) {
      ++counters_.droppedQueueFull;
      return {Verdict::QueueFull};
    }
    start = std::max(now, busyUntil_);
    auto airtime =
        static_cast<int64_t>(static_cast<__int128>(bytes) * 8 * 1'000'000'000 / config_.rateBps);
    busyUntil_ = start + airtime;
    counters_.airtimeNs += airtime;
    if (start > now) waiting_.push_back(start);
  }
  // One draw per frame that went on the air: the same seed and traffic give the same losses.
  if (config_.loss > 0 && rng_.uniform() < config_.loss) {
    ++counters_.droppedLoss;
    return {Verdict::Loss};
  }
  ++counters_.frames;
  counters_.bytes += bytes;
  return {Verdict::Deliver, (config_.rateBps ? busyUntil_ : now) + config_.delayNs};
}

void Medium::extend(size_t bytes, int64_t at) {
  if (!config_.rateBps) return;
  auto airtime =
      static_cast<int64_t>(static_cast<__int128>(bytes) * 8 * 1'000'000'000 / config_.rateBps);
  busyUntil_ = std::max(at, busyUntil_) + airtime;
  counters_.airtimeNs += airtime;
}

}  // namespace kuiga::plexer
