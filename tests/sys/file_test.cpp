#include "sys/file.hpp"

#include <fcntl.h>
#include <sys/resource.h>

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

}  // namespace kuiga::sys
