// ROOT_ tests of everything that can go wrong with an AUT: each ends `failed` with the reason.
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstring>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "sys/cgroup.hpp"
#include "sys/file.hpp"
#include "tests/support/leak_check.hpp"

namespace kuiga::worker {

using namespace std::chrono_literals;
using S = InstanceState;

class NsFailureTest : public test::RuntimeFixture {
 protected:
  // Creates and starts one instance and waits for its end; returns its status.
  InstanceStatus runToEnd(InstanceSpec s, int timeoutMs = 20000) {
    auto c = rt().create({&s, 1});
    if (c.allOk()) (void)rt().start({&s.id, 1});
    waitState(s.id, S::Failed, timeoutMs);
    return *rt().status(s.id);
  }
  std::string writeApp(const std::string& name, const std::string& content, mode_t mode) {
    std::ofstream(app_.path() + "/" + name) << content;
    ::chmod((app_.path() + "/" + name).c_str(), mode);
    return name;
  }
  // Four instances in one bulk create, or one create each.
  BulkResult createFour(bool oneByOne = false) {
    std::vector<InstanceSpec> specs;
    for (uint32_t i = 0; i < 4; ++i)
      specs.push_back(spec(i, KUIGA_EXAMPLES, "periodic", {"0", "1000"}));
    if (!oneByOne) return rt().create(specs);
    BulkResult all;
    for (const auto& s : specs) {
      auto r = rt().create({&s, 1});
      all.ok += r.ok;
      all.failed.insert(all.failed.end(), r.failed.begin(), r.failed.end());
    }
    return all;
  }
  // Starts `id`, which fails with `why`, in the start's answer and in its status.
  void expectStartFails(const InstanceId& id, const std::string& why) {
    auto r = rt().start({&id, 1});
    ASSERT_EQ(r.failed.size(), 1u);
    EXPECT_NE(r.failed[0].second.message.find(why), std::string::npos)
        << r.failed[0].second.message;
    auto st = *rt().status(id);
    EXPECT_EQ(st.state, S::Failed);
    EXPECT_NE(st.reason.find(why), std::string::npos) << st.reason;
  }
  void expectClearFailures(const BulkResult& r) {
    ASSERT_FALSE(r.failed.empty());
    for (const auto& [id, e] : r.failed) {
      bool clear = e.message.find("write the instance's state") != std::string::npos ||
                   e.message.find("could not report") != std::string::npos ||
                   e.message.find("No space left") != std::string::npos;
      EXPECT_TRUE(clear) << displayName(id) << ": " << e.message;
      EXPECT_EQ(rt().status(id)->state, S::Failed) << "none is left half-made in prolog";
    }
  }
  test::TempDir app_;
};

// Without a memory or CPU limit an instance has no cgroup of its own: its pids limit is the
// RLIMIT_NPROC of its uid, which counts the AUT's processes and not init's.
TEST_F(NsFailureTest, ROOT_ForkBombIsStoppedByThePidsLimit) {
  auto s = spec(0, KUIGA_TEST_APPS, "forkbomb");
  s.limits.pids = 20;
  auto st = runToEnd(s);
  EXPECT_EQ(st.state, S::Failed);
  EXPECT_NE(st.reason.find("exited with code 1"), std::string::npos) << st.reason;
  EXPECT_NE(st.reason.find("fork failed after 19 children: Resource temporarily unavailable"),
            std::string::npos)
      << "its last words: " << st.reason;
  EXPECT_FALSE(sys::cgroup::Cgroup::open(rt().cgroupLayout(), rt().cgroupPath(s.id)).exists());
}

// With a memory limit it has a cgroup of its own, which counts the forks it refused. It holds
// init too, but the limit is the AUT's alone: 19 children, as without.
TEST_F(NsFailureTest, ROOT_ForkBombInItsOwnCgroupIsCounted) {
  auto s = spec(0, KUIGA_TEST_APPS, "forkbomb");
  s.limits.pids = 20;
  s.limits.memoryBytes = 256 << 20;
  auto st = runToEnd(s);
  EXPECT_EQ(st.state, S::Failed);
  EXPECT_NE(st.reason.find("fork failed after 19 children"), std::string::npos) << st.reason;
  EXPECT_NE(st.reason.find("pids limit 20 reached (1 forks refused)"), std::string::npos)
      << st.reason;
  EXPECT_TRUE(sys::cgroup::Cgroup::open(rt().cgroupLayout(), rt().cgroupPath(s.id)).exists());
}

// limits.pids counts the AUT's processes alone, with a cgroup of its own or without: a limit
// of 1 lets the AUT run and refuses its first fork, and init is not counted against it.
TEST_F(NsFailureTest, ROOT_APidsLimitOfOneRunsTheAutAndRefusesItsFork) {
  for (bool ownCgroup : {false, true}) {
    SCOPED_TRACE(ownCgroup ? "with a cgroup of its own" : "without");
    auto s = spec(ownCgroup ? 1 : 0, KUIGA_TEST_APPS, "forkbomb");
    s.limits.pids = 1;
    if (ownCgroup) s.limits.memoryBytes = 256 << 20;
    auto st = runToEnd(s);
    EXPECT_EQ(st.state, S::Failed);
    EXPECT_NE(st.reason.find("fork failed after 0 children: Resource temporarily unavailable"),
              std::string::npos)
        << st.reason;
    if (ownCgroup) {
      EXPECT_NE(st.reason.find("pids limit 1 reached (1 forks refused)"), std::string::npos)
          << st.reason;
    }
  }
}

// Init's clone of the AUT at the start can fail too: here its cgroup is made full behind the
// worker's back, after the create. The instance fails with the stage and the errno, and
// nothing of it is left.
TEST_F(NsFailureTest, ROOT_AnInitThatCannotCloneItsAutFailsWithTheReason) {
  auto s = spec(0, KUIGA_EXAMPLES, "periodic", {"0", "1000"});
  s.limits.memoryBytes = 256 << 20;
  ASSERT_TRUE(rt().create({&s, 1}).allOk());
  auto cg = sys::cgroup::Cgroup::open(rt().cgroupLayout(), rt().cgroupPath(s.id));
  ASSERT_TRUE(cg.setLimits({s.limits.memoryBytes, 1, 0}).has_value());
  ASSERT_NO_FATAL_FAILURE(
      expectStartFails(s.id, "cannot start the AUT (fork): Resource temporarily unavailable"));
  ASSERT_TRUE(rt().remove({&s.id, 1}).allOk());
  EXPECT_FALSE(cg.exists());
}

// An init that cannot open the pipe it learns the AUT's exec through fails the start with that
// stage, as a failed clone does. Its descriptor limit is lowered behind the worker's back.
TEST_F(NsFailureTest, ROOT_AnInitOutOfDescriptorsFailsItsStartWithTheReason) {
  auto s = spec(0, KUIGA_EXAMPLES, "periodic", {"0", "1000"});
  ASSERT_TRUE(rt().create({&s, 1}).allOk());
  const pid_t init = rt().status(s.id)->pid;
  rlimit old{};
  ASSERT_EQ(::prlimit(init, RLIMIT_NOFILE, nullptr, &old), 0) << std::strerror(errno);
  const rlimit one{1, old.rlim_max};  // every descriptor init holds stays; it gets no new one
  ASSERT_EQ(::prlimit(init, RLIMIT_NOFILE, &one, nullptr), 0) << std::strerror(errno);
  ASSERT_NO_FATAL_FAILURE(
      expectStartFails(s.id, "cannot start the AUT (pipe): Too many open files"));
  ASSERT_TRUE(rt().remove({&s.id, 1}).allOk());
}

// A worker out of descriptors still stops its instances: the pidfds it pins their inits with
// cannot be opened, and it signals them by pid instead, under its lock.
TEST_F(NsFailureTest, ROOT_AWorkerOutOfDescriptorsStillStopsItsInstances) {
  std::vector<InstanceSpec> specs;
  std::vector<InstanceId> ids;
  for (uint32_t i = 0; i < 2; ++i) {
    specs.push_back(spec(i, KUIGA_EXAMPLES, "periodic", {"0", "1000"}));
    ids.push_back(specs.back().id);
  }
  ASSERT_TRUE(rt().create(specs).allOk());
  ASSERT_TRUE(rt().start(ids).allOk());
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  struct Restore {
    rlimit old;
    ~Restore() { ::setrlimit(RLIMIT_NOFILE, &old); }
  } restore{old};
  const int lowestFree = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(lowestFree, 0);
  ::close(lowestFree);
  rlimit none = old;
  none.rlim_cur = static_cast<rlim_t>(lowestFree);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &none), 0);
  const int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int probeErrno = errno;
  auto stopped = rt().stop(ids, 5s);
  ::setrlimit(RLIMIT_NOFILE, &old);
  if (probe >= 0) ::close(probe);
  EXPECT_EQ(probe, -1);
  EXPECT_EQ(probeErrno, EMFILE);
  EXPECT_TRUE(stopped.allOk()) << stopped.failed.front().second.message;
  for (const auto& id : ids) EXPECT_EQ(rt().status(id)->state, S::Terminated);
}

