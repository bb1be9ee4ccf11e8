#include "sys/file.hpp"

#include <fcntl.h>
#include <sys/resource.h>

#include <fstream>

#include <gtest/gtest.h>

#include "tests/support/leak_check.hpp"

namespace kuiga::sys {

TEST(File, WriteReadRoundTripAndErrorsNameThePath) {
  test::TempDir dir;
  std::string p = dir.path() + "/a/b/c";
  ASSERT_TRUE(makeDirs(p));
  ASSERT_TRUE(exists(p));
  {
    auto fd = openFile(p + "/f", O_WRONLY | O_CREAT);
    ASSERT_TRUE(fd);
  }
  ASSERT_TRUE(writeFile(p + "/f", "hello"));
  EXPECT_EQ(readFile(p + "/f").value(), "hello");
  auto missing = readFile(p + "/nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_NE(missing.error().message.find(p + "/nope"), std::string::npos);
}

// From an offset: what a file gained since it was last read (the ZEP benchmark's logs).
TEST(File, ReadFromAnOffsetGivesTheRest) {
  test::TempDir dir;
  const std::string p = dir.path() + "/f";
  ASSERT_TRUE(replaceFile(p, "hello world"));
  EXPECT_EQ(readFile(p, 6).value_or("?"), "world");
  EXPECT_EQ(readFile(p, 11).value_or("?"), "");
  EXPECT_EQ(readFile(p, 100).value_or("?"), "");
  EXPECT_FALSE(readFile(dir.path() + "/missing", 3));
}

TEST(File, RemoveTreeRemovesEverythingAndToleratesMissing) {
  test::TempDir dir;
  std::string root = dir.path() + "/t";
  ASSERT_TRUE(makeDirs(root + "/x/y"));
  EXPECT_FALSE(writeFile(root + "/x/none", "")) << "writeFile does not create files";
  {
    auto fd = openFile(root + "/x/f", O_WRONLY | O_CREAT);
    ASSERT_TRUE(fd);
  }
  ASSERT_EQ(::symlink("/etc", (root + "/link").c_str()), 0);
  ASSERT_TRUE(removeTree(root));
  EXPECT_FALSE(exists(root));
  EXPECT_TRUE(exists("/etc/hostname") || exists("/etc/passwd")) << "symlink target untouched";
  EXPECT_TRUE(removeTree(root));
}

TEST(File, RaiseFileLimitNeverLowers) {
  rlimit before{};
  ::getrlimit(RLIMIT_NOFILE, &before);
  ASSERT_TRUE(raiseFileLimit(16));
  rlimit after{};
  ::getrlimit(RLIMIT_NOFILE, &after);
  EXPECT_EQ(after.rlim_cur, before.rlim_cur);
}

TEST(File, ReadConcatenatedWalksFilesAsOne) {
  test::TempDir d;
  std::ofstream(d.path() + "/a") << "hello ";
  std::ofstream(d.path() + "/b") << "world";
  std::vector<std::pair<std::string, uint64_t>> files{{d.path() + "/a", 6}, {d.path() + "/b", 5}};
  auto all = readConcatenated(files, 0, 100);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->first, "hello world");
  EXPECT_EQ(all->second, 11u);
  // Across the boundary, in small reads.
  std::string got;
  for (uint64_t off = 0; off < 11;) {
    auto part = readConcatenated(files, off, 4);
    ASSERT_TRUE(part);
    ASSERT_FALSE(part->first.empty());
    got += part->first;
    off = part->second;
  }
  EXPECT_EQ(got, "hello world");
  // Past the end (a log that rotated away from an old offset): nothing, and the end.
  auto past = readConcatenated(files, 50, 4);
  ASSERT_TRUE(past);
  EXPECT_EQ(past->first, "");
  EXPECT_EQ(past->second, 11u);
  // Sizes are a snapshot: bytes appended later are not read.
  std::ofstream(d.path() + "/b", std::ios::app) << " and more";
  EXPECT_EQ(readConcatenated(files, 6, 100)->first, "world");
  files.push_back({d.path() + "/missing", 3});
  EXPECT_FALSE(readConcatenated(files, 0, 100));
}

}  // namespace kuiga::sys
