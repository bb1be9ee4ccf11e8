#include "sys/netns.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "sys/netlink.hpp"
#include "tests/support/leak_check.hpp"

namespace kuiga::sys {

static ino_t inode(int fd) {
  struct stat st {};
  ::fstat(fd, &st);
  return st.st_ino;
}

TEST(NetNs, ROOT_CreateEnterAndReturn) {
  SKIP_UNLESS_ROOT();
  auto before = netns::current();
  ASSERT_TRUE(before);
  auto ns = netns::create();
  ASSERT_TRUE(ns) << ns.error().message;
  EXPECT_NE(inode(ns->get()), inode(before->get()));
  {
    auto now = netns::current();
    EXPECT_EQ(inode(now->get()), inode(before->get())) << "create() returns to where it was";
  }
  {
    auto guard = netns::ThreadGuard::enter(ns->get());
    ASSERT_TRUE(guard);
    auto inside = netns::current();
    EXPECT_EQ(inode(inside->get()), inode(ns->get()));
    // A new namespace has only loopback.
    auto nl = Netlink::open();
    ASSERT_TRUE(nl);
    EXPECT_EQ(nl->linkNames().value(), std::vector<std::string>{"lo"});
  }
  auto after = netns::current();
  EXPECT_EQ(inode(after->get()), inode(before->get()));
}

TEST(NetNs, ROOT_PinOutlivesTheFdAndUnpinIsIdempotent) {
  SKIP_UNLESS_ROOT();
  test::TempDir dir;
  std::string pin = dir.path() + "/ns";
  ino_t ino;
  {
    auto ns = netns::create();
    ASSERT_TRUE(ns);
    ino = inode(ns->get());
    ASSERT_TRUE(netns::pin(ns->get(), pin));
  }
  auto again = netns::openPinned(pin);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(inode(again->get()), ino);
  EXPECT_TRUE(netns::unpin(pin));
  EXPECT_TRUE(netns::unpin(pin));
  EXPECT_FALSE(netns::openPinned(pin));
}

TEST(NetNs, OfPidOfAMissingProcessIsAnError) {
  auto r = netns::ofPid(999999999);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("999999999"), std::string::npos);
}

}  // namespace kuiga::sys
