#include "plexer/uplink/ue_mux.hpp"

#include <algorithm>
#include <cassert>

namespace kuiga::plexer {

UeMux::UeMux(UeConfig config, std::function<void(const LeaseEvent&)> onLease)
    : config_(config),
      onLease_(std::move(onLease)),
      holder_(config.ues, kNone),
      lastActive_(config.ues, 0),
      prev_(config.ues, kNone),
      next_(config.ues, kNone) {
  assert(config.ues > 0);
  free_.reserve(config.ues);
  for (uint32_t k = config.ues; k-- > 0;) free_.push_back(k);
}

void UeMux::unlink(uint32_t ue) {
  if (prev_[ue] != kNone)
    next_[prev_[ue]] = next_[ue];
  else
    head_ = next_[ue];
  if (next_[ue] != kNone)
    prev_[next_[ue]] = prev_[ue];
  else
    tail_ = prev_[ue];
  prev_[ue] = next_[ue] = kNone;
}

void UeMux::pushBack(uint32_t ue) {
  prev_[ue] = tail_;
  next_[ue] = kNone;
  if (tail_ != kNone)
    next_[tail_] = ue;
  else
    head_ = ue;
  tail_ = ue;
}

uint32_t UeMux::grant(uint32_t device, int64_t now) {
  assert(!free_.empty());
  uint32_t ue = free_.back();
  free_.pop_back();
  holder_[ue] = device;
  lastActive_[ue] = now;
  pushBack(ue);
  leaseOf_[device] = ue;
  ++counters_.grants;
  counters_.leases = config_.ues - static_cast<uint32_t>(free_.size());
  counters_.maxLeases = std::max(counters_.maxLeases, counters_.leases);
  if (onLease_) onLease_({true, ue, device, now});
  return ue;
}

void UeMux::release(uint32_t ue, int64_t now) {
  uint32_t device = holder_[ue];
  unlink(ue);
  holder_[ue] = kNone;
  leaseOf_.erase(device);
  free_.push_back(ue);
  ++counters_.releases;
  counters_.leases = config_.ues - static_cast<uint32_t>(free_.size());
  if (onLease_) onLease_({false, ue, device, now});
}

void UeMux::touch(uint32_t ue, int64_t now) {
  if (ue >= holder_.size() || holder_[ue] == kNone) return;
  lastActive_[ue] = now;
  unlink(ue);
  pushBack(ue);
}

UeMux::Offer UeMux::offer(uint32_t device, std::span<const uint8_t> frame, int64_t now) {
  if (auto it = leaseOf_.find(device); it != leaseOf_.end()) {
    touch(it->second, now);
    return {Outcome::Send, it->second};
  }
  // A device may take a free UE only when nobody waits: the queue is served in order.
  if (!free_.empty() && queue_.empty()) return {Outcome::Send, grant(device, now)};
  if (config_.policy == UePolicy::Drop) {
    ++counters_.droppedNoUe;
    return {Outcome::DroppedNoUe};
  }
  if (queue_.size() >= config_.queueFrames) {
    ++counters_.droppedQueueFull;
    return {Outcome::DroppedQueueFull};
  }
  queue_.push_back({device, std::vector<uint8_t>(frame.begin(), frame.end())});
  ++counters_.queuedFrames;
  counters_.queueDepth = static_cast<uint32_t>(queue_.size());
  return {Outcome::Queued};
}

std::vector<UeMux::Ready> UeMux::advance(int64_t now) {
  while (head_ != kNone && now - lastActive_[head_] >= config_.idleTimeoutNs) release(head_, now);
  std::vector<Ready> out;
  while (!queue_.empty()) {
    auto& w = queue_.front();
    uint32_t ue;
    if (auto it = leaseOf_.find(w.device); it != leaseOf_.end()) {
      ue = it->second;
      touch(ue, now);
    } else if (!free_.empty()) {
      ue = grant(w.device, now);
    } else {
      break;
    }
    out.push_back({w.device, ue, std::move(w.frame)});
    queue_.pop_front();
  }
  counters_.queueDepth = static_cast<uint32_t>(queue_.size());
  return out;
}

std::optional<int64_t> UeMux::nextDeadline() const {
  if (head_ == kNone) return std::nullopt;
  return lastActive_[head_] + config_.idleTimeoutNs;
}

std::optional<uint32_t> UeMux::holder(uint32_t ue) const {
  if (ue >= holder_.size() || holder_[ue] == kNone) return std::nullopt;
  return holder_[ue];
}

std::optional<uint32_t> UeMux::leaseOf(uint32_t device) const {
  auto it = leaseOf_.find(device);
  if (it == leaseOf_.end()) return std::nullopt;
  return it->second;
}

}  // namespace kuiga::plexer
