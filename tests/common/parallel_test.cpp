#include "common/parallel.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace kuiga {

TEST(ParallelFor, VisitsEveryIndexExactlyOnce) {
  for (unsigned threads : {1u, 3u, 16u}) {
    std::vector<std::atomic<int>> seen(1000);
    parallelFor(seen.size(), threads, [&](size_t i) { ++seen[i]; });
    for (auto& s : seen) EXPECT_EQ(s.load(), 1);
  }
  parallelFor(0, 4, [](size_t) { FAIL(); });
}

}  // namespace kuiga