TEST_F(NsFailureTest, ROOT_MemoryHogIsKilledByTheMemoryLimit) {
  auto s = spec(0, KUIGA_TEST_APPS, "memhog");
  s.limits.memoryBytes = 32 << 20;
  auto st = runToEnd(s);
  EXPECT_EQ(st.state, S::Failed);
  EXPECT_NE(st.reason.find("killed by signal 9 (SIGKILL)"), std::string::npos) << st.reason;
  EXPECT_NE(st.reason.find("memory limit reached"), std::string::npos) << st.reason;
}

TEST_F(NsFailureTest, ROOT_NonElfAutFailsWithAClearReason) {
  auto st = runToEnd(spec(0, app_.path(),
                          writeApp("firmware.hex", ":10010000214601360121470136007EFE09\n", 0755)));
  EXPECT_EQ(st.state, S::Failed);
  EXPECT_NE(st.reason.find("cannot exec /app/firmware.hex: Exec format error (not an ELF"),
            std::string::npos)
      << st.reason;
}

TEST_F(NsFailureTest, ROOT_NotExecutableAndMissingInterpreter) {
  auto a = runToEnd(spec(0, app_.path(), writeApp("noexec", "#!/bin/sh\necho hi\n", 0644)));
  EXPECT_EQ(a.state, S::Failed);
  EXPECT_NE(a.reason.find("Permission denied (not executable"), std::string::npos) << a.reason;
  auto b = runToEnd(spec(1, app_.path(), writeApp("script", "#!/nonexistent/python9\n", 0755)));
  EXPECT_EQ(b.state, S::Failed);
  EXPECT_NE(b.reason.find("interpreter or dynamic loader is missing"), std::string::npos)
      << b.reason;
}

