#include "plexer/uplink/ue_mux.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace kuiga::plexer {
namespace {

constexpr int64_t kMs = 1'000'000;

// A fake clock: the tests say what time it is.
struct Harness {
  UeConfig config;
  std::vector<LeaseEvent> log;
  UeMux mux;
  explicit Harness(UeConfig c)
      : config(c), mux(c, [this](const LeaseEvent& e) { log.push_back(e); }) {}
  UeMux::Offer send(uint32_t device, int64_t t, uint8_t tag = 0) {
    std::vector<uint8_t> frame = {tag};
    return mux.offer(device, frame, t);
  }
};

TEST(UeMux, GrantsKeepsAndReleasesAfterTheIdleTimeout) {
  Harness h({.ues = 2, .idleTimeoutNs = 100 * kMs});
  auto a = h.send(10, 0);
  EXPECT_EQ(a.outcome, UeMux::Outcome::Send);
  EXPECT_EQ(a.ue, 0u);
  EXPECT_EQ(h.send(11, 1 * kMs).ue, 1u);
  EXPECT_EQ(h.send(10, 50 * kMs).ue, 0u);  // keeps its lease while active
  EXPECT_EQ(h.mux.counters().grants, 2u);
  EXPECT_EQ(h.mux.nextDeadline(), 101 * kMs);  // device 11 idles out first
  EXPECT_TRUE(h.mux.advance(100 * kMs).empty());
  EXPECT_EQ(h.mux.counters().releases, 0u);
  h.mux.advance(101 * kMs);
  EXPECT_EQ(h.mux.counters().releases, 1u);
  EXPECT_FALSE(h.mux.holder(1));
  EXPECT_EQ(h.mux.holder(0), 10u);
  h.mux.advance(150 * kMs);
  EXPECT_EQ(h.mux.counters().leases, 0u);
  EXPECT_FALSE(h.mux.nextDeadline());
  ASSERT_EQ(h.log.size(), 4u);
  EXPECT_TRUE(h.log[0].granted);
  EXPECT_EQ(h.log[2].device, 11u);
  EXPECT_FALSE(h.log[2].granted);
  EXPECT_EQ(h.log[2].timeNs, 101 * kMs);
}

TEST(UeMux, ReturnTrafficKeepsTheLeaseAlive) {
  Harness h({.ues = 1, .idleTimeoutNs = 100 * kMs});
  h.send(3, 0);
  h.mux.touch(0, 90 * kMs);
  h.mux.advance(150 * kMs);
  EXPECT_EQ(h.mux.holder(0), 3u);
  h.mux.advance(190 * kMs);
  EXPECT_FALSE(h.mux.holder(0));
}

TEST(UeMux, QueuesWhileAllUesAreTakenAndServesInArrivalOrder) {
  Harness h({.ues = 1, .idleTimeoutNs = 100 * kMs, .policy = UePolicy::Queue, .queueFrames = 3});
  h.send(1, 0, 'a');
  EXPECT_EQ(h.send(2, 10 * kMs, 'b').outcome, UeMux::Outcome::Queued);
  EXPECT_EQ(h.send(3, 20 * kMs, 'c').outcome, UeMux::Outcome::Queued);
  EXPECT_EQ(h.send(2, 30 * kMs, 'd').outcome, UeMux::Outcome::Queued);
  EXPECT_EQ(h.send(3, 40 * kMs, 'e').outcome, UeMux::Outcome::DroppedQueueFull);
  EXPECT_EQ(h.mux.counters().queueDepth, 3u);
  // Device 1 keeps sending: it holds the UE and passes the queue.
  EXPECT_EQ(h.send(1, 50 * kMs).outcome, UeMux::Outcome::Send);
  EXPECT_TRUE(h.mux.advance(149 * kMs).empty());
  // Device 1 idles out at 150 ms; device 2 gets the UE and both its frames go, in order;
  // device 3 waits on.
  auto ready = h.mux.advance(150 * kMs);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].device, 2u);
  EXPECT_EQ(ready[0].frame, std::vector<uint8_t>{'b'});
  EXPECT_EQ(h.mux.counters().queueDepth, 2u);  // 'c' of device 3 blocks the head
  // A free UE is not taken past waiting devices.
  EXPECT_EQ(h.send(4, 160 * kMs).outcome, UeMux::Outcome::Queued);
  // Device 2 idles out at 250 ms; device 3's 'c' is next, and device 2's own 'd' must wait
  // behind it for a UE again.
  ready = h.mux.advance(250 * kMs);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].device, 3u);
  EXPECT_EQ(ready[0].frame, std::vector<uint8_t>{'c'});
  ready = h.mux.advance(350 * kMs);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].device, 2u);
  EXPECT_EQ(ready[0].frame, std::vector<uint8_t>{'d'});
  EXPECT_EQ(h.mux.counters().queueDepth, 1u);  // device 4
  EXPECT_EQ(h.mux.counters().droppedQueueFull, 1u);
  EXPECT_EQ(h.mux.counters().queuedFrames, 4u);
  EXPECT_EQ(h.mux.counters().grants, 4u);
}

TEST(UeMux, DropsWhenThePolicySaysSo) {
  Harness h({.ues = 2, .idleTimeoutNs = 100 * kMs, .policy = UePolicy::Drop});
  h.send(1, 0);
  h.send(2, 0);
  EXPECT_EQ(h.send(3, 1).outcome, UeMux::Outcome::DroppedNoUe);
  EXPECT_EQ(h.mux.counters().droppedNoUe, 1u);
  EXPECT_EQ(h.mux.counters().maxLeases, 2u);
  h.mux.advance(100 * kMs);
  EXPECT_EQ(h.send(3, 100 * kMs).outcome, UeMux::Outcome::Send);
}

TEST(UeMux, OneUePerDeviceNeverQueues) {
  Harness h({.ues = 1000, .idleTimeoutNs = 100 * kMs});
  for (uint32_t d = 0; d < 1000; ++d) EXPECT_EQ(h.send(d, d).outcome, UeMux::Outcome::Send);
  EXPECT_EQ(h.mux.counters().leases, 1000u);
  EXPECT_EQ(h.mux.counters().queuedFrames, 0u);
}

}  // namespace
}  // namespace kuiga::plexer
