#include "worker/instance.hpp"

#include <gtest/gtest.h>

namespace kuiga::worker {

using S = InstanceState;

TEST(InstanceState, NamesRoundTrip) {
  for (size_t i = 0; i < kInstanceStateCount; ++i) {
    auto s = static_cast<S>(i);
    EXPECT_EQ(parseInstanceState(toString(s)).value(), s);
  }
  EXPECT_EQ(toString(S::ShuttingDown), "shutting_down");
  EXPECT_FALSE(parseInstanceState("runnin"));
}

TEST(InstanceState, LifeCycleOfTheReport) {
  EXPECT_TRUE(canTransition(S::Pending, S::Prolog));
  EXPECT_TRUE(canTransition(S::Prolog, S::Booting));
  EXPECT_TRUE(canTransition(S::Booting, S::Running));
  EXPECT_TRUE(canTransition(S::Running, S::ShuttingDown));
  EXPECT_TRUE(canTransition(S::ShuttingDown, S::Terminated));
  EXPECT_TRUE(canTransition(S::Running, S::Terminated)) << "the AUT may end by itself";
  for (S from : {S::Pending, S::Prolog, S::Booting, S::Running, S::ShuttingDown})
    EXPECT_TRUE(canTransition(from, S::Failed));
  // No way back, nothing after the end.
  EXPECT_FALSE(canTransition(S::Running, S::Booting));
  EXPECT_FALSE(canTransition(S::Pending, S::Running));
  EXPECT_FALSE(canTransition(S::Terminated, S::Running));
  EXPECT_FALSE(canTransition(S::Failed, S::Terminated));
  EXPECT_TRUE(isFinal(S::Failed));
  EXPECT_FALSE(isFinal(S::ShuttingDown));
}

TEST(NetMode, Parse) {
  EXPECT_EQ(parseNetMode("tap").value(), NetMode::Tap);
  auto bad = parseNetMode("wifi");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("wifi"), std::string::npos);
}

}  // namespace kuiga::worker