TEST_F(NsFailureTest, ROOT_MissingSharedLibraryIsNamed) {
  std::filesystem::copy_file(std::string(KUIGA_TEST_APPS) + "/needs_lib",
                             app_.path() + "/needs_lib");
  auto st = runToEnd(spec(0, app_.path(), "needs_lib"));
  EXPECT_EQ(st.state, S::Failed);
  EXPECT_NE(st.reason.find("exited with code 127"), std::string::npos) << st.reason;
  EXPECT_NE(st.reason.find("libkuigamissing.so"), std::string::npos)
      << "the loader's message is quoted: " << st.reason;
}

TEST_F(NsFailureTest, ROOT_NonZeroExitQuotesTheLastOutput) {
  auto st = runToEnd(spec(0, KUIGA_TEST_APPS, "exit_code", {"3"}));
  EXPECT_EQ(st.state, S::Failed);
  EXPECT_EQ(st.reason, "the AUT exited with code 3: last output \"about to exit with 3\"");
}

TEST_F(NsFailureTest, ROOT_CrashBySignalIsAFailure) {
  auto st = runToEnd(spec(0, app_.path(), writeApp("crash", "#!/bin/sh\nkill -SEGV $$\n", 0755)));
  EXPECT_EQ(st.state, S::Failed);
  EXPECT_NE(st.reason.find("killed by signal 11 (SIGSEGV)"), std::string::npos) << st.reason;
}

TEST_F(NsFailureTest, ROOT_FullInstanceDirectoryFailsInstancesClearly) {
  // Shrink the tmpfs with the instances' FIFOs to seven inodes: its root, then three per
  // instance (its directory and two FIFOs), so the third cannot be set up. One create at a
  // time: in one bulk create, the threads may share the inodes out so that one instance or
  // none is whole (seen under load), and how many are is then not the test's to say.
  const std::string dir = "/run/kuiga/" + config_.name + "/instances";
  const unsigned long flags = MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  ASSERT_EQ(::mount(nullptr, dir.c_str(), nullptr, flags, "nr_inodes=7"), 0)
      << std::strerror(errno);
  auto r = createFour(true);
  ::mount(nullptr, dir.c_str(), nullptr, flags, "nr_inodes=1m");
  EXPECT_EQ(r.ok, 2u);
  expectClearFailures(r);
}

