#include "common/jitter.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace kuiga {

TEST(Jitter, LineWithAndWithoutReceiveTimestamp) {
  // Deadline 3 of start 1000000 with period 1000 is 1003000; woke 2.5 ms late.
  auto a = jitterOfLine("1003002.500 999.1 1000000 3", 1000);
  ASSERT_TRUE(a);
  EXPECT_DOUBLE_EQ(*a, 2.5);
  auto b = jitterOfLine("2026-11-27T22:33:17.123456Z 1002999.000 999.1 1000000 3", 1000);
  ASSERT_TRUE(b);
  EXPECT_DOUBLE_EQ(*b, 1.0);  // early counts too: the jitter is an absolute value
}

TEST(Jitter, OtherLinesAreIgnored) {
  for (const char* l : {"", "hello", "2026-11-27T22:33:17.123456Z hello world", "1 2 3",
                        "1 2 3 4 extra", "1 2 3 -4"})
    EXPECT_FALSE(jitterOfLine(l, 1000)) << l;
}

TEST(Jitter, NearestRankPercentiles) {
  std::vector<double> s;
  for (int i = 100; i >= 1; --i) s.push_back(i);
  auto st = summarize(s);
  EXPECT_EQ(st.samples, 100u);
  EXPECT_DOUBLE_EQ(st.min, 1);
  EXPECT_DOUBLE_EQ(st.p25, 25);
  EXPECT_DOUBLE_EQ(st.p50, 50);
  EXPECT_DOUBLE_EQ(st.p75, 75);
  EXPECT_DOUBLE_EQ(st.p95, 95);
  EXPECT_DOUBLE_EQ(st.p99, 99);
  EXPECT_DOUBLE_EQ(st.max, 100);
  EXPECT_DOUBLE_EQ(st.mean, 50.5);
  std::vector<double> one{4.0};
  EXPECT_DOUBLE_EQ(summarize(one).p99, 4.0);
  std::vector<double> none;
  EXPECT_EQ(summarize(none).samples, 0u);
}

TEST(Jitter, FromLogIncludingTheRotatedFile) {
  std::string path = ::testing::TempDir() + "/jitter_test.log";
  std::ofstream(path + ".1") << "Z 1001001 1 1000000 1\n";
  std::ofstream(path) << "x 1002003 1 1000000 2\nnoise\n";
  std::vector<double> out;
  ASSERT_TRUE(jitterFromLog(path, 1000, out));
  ASSERT_EQ(out.size(), 1u);  // "x ..." has no timestamp ending in Z: five fields, not a wakeup
  EXPECT_DOUBLE_EQ(out[0], 1.0);
  EXPECT_FALSE(jitterFromLog(path + ".missing", 1000, out));
}

TEST(Jitter, FromLogUpToADeadline) {
  std::string path = ::testing::TempDir() + "/jitter_until_test.log";
  std::ofstream(path) << "1001001 1 1000000 1\n1002003 1 1000000 2\n1003300 1 1000000 3\n";
  std::vector<double> out;
  // The stop began at 1002500: the third wakeup, late because of it, is not the run's.
  ASSERT_TRUE(jitterFromLog(path, 1000, out, 1002500));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_DOUBLE_EQ(out[1], 3.0);
  EXPECT_EQ(wakeupOfLine("1003300 1 1000000 3", 1000)->deadlineMs, 1003000);
}

}  // namespace kuiga
