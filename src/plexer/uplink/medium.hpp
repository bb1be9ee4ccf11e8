#pragma once
// The shared radio medium between the devices and their UEs, simulated on the Plexer's
// forwarding path (no netem needed, which this kernel and many users' lack): every frame takes
// airtime at the medium's bit rate, one frame at a time; it may be lost; it arrives after a
// fixed delay; and only so many devices may be active at once. Drop decisions come from a
// seeded generator, so the same seed and the same traffic give the same decisions. Time is
// passed in, so tests drive it by hand.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <unordered_map>

#include "plexer/splitmix.hpp"
#include "spec/radio.hpp"

namespace kuiga::plexer {

struct MediumCounters {
  uint64_t frames = 0, bytes = 0;  // delivered
  uint64_t droppedLoss = 0, droppedActiveCap = 0, droppedQueueFull = 0;
  int64_t airtimeNs = 0;  // sum of airtime given to frames
};

class Medium {
 public:
  explicit Medium(MediumConfig config);

  enum class Verdict : uint8_t { Deliver, Loss, ActiveCap, QueueFull };
  struct Decision {
    Verdict verdict;
    int64_t deliverAtNs = 0;  // for Deliver
  };
  // A frame of `bytes` for or from `device`, offered at `now`.
  Decision transmit(uint32_t device, size_t bytes, int64_t nowNs);
  // Holds the medium `bytes` longer from `atNs` on (or from when it is free, if later): what
  // follows a frame within its own exchange, as an 802.15.4 ACK does. It neither waits in the
  // queue nor is drawn for loss; the frames after it start later.
  void extend(size_t bytes, int64_t atNs);

  [[nodiscard]] const MediumCounters& counters() const { return counters_; }
  [[nodiscard]] const MediumConfig& config() const { return config_; }
  [[nodiscard]] uint32_t activeDevices() const { return static_cast<uint32_t>(active_.size()); }

 private:
  void expireActive(int64_t now);

  MediumConfig config_;
  SplitMix64 rng_;
  int64_t busyUntil_ = 0;
  std::deque<int64_t> waiting_;  // start times of frames not yet on the air
  // Active devices, least recently active first.
  std::list<std::pair<uint32_t, int64_t>> byActivity_;
  std::unordered_map<uint32_t, std::list<std::pair<uint32_t, int64_t>>::iterator> active_;
  MediumCounters counters_;
};

}  // namespace kuiga::plexer