// The state disk full: each report takes a page there, so the third instance cannot write its
// state record.
TEST_F(NsFailureTest, ROOT_FullStateDiskFailsInstancesClearly) {
  const std::string reports = config_.stateDir + "/reports";
  ASSERT_EQ(::mount("tmpfs", reports.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=8k"), 0)
      << std::strerror(errno);
  auto r = createFour();
  EXPECT_EQ(r.ok, 2u);
  expectClearFailures(r);
  std::vector<InstanceId> ids;
  for (uint32_t i = 0; i < 4; ++i) ids.push_back({1, i});
  EXPECT_TRUE(rt().remove(ids).allOk());
  // Each uid's slot stays for the next instance with it, empty.
  size_t slots = 0;
  for (const auto& e : std::filesystem::directory_iterator(reports)) {
    EXPECT_EQ(e.file_size(), 0u) << e.path() << ": remove empties the reports";
    ++slots;
  }
  EXPECT_GE(slots, 2u);
  EXPECT_EQ(::umount2(reports.c_str(), MNT_DETACH), 0) << std::strerror(errno);
}

// A report slot that cannot be emptied (here a directory stands where the file was) fails the
// remove with the slot's path; the instance is gone all the same, and so is the rest of it.
TEST_F(NsFailureTest, ROOT_ASlotThatCannotBeEmptiedFailsTheRemoveWithItsPath) {
  auto s = spec(0, KUIGA_EXAMPLES, "periodic", {"0", "1000"});
  ASSERT_TRUE(rt().create({&s, 1}).allOk());
  std::string slot;
  for (const auto& e : std::filesystem::directory_iterator(config_.stateDir + "/reports"))
    if (e.path().filename().string()[0] == 'u' && e.file_size() > 0) slot = e.path();
  ASSERT_FALSE(slot.empty()) << "the instance's report is in a slot of its uid";
  ASSERT_EQ(::unlink(slot.c_str()), 0) << std::strerror(errno);
  ASSERT_EQ(::mkdir(slot.c_str(), 0700), 0) << std::strerror(errno);
  auto r = rt().remove({&s.id, 1});
  ::rmdir(slot.c_str());
  ASSERT_EQ(r.failed.size(), 1u);
  EXPECT_NE(r.failed[0].second.message.find("empty '" + slot + "'"), std::string::npos)
      << r.failed[0].second.message;
  EXPECT_FALSE(rt().status(s.id)) << "the instance is gone";
  EXPECT_FALSE(std::filesystem::exists("/run/kuiga/" + config_.name + "/instances/r1-i0"));
}

TEST_F(NsFailureTest, ROOT_BadSpecsAreRefusedBeforeAnythingIsMade) {
  std::vector<InstanceSpec> specs{spec(0, KUIGA_TEST_APPS, "no-such-aut"),
                                  spec(kMaxInstancesPerRun, KUIGA_EXAMPLES, "periodic"),
                                  spec(2, KUIGA_EXAMPLES, "../examples/periodic"),
                                  spec(3, KUIGA_EXAMPLES, "periodic", {"0"})};
  auto r = rt().create(specs);
  EXPECT_EQ(r.ok, 1u);
  ASSERT_EQ(r.failed.size(), 3u);
  EXPECT_NE(r.failed[0].second.message.find("no such file"), std::string::npos);
  EXPECT_NE(r.failed[1].second.message.find("limit of 50000"), std::string::npos);
  EXPECT_NE(r.failed[2].second.message.find("file name inside"), std::string::npos);
  EXPECT_EQ(rt().list().size(), 1u);
  test::TempDir closed;
  ::chmod(closed.path().c_str(), 0700);
  writeApp("x", "", 0755);
  std::ofstream(closed.path() + "/aut") << "#!/bin/sh\n";
  auto s = spec(4, closed.path(), "aut");
  auto shut = rt().create({&s, 1});
  ASSERT_EQ(shut.failed.size(), 1u);
  EXPECT_NE(shut.failed[0].second.message.find("must be searchable"), std::string::npos);
  auto dup = rt().create({&specs[3], 1});
  ASSERT_EQ(dup.failed.size(), 1u);
  EXPECT_EQ(dup.failed[0].second.message, "instance already exists");
  InstanceId missing{1, 99};
  auto st = rt().start({&missing, 1});
  ASSERT_EQ(st.failed.size(), 1u);
  EXPECT_EQ(st.failed[0].second.message, "no such instance");
  ASSERT_TRUE(rt().start({&specs[3].id, 1}).allOk());
  auto twice = rt().start({&specs[3].id, 1});
  ASSERT_EQ(twice.failed.size(), 1u);
  EXPECT_EQ(twice.failed[0].second.message, "instance is running, not booting");
}

}  // namespace kuiga::worker

namespace kuiga::worker {

// A network step the kernel refuses for a passing reason is made again, once, from scratch;
// one it refuses for good fails the instance with its reason, and nothing stays behind.
class NsNetworkRetryTest : public test::RuntimeFixture {
 protected:
  void SetUp() override {
    config_.networkFault = [this](InstanceId id) -> VoidResult {
      std::lock_guard lock(mu_);
      const int attempt = ++attempts_[id.index];
      if (id.index == 0 && attempt == 1)
        return fail(Error{"add route ::/0 via 'eth0': Unspecific failure", 0});
      if (id.index == 1)
        return fail(
            Error{"add route ::/0 via 'eth0': Unspecific failure (kernel: ENETDOWN)", ENETDOWN});
      if (id.index == 2) return fail(Error{"add address: Permission denied", EPERM});
      return {};
    };
    RuntimeFixture::SetUp();
  }
  int attempts(uint32_t index) {
    std::lock_guard lock(mu_);
    return attempts_[index];
  }
  std::mutex mu_;
  std::map<uint32_t, int> attempts_;
};

TEST_F(NsNetworkRetryTest, ROOT_APassingRefusalIsTriedOnceMoreAndALastingOneFails) {
  std::vector<InstanceSpec> specs;
  for (uint32_t i = 0; i < 4; ++i) specs.push_back(spec(i, KUIGA_TEST_APPS, "echo_console"));
  auto c = rt().create(specs);
  EXPECT_EQ(c.ok, 2u);
  ASSERT_EQ(c.failed.size(), 2u);
  EXPECT_EQ(attempts(0), 2) << "made again after an unspecific failure";
  EXPECT_EQ(attempts(1), 2) << "ENETDOWN passes, but not twice";
  EXPECT_EQ(attempts(2), 1) << "EPERM would fail again";
  EXPECT_EQ(attempts(3), 1);
  auto st1 = rt().status({1, 1}).value();
  EXPECT_EQ(st1.state, S::Failed);
  EXPECT_NE(st1.reason.find("network: add route ::/0 via 'eth0': Unspecific failure (kernel: "
                            "ENETDOWN)"),
            std::string::npos)
      << st1.reason;
  EXPECT_NE(st1.reason.find("again, after"), std::string::npos) << st1.reason;
  EXPECT_EQ(rt().status({1, 2})->reason.find("again"), std::string::npos);
  // The one made twice runs as if made once: one init, one link, its output heard.
  std::vector<InstanceId> ok = {{1, 0}, {1, 3}};
  ASSERT_TRUE(rt().start(ok).allOk());
  EXPECT_EQ(waitState({1, 0}, S::Running), S::Running);
  ASSERT_TRUE(rt().console({1, 0}, "echo twice made"));
  EXPECT_TRUE(waitLog({1, 0}, "twice made"));
  auto links = rt().radioLinks().value();
  EXPECT_EQ(links.size(), 2u) << "the failed attempts left no link";
  std::vector<InstanceId> all = {{1, 0}, {1, 1}, {1, 2}, {1, 3}};
  (void)rt().stop(ok, 1s);
  EXPECT_TRUE(rt().remove(all).allOk());
  // Removed instances' links go with their namespaces, which the kernel frees a moment later.
  for (int i = 0; i < 100 && !rt().radioLinks().value().empty(); ++i)
    std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(rt().radioLinks().value().empty());
}

}  // namespace kuiga::worker
