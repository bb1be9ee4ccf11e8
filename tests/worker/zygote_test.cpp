// ROOT_ tests of the zygote that clones isolated instances' inits (worker/ns/zygote.hpp): the
// inits are the worker's children, and a zygote killed from outside is started again. The
// isolation and seccomp tests run through it and without it (NsInitTest/zygote, /pivot).
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include "sys/cgroup.hpp"
#include "sys/file.hpp"
#include "sys/process.hpp"
#include "tests/support/leak_check.hpp"
#include "worker/ns/ns_runtime.hpp"
#include "worker/ns/root_skeleton.hpp"
#include "worker/ns/zygote.hpp"

namespace kuiga::worker {
namespace {

class ZygoteTest : public test::RuntimeFixture {
 protected:
  // The parent of `pid` (field 4 of /proc/PID/stat), -1 when it is gone.
  static pid_t parentOf(pid_t pid) {
    auto stat = sys::readFile(fmt::format("/proc/{}/stat", pid));
    if (!stat) return -1;
    const char* p = stat->c_str() + stat->rfind(')') + 2;
    char state = 0;
    int ppid = -1;
    return std::sscanf(p, "%c %d", &state, &ppid) == 2 ? ppid : -1;
  }
  // Our children whose command line starts with `kuiga-init OPTION`.
  static std::vector<pid_t> initChildren(const std::string& option) {
    const std::string prefix = std::string("kuiga-init") + '\0' + option + '\0';
    std::vector<pid_t> found;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      const pid_t pid = std::atoi(e.path().filename().c_str());
      if (pid <= 0 || parentOf(pid) != ::getpid()) continue;
      auto cmd = sys::readFile(e.path().string() + "/cmdline");
      if (cmd && cmd->starts_with(prefix)) found.push_back(pid);
    }
    return found;
  }
  // Our child running `kuiga-init --zygote`, or -1.
  static pid_t zygote() {
    auto found = initChildren("--zygote");
    return found.empty() ? -1 : found.front();
  }
  // `unlimited`: for a hierarchy without controllers (this machine's v2 one).
  void runOne(uint32_t index, bool unlimited = false, uint64_t memoryBytes = 0) {
    auto s = spec(index, KUIGA_TEST_APPS, "echo_console", {}, NetMode::None);
    if (unlimited) s.limits.pids = 0;
    s.limits.memoryBytes = memoryBytes;
    auto made = rt().create(std::vector{s});
    ASSERT_TRUE(made.allOk()) << made.failed[0].second.message;
    ASSERT_TRUE(rt().start(std::vector{s.id}).allOk());
    ASSERT_TRUE(rt().console(s.id, fmt::format("hello {}", index)));
    ASSERT_TRUE(waitLog(s.id, fmt::format("hello {}", index))) << readLog(s.id);
    // Cloned with CLONE_PARENT: the worker's child, which it waits for.
    EXPECT_EQ(parentOf(rt().status(s.id)->pid), ::getpid());
  }
};

TEST_F(ZygoteTest, ROOT_InitsAreTheWorkersChildrenAndAKilledZygoteComesBack) {
  const pid_t first = zygote();
  ASSERT_GT(first, 0) << "no zygote";
  ASSERT_NO_FATAL_FAILURE(runOne(0));
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  // Once it is dead (a zombie until the runtime reaps it), the next create finds its socket
  // closed, starts another and sends the request again.
  for (int i = 0; i < 200 && sys::processState(first) != 'Z'; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(sys::processState(first), 'Z');
  ASSERT_NO_FATAL_FAILURE(runOne(1));
  const pid_t second = zygote();
  EXPECT_GT(second, 0);
  EXPECT_NE(second, first);
  EXPECT_NE(parentOf(first), ::getpid()) << "the dead zygote was not reaped";
}

// A zygote that dies while a request waits for it fails that create alone, saying so; the
// worker cannot know how far it got. The next create starts another zygote.
TEST_F(ZygoteTest, ROOT_AZygoteThatDiesHoldingARequestFailsThatCreateAndTheNextWorks) {
  const pid_t first = zygote();
  ASSERT_GT(first, 0) << "no zygote";
  ASSERT_EQ(::kill(first, SIGSTOP), 0);
  auto s = spec(0, KUIGA_TEST_APPS, "echo_console", {}, NetMode::None);
  auto made = std::async(std::launch::async, [&] { return rt().create(std::vector{s}); });
  // Until the request is sent and the creating thread waits for the answer.
  auto waitingForAnswer = [] {
    for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
      auto wchan = sys::readFile(t.path().string() + "/wchan");
      if (wchan && *wchan == "__skb_wait_for_more_packets") return true;
    }
    return false;
  };
  for (int i = 0; i < 1000 && !waitingForAnswer(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(waitingForAnswer()) << "the create never asked the zygote";
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  auto result = made.get();
  ASSERT_EQ(result.failed.size(), 1u);
  EXPECT_NE(result.failed[0].second.message.find("zygote: it ended without answering"),
            std::string::npos)
      << result.failed[0].second.message;
  EXPECT_EQ(rt().status(s.id)->state, InstanceState::Failed);
  ASSERT_NO_FATAL_FAILURE(runOne(1));
  const pid_t second = zygote();
  EXPECT_GT(second, 0);
  EXPECT_NE(second, first);
}

// A worker whose zygote cannot start runs its instances all the same: each init pivots into
// the root skeleton itself. Here the init binary refuses `--zygote` (as one from before the
// zygote would) and passes everything else on.
TEST_F(ZygoteTest, ROOT_WithoutAZygoteEachInitPivotsItself) {
  const std::string wrapper = dir_->path() + "/kuiga-init-no-zygote";
  ASSERT_TRUE(sys::replaceFile(wrapper,
                               fmt::format("#!/bin/bash\n[ \"$1\" = --zygote ] && exit 3\n"
                                           "exec -a kuiga-init {} \"$@\"\n",
                                           config_.initPath),
                               0755));
  config_.initPath = wrapper;
  openRuntime();
  EXPECT_EQ(zygote(), -1);
  ASSERT_NO_FATAL_FAILURE(runOne(0));
  ASSERT_NO_FATAL_FAILURE(runOne(1));
  // Given the AUT's directory by path, which it binds before it pivots (a zygote's init gets
  // it as a detached mount, --app-fd).
  auto cmd = sys::readFile(fmt::format("/proc/{}/cmdline", rt().status({1, 1})->pid));
  ASSERT_TRUE(cmd);
  EXPECT_NE(cmd->find(std::string("\0--app\0", 7)), std::string::npos);
}

// A request whose cgroup the init cannot enter fails at that stage, with the kernel's errno,
// and leaves no init behind; the zygote answers the next request.
TEST_F(ZygoteTest, ROOT_AnInitThatCannotEnterItsCgroupFailsThereAndTheZygoteServesOn) {
  const std::string root = dir_->path() + "/skeleton";
  ASSERT_TRUE(ns::RootSkeleton::prepare(root));
  struct Destroy {
    std::string root;
    ~Destroy() { (void)ns::RootSkeleton::destroy(root); }
  } destroy{root};
  auto z = ns::Zygote::start(config_.initPath, root);
  ASSERT_TRUE(z) << z.error().message;
  auto pausedChildren = [] { return initChildren("--pause").size(); };
  auto notACgroup = sys::openFile(dir_->path(), O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(notACgroup);
  sys::SpawnOptions so;
  so.argv = {"kuiga-init", "--pause"};
  so.namespaces = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
  so.cgroupFd = notACgroup->get();
  auto refused = (*z)->spawn(so);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ENOENT);
  EXPECT_NE(refused.error().message.find("zygote: cgroup"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(pausedChildren(), 0u);

  so.cgroupFd = -1;
  auto pid = (*z)->spawn(so);
  ASSERT_TRUE(pid) << pid.error().message;
  // Reaped (and killed, if an assertion ended the test first) however the test ends.
  struct Reap {
    pid_t pid;
    ~Reap() {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  } reap{*pid};
  EXPECT_EQ(parentOf(*pid), ::getpid());
  EXPECT_EQ(pausedChildren(), 1u);
  ASSERT_EQ(::kill(*pid, SIGKILL), 0);
}

// A clone the kernel refuses fails that request with the stage and the errno, and the zygote
// answers the next one. Here the zygote stands in a pids cgroup that holds it alone.
TEST_F(ZygoteTest, ROOT_AZygoteWhoseCloneIsRefusedFailsThatRequestAndServesOn) {
  const std::string root = dir_->path() + "/skeleton";
  ASSERT_TRUE(ns::RootSkeleton::prepare(root));
  auto cg = sys::cgroup::Cgroup::create(rt().cgroupLayout(), test::uniqueName(),
                                        {.memory = false, .pids = true, .cpu = false});
  ASSERT_TRUE(cg) << cg.error().message;
  // Destroyed in this order however the test ends: the zygote, its cgroup, the skeleton.
  struct Destroy {
    std::string root;
    sys::cgroup::Cgroup* cg;
    ~Destroy() {
      (void)cg->destroy();
      (void)ns::RootSkeleton::destroy(root);
    }
  } destroy{root, &*cg};
  const auto before = initChildren("--zygote");
  auto z = ns::Zygote::start(config_.initPath, root);
  ASSERT_TRUE(z) << z.error().message;
  pid_t zygotePid = -1;
  for (pid_t p : initChildren("--zygote"))
    if (std::find(before.begin(), before.end(), p) == before.end()) zygotePid = p;
  ASSERT_GT(zygotePid, 0);
  ASSERT_TRUE(cg->setLimits({.pidsMax = 1}));
  ASSERT_TRUE(cg->addProcess(zygotePid));

  sys::SpawnOptions so;
  so.argv = {"kuiga-init", "--pause"};
  so.namespaces = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
  auto refused = (*z)->spawn(so);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, EAGAIN);
  EXPECT_NE(refused.error().message.find("zygote: clone"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(initChildren("--pause").size(), 0u);
  EXPECT_EQ(cg->events().pidsMax, 1u);

  ASSERT_TRUE(cg->setLimits({.pidsMax = 2}));
  auto pid = (*z)->spawn(so);
  ASSERT_TRUE(pid) << pid.error().message;
  EXPECT_EQ(parentOf(*pid), ::getpid());
  ASSERT_EQ(::kill(*pid, SIGKILL), 0);
  while (::waitpid(*pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  z->reset();  // the zygote ends, and its cgroup is empty for the guard to remove
}

// On cgroup v2 each init the zygote clones moves into its group before its exec, so that the
// init runs no instruction of its own outside it: the worker's one group for the instances
// without a cgroup of their own, or its own with a memory limit.
class ZygoteV2Test : public ZygoteTest {
 protected:
  void SetUp() override {
    ZygoteTest::SetUp();
    if (sys::cgroup::findV2Mount().empty()) GTEST_SKIP() << "no cgroup v2 hierarchy";
    config_.cgroupVersion = sys::cgroup::Version::V2;
    openRuntime();
  }
  std::string groupOf(uint32_t index) {
    return sys::readFile(fmt::format("/proc/{}/cgroup", rt().status({1, index})->pid)).value_or("");
  }
};

TEST_F(ZygoteV2Test, ROOT_AnInitWithoutLimitsStartsInTheSharedGroup) {
  ASSERT_NO_FATAL_FAILURE(runOne(0, true));
  EXPECT_NE(groupOf(0).find(fmt::format("0::/kuiga/{}/isolated\n", config_.name)),
            std::string::npos)
      << groupOf(0);
}

TEST_F(ZygoteV2Test, ROOT_AnInitWithAMemoryLimitStartsInItsOwnGroup) {
  // A v2 hierarchy beside v1 ones (as on this project's CI machine) has no memory controller.
  auto controllers = sys::readFile(sys::cgroup::findV2Mount() + "/cgroup.controllers");
  if (!controllers || controllers->find("memory") == std::string::npos)
    GTEST_SKIP() << "no memory controller on cgroup v2";
  ASSERT_NO_FATAL_FAILURE(runOne(1, true, 64 << 20));
  EXPECT_NE(groupOf(1).find(fmt::format("0::/kuiga/{}/r1-i1\n", config_.name)), std::string::npos)
      << groupOf(1);
}

}  // namespace
}  // namespace kuiga::worker
