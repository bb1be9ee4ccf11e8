#pragma once
// Multiplexes a run's devices onto K UE endpoints (report, section 8.2): a device that sends
// gets a UE lease, keeps it while it is active, and gives it back after an idle timeout. While
// every UE is taken, its frames wait in one bounded FIFO queue or are dropped, per policy.
// Time is passed in (nanoseconds on any monotonic clock), so tests drive it by hand.
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "spec/radio.hpp"

namespace kuiga::plexer {

struct UeCounters {
  uint64_t grants = 0, releases = 0;
  uint64_t queuedFrames = 0;      // frames that had to wait for a UE
  uint64_t droppedNoUe = 0;       // policy drop: no UE was free
  uint64_t droppedQueueFull = 0;  // policy queue: the queue was full
  uint32_t leases = 0;            // held now
  uint32_t maxLeases = 0;         // most held at once
  uint32_t queueDepth = 0;        // frames waiting now
};

struct LeaseEvent {
  bool granted = true;  // else released
  uint32_t ue = 0;
  uint32_t device = 0;
  int64_t timeNs = 0;
};

class UeMux {
 public:
  // `onLease` hears every grant and release (for the lease log); may be empty.
  explicit UeMux(UeConfig config, std::function<void(const LeaseEvent&)> onLease = {});

  enum class Outcome : uint8_t { Send, Queued, DroppedNoUe, DroppedQueueFull };
  struct Offer {
    Outcome outcome;
    uint32_t ue = 0;  // for Send
  };
  // A frame from `device`: send it now on `ue`, or it was queued (copied) or dropped.
  Offer offer(uint32_t device, std::span<const uint8_t> frame, int64_t nowNs);

  // Releases leases idle for the timeout, grants freed UEs to waiting devices in arrival order
  // and returns the frames that may go now.
  struct Ready {
    uint32_t device, ue;
    std::vector<uint8_t> frame;
  };
  std::vector<Ready> advance(int64_t nowNs);
  // When advance() next has something to do (a lease to expire); nullopt when idle.
  [[nodiscard]] std::optional<int64_t> nextDeadline() const;

  // The device holding `ue`, if any; return traffic keeps the lease alive (touch).
  [[nodiscard]] std::optional<uint32_t> holder(uint32_t ue) const;
  void touch(uint32_t ue, int64_t nowNs);
  [[nodiscard]] std::optional<uint32_t> leaseOf(uint32_t device) const;

  [[nodiscard]] const UeCounters& counters() const { return counters_; }
  [[nodiscard]] const UeConfig& config() const { return config_; }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  uint32_t grant(uint32_t device, int64_t now);
  void release(uint32_t ue, int64_t now);
  // Leases in order of last activity (an intrusive list over UE indices), oldest first.
  void unlink(uint32_t ue);
  void pushBack(uint32_t ue);

  UeConfig config_;
  std::function<void(const LeaseEvent&)> onLease_;
  std::vector<uint32_t> holder_;  // device per UE, kNone when free
  std::vector<int64_t> lastActive_;
  std::vector<uint32_t> prev_, next_;
  uint32_t head_ = kNone, tail_ = kNone;
  std::vector<uint32_t> free_;                      // a stack; UE 0 is granted first
  std::unordered_map<uint32_t, uint32_t> leaseOf_;  // device -> UE
  struct Waiting {
    uint32_t device;
    std::vector<uint8_t> frame;
  };
  std::deque<Waiting> queue_;
  UeCounters counters_;
};

}  // namespace kuiga::plexer
