#include "worker/node_limits.hpp"

#include <gtest/gtest.h>

#include "sys/file.hpp"
#include "tests/support/leak_check.hpp"

namespace kuiga::worker {

// A sysctl tree of our own: the host's limits are not the test's to change.
class NodeLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"/kernel", "/fs", "/net/ipv4/neigh/default", "/net/ipv6/neigh/default"})
      ASSERT_TRUE(sys::makeDirs(dir_.path() + d, 0755));
    put("kernel/pid_max", 32768);
    put("kernel/threads-max", 10000000);
    put("fs/file-max", 100);
    for (const char* f : {"ipv4", "ipv6"})
      for (const char* k : {"gc_thresh1", "gc_thresh2", "gc_thresh3"})
        put(std::string("net/") + f + "/neigh/default/" + k, 1024);
  }
  void put(const std::string& key, uint64_t v) {
    ASSERT_TRUE(sys::replaceFile(dir_.path() + "/" + key, std::to_string(v) + "\n"));
  }
  uint64_t get(const std::string& key) {
    return std::stoull(sys::readFile(dir_.path() + "/" + key).value());
  }
  test::TempDir dir_;
};

TEST_F(NodeLimitsTest, RaisesWhatTheCapacityNeedsAndSaysSo) {
  auto r = raiseNodeLimits(50000, 1, dir_.path());
  EXPECT_EQ(get("kernel/pid_max"), 50000 * kTasksPerInstance + 16384);
  EXPECT_EQ(get("kernel/threads-max"), 10000000u) << "never lowered";
  EXPECT_GE(get("fs/file-max"), 50000u);
  EXPECT_EQ(get("net/ipv6/neigh/default/gc_thresh3"), 131072u);
  const std::string said = describe(r);
  EXPECT_NE(said.find("kernel.pid_max 32768 -> 216384"), std::string::npos) << said;
  EXPECT_EQ(said.find("threads-max"), std::string::npos) << said;
  EXPECT_NE(said.find("net.ipv4.neigh.default.gc_thresh1 1024 -> 8192"), std::string::npos);
  // Asked again, nothing is left to raise.
  EXPECT_EQ(describe(raiseNodeLimits(50000, 1, dir_.path())), "none");
}

TEST_F(NodeLimitsTest, PidMaxStopsAtTheKernelsLimit) {
  (void)raiseNodeLimits(5000000, 0, dir_.path());
  EXPECT_EQ(get("kernel/pid_max"), 4194304u);
}

TEST_F(NodeLimitsTest, AMissingLimitIsAWarningNotAFailure) {
  ASSERT_TRUE(sys::removeTree(dir_.path() + "/fs"));
  auto r = raiseNodeLimits(100, 1, dir_.path());
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings[0].find("fs.file-max"), std::string::npos) << r.warnings[0];
  EXPECT_EQ(get("kernel/pid_max"), 32768u) << "enough for 100 instances";
}

TEST_F(NodeLimitsTest, FileDescriptorsThatCannotSufficeAreAWarning) {
  // RLIMIT_NOFILE is 20,000 on the test machines and cannot be raised past its hard limit.
  auto r = raiseNodeLimits(1u << 24, 1, dir_.path());
  bool warned = false;
  for (const auto& w : r.warnings) warned |= w.find("RLIMIT_NOFILE") != std::string::npos;
  EXPECT_TRUE(warned);
}

}  // namespace kuiga::worker
