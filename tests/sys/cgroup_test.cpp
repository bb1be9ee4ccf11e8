#include "sys/cgroup.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "sys/file.hpp"
#include "sys/process.hpp"
#include "tests/support/leak_check.hpp"

namespace kuiga::sys::cgroup {

// Each test runs against v1 and v2 where the machine has them: v1 controllers here, a bare v2
// hierarchy at /sys/fs/cgroup/unified (no controllers: limits are skipped there), and a full v2
// on most users' machines.
class CgroupTest : public ::testing::TestWithParam<Version> {
 protected:
  void SetUp() override {
    SKIP_UNLESS_ROOT();
    auto l = detect(GetParam());
    if (!l) GTEST_SKIP() << l.error().message;
    layout_ = *l;
    name_ = "kuiga/" + test::uniqueName();
  }
  void TearDown() override {
    if (name_.empty()) return;
    auto cg = Cgroup::open(layout_, name_);
    (void)cg.killAll();
    (void)cg.destroy();
    (void)Cgroup::open(layout_, "kuiga").destroy(0);
  }
  bool hasControllers() const {
    if (layout_.version == Version::V1) return true;
    auto c = readFile(layout_.v2Root + "/cgroup.controllers");
    return c && c->find("pids") != std::string::npos && c->find("memory") != std::string::npos;
  }
  Layout layout_;
  std::string name_;
};

TEST_P(CgroupTest, ROOT_CreateAddProcessKillAllDestroy) {
  auto cg = Cgroup::create(layout_, name_);
  ASSERT_TRUE(cg) << cg.error().message;
  EXPECT_TRUE(cg->exists());
  auto child = spawn({"/bin/sleep", {"sleep", "100"}, {}, 0, -1, {}, true, {}});
  ASSERT_TRUE(child) << child.error().message;
  ASSERT_TRUE(cg->addProcess(child->pid()));
  auto procs = cg->processes();
  ASSERT_TRUE(procs);
  EXPECT_EQ(*procs, std::vector<pid_t>{child->pid()});
  ASSERT_TRUE(cg->killAll());
  auto st = child->wait();
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->exited);
  EXPECT_EQ(st->code, SIGKILL);
  ASSERT_TRUE(cg->destroy());
  EXPECT_FALSE(cg->exists());
  EXPECT_TRUE(cg->destroy()) << "destroying twice is fine";
}

TEST_P(CgroupTest, ROOT_LimitsAreWrittenAndPidsLimitIsEnforced) {
  if (!hasControllers()) GTEST_SKIP() << "this cgroup2 hierarchy has no pids/memory controllers";
  auto cg = Cgroup::create(layout_, name_);
  ASSERT_TRUE(cg) << cg.error().message;
  ASSERT_TRUE(cg->setLimits({32ull << 20, 3, 500})) << "memory, pids and cpu";
  // A shell in the group that forks 5 background sleeps: only 2 can start next to it. It waits
  // for a line on stdin first: on v1 it joins the group only after spawn() returns.
  UniqueFd dir;
  if (layout_.version == Version::V2) dir = std::move(*cg->openDir());
  int go[2];
  ASSERT_EQ(::pipe2(go, O_CLOEXEC), 0);
  UniqueFd goRead(go[0]), goWrite(go[1]);
  auto child = spawn({"/bin/sh",
                      {"sh", "-c", "read x; for i in 1 2 3 4 5; do sleep 30 & done; wait"},
                      {},
                      0,
                      dir.get(),
                      {{goRead.get(), 0}},
                      true,
                      {}});
  ASSERT_TRUE(child) << child.error().message;
  if (layout_.version == Version::V1) {
    ASSERT_TRUE(cg->addProcess(child->pid()));
  }
  ASSERT_EQ(::write(goWrite.get(), "go\n", 3), 3);
  goWrite.reset();
  for (int i = 0; i < 100 && cg->events().pidsMax == 0; ++i) usleep(20000);
  EXPECT_GT(cg->events().pidsMax, 0u);
  EXPECT_LE(cg->processes()->size(), 3u);
  ASSERT_TRUE(cg->killAll());
  (void)child->wait();
  ASSERT_TRUE(cg->destroy());
}

TEST_P(CgroupTest, ROOT_CloneIntoCgroupOnV2) {
  if (layout_.version != Version::V2) GTEST_SKIP() << "CLONE_INTO_CGROUP is v2 only";
  auto cg = Cgroup::create(layout_, name_);
  ASSERT_TRUE(cg) << cg.error().message;
  auto dir = cg->openDir();
  ASSERT_TRUE(dir);
  auto child = spawn({"/bin/sleep", {"sleep", "100"}, {}, 0, dir->get(), {}, true, {}});
  ASSERT_TRUE(child) << child.error().message;
  EXPECT_EQ(cg->processes().value(), std::vector<pid_t>{child->pid()});
  ASSERT_TRUE(cg->killAll());
  (void)child->wait();
  ASSERT_TRUE(cg->destroy());
}

INSTANTIATE_TEST_SUITE_P(Versions, CgroupTest, ::testing::Values(Version::V1, Version::V2),
                         [](const auto& info) { return info.param == Version::V1 ? "v1" : "v2"; });

// A worker's log says what its cgroups let it enforce: on v1, where each controller is; on v2,
// the controllers the hierarchy has and whether it is a cgroup namespace's root; and, when the
// cpu controller is missing, that limits.cpu_milli cannot be enforced.
TEST_P(CgroupTest, DescribeSaysWhereAndWhatItCanEnforce) {
  std::string said = describe(layout_);
  EXPECT_NE(said.find("enforces limits.memory_mb and limits.pids"), std::string::npos) << said;
  if (layout_.version == Version::V1) {
    EXPECT_NE(said.find("cgroup v1: memory at " + layout_.memory), std::string::npos) << said;
    EXPECT_EQ(said.find("cannot enforce") == std::string::npos, !layout_.cpu.empty()) << said;
    return;
  }
  EXPECT_NE(said.find("cgroup v2 at " + layout_.v2Root), std::string::npos) << said;
  auto have = readFile(layout_.v2Root + "/cgroup.controllers");
  bool cpu = have && (" " + *have + " ").find(" cpu ") != std::string::npos;
  bool cpuNewline = have && have->find("cpu\n") != std::string::npos;
  EXPECT_EQ(said.find("cannot enforce limits.cpu_milli") == std::string::npos, cpu || cpuNewline)
      << said;
  // Outside a container this test sees the host's hierarchy, not a namespace's root.
  auto self = readFile("/proc/self/cgroup");
  bool nsRoot = self && self->find("0::/\n") != std::string::npos;
  EXPECT_NE(said.find(nsRoot ? "the root of this cgroup namespace" : "the host's hierarchy"),
            std::string::npos)
      << said;
}

TEST(Cgroup, DetectPrefersAUsableHierarchy) {
  auto l = detect();
  if (!l) GTEST_SKIP() << l.error().message;
  if (l->version == Version::V1) {
    EXPECT_FALSE(l->memory.empty());
    EXPECT_FALSE(l->pids.empty());
  } else {
    EXPECT_FALSE(l->v2Root.empty());
  }
}

}  // namespace kuiga::sys::cgroup
