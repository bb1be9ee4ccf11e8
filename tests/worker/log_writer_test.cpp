#include "worker/log_writer.hpp"

#include <gtest/gtest.h>

#include "sys/file.hpp"
#include "tests/support/leak_check.hpp"

namespace kuiga::worker {

constexpr int64_t kT = 1764283997123456789;  // 2025-11-27T22:53:17.123456Z

TEST(LogWriter, TimestampsCompleteLinesAndKeepsPartialOnes) {
  test::TempDir dir;
  LogWriter w(dir.path() + "/log", 1 << 20);
  ASSERT_TRUE(w.append("one\ntw", kT));
  EXPECT_EQ(sys::readFile(w.path()).value(), "2025-11-27T22:53:17.123456Z one\n");
  ASSERT_TRUE(w.append("o\nthree", kT + 1000000000));
  ASSERT_TRUE(w.finish(kT + 2000000000));
  EXPECT_EQ(sys::readFile(w.path()).value(),
            "2025-11-27T22:53:17.123456Z one\n"
            "2025-11-27T22:53:18.123456Z two\n"
            "2025-11-27T22:53:19.123456Z three\n");
}

TEST(LogWriter, SplitsOverlongLines) {
  test::TempDir dir;
  LogWriter w(dir.path() + "/log", 1 << 20);
  ASSERT_TRUE(w.append(std::string(LogWriter::kMaxLine * 2 + 10, 'x'), kT));
  auto s = sys::readFile(w.path()).value();
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 2);
  ASSERT_TRUE(w.finish(kT));
  s = sys::readFile(w.path()).value();
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 3);
  // Also a long line that arrives whole with its newline, or ends one that was kept.
  LogWriter v(dir.path() + "/log2", 1 << 20);
  ASSERT_TRUE(v.append(std::string(LogWriter::kMaxLine + 1, 'y') + "\n", kT));
  ASSERT_TRUE(v.append(std::string(10, 'z'), kT));
  ASSERT_TRUE(v.append(std::string(LogWriter::kMaxLine, 'z') + "\nend\n", kT));
  s = sys::readFile(v.path()).value();
  size_t lines = 0;
  for (size_t at = 0, nl; (nl = s.find('\n', at)) != std::string::npos; at = nl + 1, ++lines)
    EXPECT_LE(nl - at, formatTimestamp(kT).size() + 1 + LogWriter::kMaxLine) << lines;
  EXPECT_EQ(lines, 5u);  // y... y, z... z, end
}

TEST(LogWriter, RotatesAtTheCapAndKeepsOneOlderFile) {
  test::TempDir dir;
  const uint64_t cap = 1000;
  LogWriter w(dir.path() + "/log", cap);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(w.append("line " + std::to_string(i) + "\n", kT));
  auto cur = sys::readFile(w.path()).value();
  auto old = sys::readFile(w.path() + ".1").value();
  EXPECT_LE(cur.size(), cap);
  EXPECT_LE(old.size(), cap);
  EXPECT_NE(cur.find("line 199\n"), std::string::npos) << "the newest line is kept";
  EXPECT_FALSE(sys::exists(w.path() + ".2"));
}

TEST(LogWriter, UnwritablePathIsAnError) {
  LogWriter w("/nonexistent-dir/log", 100);
  auto r = w.append("x\n", kT);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent-dir/log"), std::string::npos);
}

}  // namespace kuiga::worker
