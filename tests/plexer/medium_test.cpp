#include "plexer/uplink/medium.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace kuiga::plexer {
namespace {

constexpr int64_t kMs = 1'000'000;

TEST(Medium, WithoutShapingDeliversAtOnce) {
  Medium m({});
  auto d = m.transmit(1, 1500, 5 * kMs);
  EXPECT_EQ(d.verdict, Medium::Verdict::Deliver);
  EXPECT_EQ(d.deliverAtNs, 5 * kMs);
  EXPECT_EQ(m.counters().frames, 1u);
}

TEST(Medium, FramesTakeAirtimeOneAtATimeThenTheDelay) {
  // 1 Mbit/s: 125 bytes take 1 ms.
  Medium m({.rateBps = 1'000'000, .delayNs = 3 * kMs});
  EXPECT_EQ(m.transmit(1, 125, 0).deliverAtNs, 1 * kMs + 3 * kMs);
  // The medium is busy until 1 ms: the second frame waits for it.
  EXPECT_EQ(m.transmit(2, 250, 0).deliverAtNs, 3 * kMs + 3 * kMs);
  // Idle again later: no waiting.
  EXPECT_EQ(m.transmit(1, 125, 10 * kMs).deliverAtNs, 11 * kMs + 3 * kMs);
  EXPECT_EQ(m.counters().airtimeNs, 4 * kMs);
}

TEST(Medium, BoundsTheFramesWaitingForTheAir) {
  Medium m({.rateBps = 8'000, .queueFrames = 2});                      // 1 byte per ms
  m.transmit(1, 100, 0);                                               // on the air at once
  EXPECT_EQ(m.transmit(1, 100, 0).verdict, Medium::Verdict::Deliver);  // waits (1)
  EXPECT_EQ(m.transmit(1, 100, 0).verdict, Medium::Verdict::Deliver);  // waits (2)
  EXPECT_EQ(m.transmit(1, 100, 0).verdict, Medium::Verdict::QueueFull);
  // At 100 ms the first waiting frame is on the air: room for one more.
  EXPECT_EQ(m.transmit(1, 100, 100 * kMs).verdict, Medium::Verdict::Deliver);
  EXPECT_EQ(m.counters().droppedQueueFull, 1u);
}

// An ACK after its frame: the medium stays busy for it, and the frames waiting still count
// against the bound (charging it as a frame sent "at its end" once emptied the queue's count,
// so a channel at twice its capacity dropped nothing).
TEST(Medium, AnExtensionHoldsTheAirButLeavesTheQueueAsItWas) {
  Medium m({.rateBps = 8'000, .queueFrames = 2});  // 1 byte per ms
  auto first = m.transmit(1, 100, 0);
  m.extend(10, first.deliverAtNs);
  EXPECT_EQ(m.transmit(2, 100, 0).deliverAtNs, 210 * kMs);  // after the frame and its 10 ms
  m.extend(10, 210 * kMs);
  EXPECT_EQ(m.transmit(3, 100, 0).deliverAtNs, 320 * kMs);  // waits (2)
  EXPECT_EQ(m.transmit(4, 100, 0).verdict, Medium::Verdict::QueueFull);
  EXPECT_EQ(m.counters().airtimeNs, 320 * kMs);
}

TEST(Medium, CapsTheDevicesActiveAtOnce) {
  Medium m({.activeCap = 2, .activeWindowNs = 100 * kMs});
  EXPECT_EQ(m.transmit(1, 10, 0).verdict, Medium::Verdict::Deliver);
  EXPECT_EQ(m.transmit(2, 10, 10 * kMs).verdict, Medium::Verdict::Deliver);
  EXPECT_EQ(m.transmit(3, 10, 20 * kMs).verdict, Medium::Verdict::ActiveCap);
  EXPECT_EQ(m.transmit(1, 10, 50 * kMs).verdict, Medium::Verdict::Deliver);  // still active
  EXPECT_EQ(m.activeDevices(), 2u);
  // Device 2 goes quiet at 110 ms; device 3 may go.
  EXPECT_EQ(m.transmit(3, 10, 110 * kMs).verdict, Medium::Verdict::Deliver);
  EXPECT_EQ(m.counters().droppedActiveCap, 1u);
}

std::vector<bool> lossPattern(uint64_t seed, double loss, int n) {
  Medium m({.loss = loss, .seed = seed});
  std::vector<bool> lost;
  for (int i = 0; i < n; ++i)
    lost.push_back(m.transmit(static_cast<uint32_t>(i % 50), 100, i).verdict ==
                   Medium::Verdict::Loss);
  return lost;
}

TEST(Medium, TheSameSeedGivesTheSameDropsAndTheRateHoldsWithinTolerance) {
  constexpr int n = 100'000;
  auto a = lossPattern(42, 0.1, n), b = lossPattern(42, 0.1, n), c = lossPattern(43, 0.1, n);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (double p : {0.01, 0.1, 0.5}) {
    auto lost = lossPattern(7, p, n);
    double k = static_cast<double>(std::count(lost.begin(), lost.end(), true));
    // Binomial: within 5 standard deviations of n*p (a false alarm once in ~3.5 million).
    double sd = std::sqrt(n * p * (1 - p));
    EXPECT_NEAR(k, n * p, 5 * sd) << "loss " << p;
  }
  auto none = lossPattern(7, 0, 1000), all = lossPattern(7, 1, 1000);
  EXPECT_EQ(std::count(none.begin(), none.end(), true), 0);
  EXPECT_EQ(std::count(all.begin(), all.end(), true), 1000);
}

TEST(Medium, ThroughputMatchesTheBitRate) {
  // Offered far above the rate, the medium delivers at its rate: 250 kbit/s of 100-byte
  // frames is 312.5 frames/s.
  Medium m({.rateBps = 250'000, .queueFrames = 1'000'000});
  int64_t last = 0;
  for (int i = 0; i < 3125; ++i) last = m.transmit(1, 100, 0).deliverAtNs;
  EXPECT_EQ(last, 10'000 * kMs);
}

}  // namespace
}  // namespace kuiga::plexer
