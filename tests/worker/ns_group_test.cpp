// ROOT_ integration tests of group isolation (issue 20) in the ns runtime, against the real
// kernel: devices of a run share a group's init and namespaces, each under a uid of its own.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "sys/file.hpp"
#include "tests/support/leak_check.hpp"
#include "worker/ns/ns_runtime.hpp"

namespace kuiga::worker {

using namespace std::chrono_literals;
using S = InstanceState;

// A bulk operation that must succeed, with its first failure's reason when it does not.
#define ASSERT_CREATED(bulk)                                                \
  do {                                                                      \
    auto r_ = (bulk);                                                       \
    ASSERT_TRUE(r_.allOk()) << displayName(r_.failed.front().first) << ": " \
                            << r_.failed.front().second.message;            \
  } while (0)

class NsGroupTest : public test::RuntimeFixture {
 protected:
  InstanceSpec member(uint32_t index, const std::string& dir, const std::string& exe,
                      std::vector<std::string> args = {}, uint32_t groupSize = 3) {
    auto s = spec(index, dir, exe, std::move(args), NetMode::None);
    s.isolation = Isolation::Group;
    s.groupSize = groupSize;
    return s;
  }
  static std::vector<InstanceId> idsOf(const std::vector<InstanceSpec>& specs) {
    std::vector<InstanceId> ids;
    for (const auto& s : specs) ids.push_back(s.id);
    return ids;
  }
  std::string groupDir(const std::string& group) {
    return "/run/kuiga/" + config_.name + "/instances/" + group;
  }
  // Processes of this host whose command line starts with kuiga-init and names our skeleton.
  int groupInits() {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      auto cmd = sys::readFile(e.path().string() + "/cmdline");
      if (cmd && cmd->rfind(std::string("kuiga-init\0--group\0", 19), 0) == 0 &&
          cmd->find(config_.name) != std::string::npos)
        ++n;
    }
    return n;
  }
};

TEST_F(NsGroupTest, ROOT_DevicesOfAGroupShareOneInitAndLiveAndDieEachOnItsOwn) {
  std::vector<InstanceSpec> specs;
  for (uint32_t i = 0; i < 6; ++i)
    specs.push_back(member(i, KUIGA_EXAMPLES, "periodic", {"0", "100"}));
  auto ids = idsOf(specs);
  auto created = rt().create(specs);
  ASSERT_TRUE(created.allOk()) << created.failed.front().second.message;
  for (const auto& s : rt().list()) EXPECT_EQ(s.state, S::Booting) << displayName(s.id);
  EXPECT_EQ(groupInits(), 2) << "six devices in groups of three";
  // A device's pid is its group's init.
  EXPECT_EQ(rt().status(ids[0])->pid, rt().status(ids[2])->pid);
  EXPECT_NE(rt().status(ids[0])->pid, rt().status(ids[3])->pid);

  auto started = rt().start(ids);
  ASSERT_TRUE(started.allOk()) << started.failed.front().second.message;
  for (const auto& s : rt().list()) EXPECT_EQ(s.state, S::Running) << displayName(s.id);
  for (const auto& id : ids) EXPECT_TRUE(waitLog(id, "\n")) << displayName(id);
  // Each device's output in its own log only.
  EXPECT_EQ(readLog(ids[1]).find("dev-0002"), std::string::npos);

  // One device stopped; its neighbours run on.
  ASSERT_TRUE(rt().stop({&ids[1], 1}, 2s).allOk());
  EXPECT_EQ(rt().status(ids[1])->state, S::Terminated) << rt().status(ids[1])->reason;
  EXPECT_EQ(rt().status(ids[0])->state, S::Running);
  EXPECT_EQ(rt().status(ids[2])->state, S::Running);
  ASSERT_TRUE(rt().remove({&ids[1], 1}).allOk());
  auto before = readLog(ids[2]).size();
  EXPECT_TRUE(waitLog(ids[2], "\n", 3000));
  std::this_thread::sleep_for(300ms);
  EXPECT_GT(readLog(ids[2]).size(), before) << "the group runs on without device 1";

  ASSERT_TRUE(rt().stop(ids, 2s).allOk());
  for (const auto& s : rt().list()) EXPECT_EQ(s.state, S::Terminated) << s.reason;
  auto removed = rt().remove(ids);
  ASSERT_TRUE(removed.allOk()) << removed.failed.front().second.message;
  EXPECT_TRUE(rt().list().empty());
  EXPECT_EQ(groupInits(), 0);
  for (const char* g : {"r1-g0", "r1-g1"}) {
    EXPECT_FALSE(
        sys::cgroup::Cgroup::open(rt().cgroupLayout(), "kuiga/" + config_.name + "/" + g).exists());
    EXPECT_FALSE(sys::exists("/run/kuiga/" + config_.name + "/instances/" + g));
  }
}

TEST_F(NsGroupTest, ROOT_IsolationBetweenDevicesAsSeenFromInside) {
  test::TempDir app;
  ::chmod(app.path().c_str(), 0755);
  std::string script = app.path() + "/probe.sh";
  // Each device leaves its pid and a secret where its neighbour can find the first, then
  // tries the neighbour: signal, its environment (ptrace access), its private directory.
  std::ofstream(script)
      << "#!/bin/sh\n"
         "echo secret > $HOME/secret\n"
         "echo $$ > /tmp/pid-$KUIGA_INDEX\n"
         "other=$((KUIGA_INDEX ^ 1))\n"
         "while ! test -s /tmp/pid-$other; do sleep 0.05; done\n"
         "sleep 0.2\n"
         "op=$(cat /tmp/pid-$other)\n"
         "echo host=$(hostname) uid=$(id -u) pwd=$(pwd) home=$HOME tmpdir=$TMPDIR\n"
         "kill -0 $op 2>/dev/null && echo signal-allowed || echo signal-refused\n"
         "cat /proc/$op/environ >/dev/null 2>&1 && echo environ-readable || echo environ-refused\n"
         "cat /run/dev/$other/secret >/dev/null 2>&1 && echo secret-readable || echo "
         "secret-refused\n"
         "ls /run/dev >/dev/null 2>&1 && echo dev-listable || echo dev-unlistable\n"
         "echo visible=$(cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ')\n"
         "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status | tr -s '\\t\\n' '  '; echo\n"
         "echo fds=$(ls /proc/self/fd | tr '\\n' ' ')\n"
         "echo probed\n"
         "exec sleep 1000\n";
  ::chmod(script.c_str(), 0755);
  std::vector<InstanceSpec> specs;
  for (uint32_t i = 0; i < 4; ++i)
    specs.push_back(member(i, app.path(), "probe.sh", {i < 2 ? "first-group" : "second-group"}, 2));
  auto ids = idsOf(specs);
  ASSERT_CREATED(rt().create(specs));
  ASSERT_TRUE(rt().start(ids).allOk());
  std::set<std::string> uids;
  for (uint32_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(waitLog(ids[i], "probed")) << readLog(ids[i]);
    auto log = readLog(ids[i]);
    EXPECT_NE(log.find(fmt::format("host=run-1-group-{} ", i / 2)), std::string::npos) << log;
    EXPECT_NE(log.find(fmt::format("pwd=/run/dev/{0} home=/run/dev/{0} tmpdir=/run/dev/{0}", i)),
              std::string::npos)
        << log;
    auto at = log.find("uid=");
    ASSERT_NE(at, std::string::npos);
    uids.insert(log.substr(at, 10));
    EXPECT_NE(log.find("signal-refused"), std::string::npos) << log;
    EXPECT_NE(log.find("environ-refused"), std::string::npos) << log;
    EXPECT_NE(log.find("secret-refused"), std::string::npos) << log;
    EXPECT_NE(log.find("dev-unlistable"), std::string::npos) << log;
    // Its PID namespace is its group's: the other group's processes are not there.
    EXPECT_EQ(log.find(i < 2 ? "second-group" : "first-group"), std::string::npos) << log;
    EXPECT_NE(log.find("CapEff: 0000000000000000 NoNewPrivs: 1"), std::string::npos) << log;
    // Nothing of its init's: only stdin, stdout, stderr (and the directory ls reads).
    EXPECT_NE(log.find("fds=0 1 2 3\n"), std::string::npos) << log;
  }
  EXPECT_EQ(uids.size(), 4u) << "a uid of its own for every device";
}

TEST_F(NsGroupTest, ROOT_ACrashAForkBombAndAnOomKillEachFailOnlyTheirDevice) {
  // A group has one /app: the neighbour is a test app too.
  std::vector<InstanceSpec> specs{member(0, KUIGA_TEST_APPS, "echo_console", {}, 4),
                                  member(1, KUIGA_TEST_APPS, "exit_code", {"3"}, 4),
                                  member(2, KUIGA_TEST_APPS, "forkbomb", {}, 4),
                                  member(3, KUIGA_TEST_APPS, "memhog", {}, 4)};
  for (auto& s : specs) {
    s.limits.pids = 16;
    s.limits.memoryBytes = 48ull << 20;
  }
  auto ids = idsOf(specs);
  ASSERT_CREATED(rt().create(specs));
  rt().start(ids);  // exit_code may have failed already: start says so, and that is right
  for (uint32_t i = 1; i < 4; ++i)
    EXPECT_EQ(waitState(ids[i], S::Failed, 30000), S::Failed) << displayName(ids[i]);
  EXPECT_NE(rt().status(ids[1])->reason.find("exited with code 3"), std::string::npos)
      << rt().status(ids[1])->reason;
  // RLIMIT_NPROC of its own uid: 16 processes, the bomb's and no one else's.
  EXPECT_NE(rt().status(ids[2])->reason.find("fork failed after 15 children"), std::string::npos)
      << rt().status(ids[2])->reason;
  EXPECT_NE(rt().status(ids[3])->reason.find("memory limit reached"), std::string::npos)
      << rt().status(ids[3])->reason;
  EXPECT_EQ(rt().status(ids[0])->state, S::Running);
  ASSERT_TRUE(rt().console(ids[0], "still there"));
  EXPECT_TRUE(waitLog(ids[0], "got: still there")) << "the neighbour runs on: " << readLog(ids[0]);
}

TEST_F(NsGroupTest, ROOT_DevicesOfAGroupMustShareItsAppDirectory) {
  auto a = member(0, KUIGA_EXAMPLES, "periodic");
  auto b = member(1, KUIGA_TEST_APPS, "echo_console");
  auto created = rt().create(std::vector{a, b});
  ASSERT_EQ(created.failed.size(), 1u);
  EXPECT_EQ(created.failed[0].first, b.id);
  EXPECT_NE(created.failed[0].second.message.find("another app directory"), std::string::npos);
}

TEST_F(NsGroupTest, ROOT_AGroupsInitKilledFailsItsDevicesWithTheReason) {
  std::vector<InstanceSpec> specs;
  for (uint32_t i = 0; i < 4; ++i)
    specs.push_back(member(i, KUIGA_EXAMPLES, "periodic", {"0", "100"}, 2));
  auto ids = idsOf(specs);
  ASSERT_CREATED(rt().create(specs));
  ASSERT_TRUE(rt().start(ids).allOk());
  ASSERT_EQ(::kill(rt().status(ids[0])->pid, SIGKILL), 0);
  for (uint32_t i = 0; i < 2; ++i) {
    ASSERT_EQ(waitState(ids[i], S::Failed), S::Failed);
    EXPECT_NE(rt().status(ids[i])->reason.find("its group's init (r1-g0) killed by signal 9"),
              std::string::npos)
        << rt().status(ids[i])->reason;
  }
  EXPECT_EQ(rt().status(ids[2])->state, S::Running) << "the other group lives";
  // Its group has ended: a device for it is refused until the group's devices are removed.
  auto again = member(1, KUIGA_EXAMPLES, "periodic", {"0", "100"}, 2);
  again.id.index = 1;
  EXPECT_FALSE(rt().create({&again, 1}).allOk());
  ASSERT_TRUE(rt().remove(std::vector{ids[0], ids[1]}).allOk());
  ASSERT_TRUE(rt().create({&again, 1}).allOk());
}

TEST_F(NsGroupTest, ROOT_TheConsoleReachesOneDeviceOfItsGroup) {
  std::vector<InstanceSpec> specs{member(0, KUIGA_TEST_APPS, "echo_console"),
                                  member(1, KUIGA_TEST_APPS, "echo_console")};
  auto ids = idsOf(specs);
  ASSERT_CREATED(rt().create(specs));
  ASSERT_TRUE(rt().start(ids).allOk());
  ASSERT_TRUE(rt().console(ids[1], "help"));
  ASSERT_TRUE(rt().console(ids[1], "ifconfig"));
  EXPECT_TRUE(waitLog(ids[1], "got: ifconfig")) << readLog(ids[1]);
  EXPECT_NE(readLog(ids[1]).find("got: help"), std::string::npos);
  EXPECT_EQ(readLog(ids[0]).find("got:"), std::string::npos) << readLog(ids[0]);
}

TEST_F(NsGroupTest, ROOT_WhatAGroupCannotRunIsRefusedWithAReason) {
  auto tun = member(0, KUIGA_EXAMPLES, "periodic");
  tun.net = NetMode::Tun;
  auto tap = member(1, KUIGA_EXAMPLES, "periodic");
  tap.net = NetMode::Tap;
  auto huge = member(2, KUIGA_EXAMPLES, "periodic", {}, kMaxGroupSize + 1);
  auto missing = member(3, KUIGA_EXAMPLES, "no-such-aut");
  std::vector<InstanceSpec> specs{tun, tap, huge, missing};
  auto created = rt().create(specs);
  ASSERT_EQ(created.failed.size(), 4u);
  EXPECT_NE(created.failed[0].second.message.find("net tun gives each device an interface"),
            std::string::npos)
      << created.failed[0].second.message;
  EXPECT_NE(created.failed[1].second.message.find("needs isolation instance"), std::string::npos);
  EXPECT_NE(created.failed[2].second.message.find("group_size 5001"), std::string::npos);
  EXPECT_NE(created.failed[3].second.message.find("no such file"), std::string::npos);
  // An AUT that cannot be exec'd fails its device with the reason, like an isolated one.
  test::TempDir app;
  ::chmod(app.path().c_str(), 0755);
  std::ofstream(app.path() + "/not-exec") << "plain text\n";
  auto bad = member(4, app.path(), "not-exec");
  ASSERT_TRUE(rt().create({&bad, 1}).allOk());
  EXPECT_FALSE(rt().start({&bad.id, 1}).allOk());
  EXPECT_NE(rt().status(bad.id)->reason.find("cannot exec /app/not-exec"), std::string::npos)
      << rt().status(bad.id)->reason;
}

TEST_F(NsGroupTest, ROOT_GroupsOnTheRadioNetworkShareAnAddressAndAreToldApartByPort) {
  // Two groups of two on veth: r1-g0 holds devices 0 and 1 at 10.1.0.1 (device 0's address),
  // r1-g1 devices 2 and 3 at 10.1.0.3. Devices 0 and 1 listen on their own ports; 2 and 3
  // send to them across the radio network, and each sink answers its own sender.
  const std::string holder = ipv4Address(addressHolder({1, 1}, 2));
  ASSERT_EQ(holder, ipv4Address({1, 0}));
  auto port = [](uint32_t i) { return std::to_string(devicePort({1, i}, 2)); };
  ASSERT_EQ(port(0), "17754");
  ASSERT_EQ(port(1), "17755");
  std::vector<InstanceSpec> specs{
      member(0, KUIGA_EXAMPLES, "udp-sensor", {"sink", port(0), "--echo"}, 2),
      member(1, KUIGA_EXAMPLES, "udp-sensor", {"sink", port(1), "--echo"}, 2),
      member(2, KUIGA_EXAMPLES, "udp-sensor", {"send", holder, port(0), "100", "0", "--replies"},
             2),
      member(3, KUIGA_EXAMPLES, "udp-sensor", {"send", holder, port(1), "100", "0", "--replies"},
             2)};
  for (auto& s : specs) s.net = NetMode::Veth;
  auto ids = idsOf(specs);
  ASSERT_CREATED(rt().create(specs));
  ASSERT_TRUE(rt().start(ids).allOk());
  const std::string sender = ipv4Address(addressHolder({1, 2}, 2));  // 10.1.0.3, r1-g1's
  // A group's hostname is its group's: the sinks know their senders by address and port.
  for (uint32_t i : {0u, 1u})
    EXPECT_TRUE(waitLog(ids[i], sender + ": reading", 10000)) << readLog(ids[i]);
  for (uint32_t i : {2u, 3u}) EXPECT_TRUE(waitLog(ids[i], "reply", 10000)) << readLog(ids[i]);
  auto links = rt().radioLinks();
  ASSERT_TRUE(links);
  EXPECT_EQ(links->size(), 2u) << "one link per group, not per device";
  ASSERT_TRUE(rt().stop(ids, 1s).allOk());
  ASSERT_TRUE(rt().remove(ids).allOk());
  for (int i = 0; i < 100 && !rt().radioLinks()->empty(); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(rt().radioLinks()->empty());
}

TEST_F(NsGroupTest, ROOT_AnInitThatStopsTakingCommandsIsKilledAndItsDevicesSayWhy) {
  config_.groupCommandTimeout = 1s;
  openRuntime();
  auto first = member(0, KUIGA_TEST_APPS, "echo_console");
  ASSERT_CREATED(rt().create({&first, 1}));
  ASSERT_TRUE(rt().start({&first.id, 1}).allOk());
  const pid_t init = rt().status(first.id)->pid;
  ASSERT_EQ(::kill(init, SIGSTOP), 0);
  // Two adds of 600 KiB each: the second no longer fits the control pipe and stays
  // half-written, which would make the init read what follows as its payload.
  std::vector<InstanceSpec> big;
  for (uint32_t i = 1; i < 3; ++i)
    big.push_back(member(i, KUIGA_TEST_APPS, "echo_console",
                         std::vector<std::string>(6, std::string(100000, 'a' + i))));
  auto created = rt().create(big);
  ASSERT_FALSE(created.failed.empty());
  bool halfWritten = false;
  for (const auto& [id, e] : created.failed)
    halfWritten |=
        e.message.find("took no command for 1000 ms; its group is ended") != std::string::npos;
  EXPECT_TRUE(halfWritten) << created.failed.front().second.message;
  ASSERT_EQ(waitState(first.id, S::Failed), S::Failed);
  EXPECT_NE(rt().status(first.id)->reason.find(
                "its group's init (r1-g0) killed by the worker: it took no command for 1000 ms, "
                "with one half-written"),
            std::string::npos)
      << rt().status(first.id)->reason;
  EXPECT_NE(::kill(init, 0), 0) << "the stopped init is gone";
}

TEST_F(NsGroupTest, ROOT_ADeviceWhoseDirectoryCannotBeMadeFailsAloneWithTheReason) {
  auto first = member(0, KUIGA_TEST_APPS, "echo_console");
  ASSERT_CREATED(rt().create({&first, 1}));
  ASSERT_TRUE(rt().start({&first.id, 1}).allOk());
  // Device 1's private directory is taken before it comes.
  const std::string dir = fmt::format("/proc/{}/root/run/dev/1", rt().status(first.id)->pid);
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0) << std::strerror(errno);
  auto second = member(1, KUIGA_TEST_APPS, "echo_console");
  auto created = rt().create({&second, 1});
  ASSERT_EQ(created.failed.size(), 1u);
  EXPECT_NE(created.failed[0].second.message.find("device set-up failed at add: File exists"),
            std::string::npos)
      << created.failed[0].second.message;
  ASSERT_TRUE(rt().console(first.id, "still there"));
  EXPECT_TRUE(waitLog(first.id, "got: still there")) << readLog(first.id);
}

// A group's init out of descriptors cannot give a device its pipes: that device's start fails
// with the stage and the reason, and its neighbour, already running, runs on.
TEST_F(NsGroupTest, ROOT_ADeviceWhosePipesCannotBeMadeFailsItsStartAlone) {
  std::vector<InstanceSpec> specs{member(0, KUIGA_TEST_APPS, "echo_console"),
                                  member(1, KUIGA_TEST_APPS, "echo_console")};
  auto ids = idsOf(specs);
  ASSERT_CREATED(rt().create(specs));
  ASSERT_TRUE(rt().start({&ids[0], 1}).allOk());
  const pid_t init = rt().status(ids[0])->pid;
  rlimit old{};
  ASSERT_EQ(::prlimit(init, RLIMIT_NOFILE, nullptr, &old), 0) << std::strerror(errno);
  // Every descriptor init holds stays; it gets no new one. The hard limit stays too, since
  // raising it back takes CAP_SYS_RESOURCE, which a worker may lack.
  const rlimit one{1, old.rlim_max};
  ASSERT_EQ(::prlimit(init, RLIMIT_NOFILE, &one, nullptr), 0) << std::strerror(errno);
  auto started = rt().start({&ids[1], 1});
  ASSERT_EQ(::prlimit(init, RLIMIT_NOFILE, &old, nullptr), 0) << std::strerror(errno);
  const std::string why = "cannot start the AUT (pipe): Too many open files";
  ASSERT_EQ(started.failed.size(), 1u);
  EXPECT_NE(started.failed[0].second.message.find(why), std::string::npos)
      << started.failed[0].second.message;
  EXPECT_EQ(rt().status(ids[1])->state, S::Failed);
  ASSERT_TRUE(rt().console(ids[0], "still there"));
  EXPECT_TRUE(waitLog(ids[0], "got: still there")) << readLog(ids[0]);
  EXPECT_EQ(rt().status(ids[0])->state, S::Running);
}

TEST_F(NsGroupTest, ROOT_ADeviceThatCannotBeRecordedForRecoveryIsNotCreated) {
  auto first = member(0, KUIGA_TEST_APPS, "echo_console");
  ASSERT_CREATED(rt().create({&first, 1}));
  // The group's report file ends on a page boundary, and the instances' tmpfs is shrunk to
  // what it holds: the next record needs a page the disk does not have.
  const std::string report = groupDir("r1-g0") + "/report",
                    mount = "/run/kuiga/" + config_.name + "/instances";
  struct stat st {};
  ASSERT_EQ(::stat(report.c_str(), &st), 0);
  if (const size_t pad = (4096 - st.st_size % 4096) % 4096; pad > 0)
    std::ofstream(report, std::ios::app) << std::string(pad - 1, ' ') << '\n';
  struct Restore {
    std::string path;
    ~Restore() { (void)::mount(nullptr, path.c_str(), nullptr, MS_REMOUNT, "size=1g"); }
  } restore{mount};
  struct statvfs fs {};
  ASSERT_EQ(::statvfs(mount.c_str(), &fs), 0);
  const auto used = (fs.f_blocks - fs.f_bfree) * fs.f_frsize;
  ASSERT_EQ(
      ::mount(nullptr, mount.c_str(), nullptr, MS_REMOUNT, fmt::format("size={}", used).c_str()), 0)
      << std::strerror(errno);
  auto second = member(1, KUIGA_TEST_APPS, "echo_console");
  auto created = rt().create({&second, 1});
  ASSERT_EQ(created.failed.size(), 1u);
  EXPECT_NE(created.failed[0].second.message.find("record the device for recovery in '" + report +
                                                  "': No space left on device"),
            std::string::npos)
      << created.failed[0].second.message;
  // The disk has room again: the group takes the next device, and its first one still runs.
  ASSERT_EQ(::mount(nullptr, mount.c_str(), nullptr, MS_REMOUNT, "size=1g"), 0);
  auto third = member(2, KUIGA_TEST_APPS, "echo_console");
  ASSERT_CREATED(rt().create({&third, 1}));
  std::vector<InstanceId> both{first.id, third.id};
  ASSERT_TRUE(rt().start(both).allOk());
  ASSERT_TRUE(rt().console(third.id, "recorded"));
  EXPECT_TRUE(waitLog(third.id, "got: recorded")) << readLog(third.id);
  ASSERT_TRUE(rt().console(first.id, "still there"));
  EXPECT_TRUE(waitLog(first.id, "got: still there")) << readLog(first.id);
}

TEST_F(NsGroupTest, ROOT_AGroupWhoseInitCannotSetUpFailsItsDevicesWithTheStage) {
  // The init opens the worker's seccomp filter while it sets up: take it away.
  ASSERT_EQ(::unlink(("/run/kuiga/" + config_.name + "/seccomp.bpf").c_str()), 0)
      << std::strerror(errno);
  std::vector<InstanceSpec> specs{member(0, KUIGA_EXAMPLES, "periodic"),
                                  member(1, KUIGA_EXAMPLES, "periodic")};
  auto created = rt().create(specs);
  ASSERT_EQ(created.failed.size(), 2u);
  for (const auto& [id, e] : created.failed)
    EXPECT_NE(e.message.find("group r1-g0 set-up failed at open-seccomp: No such file"),
              std::string::npos)
        << e.message;
  EXPECT_EQ(groupInits(), 0);
}

TEST_F(NsGroupTest, ROOT_GarbageOnAGroupsOutputIsSkipped) {
  std::vector<InstanceSpec> specs{member(0, KUIGA_TEST_APPS, "echo_console"),
                                  member(1, KUIGA_TEST_APPS, "echo_console")};
  auto ids = idsOf(specs);
  ASSERT_CREATED(rt().create(specs));
  ASSERT_TRUE(rt().start(ids).allOk());
  // Lines that are no frame, a frame for no device, and records that name none.
  const std::string junk = "garbage\no x y\no 77 3\nabcr\nr exit 99 0\nr bogus 1 2\nr exit\n";
  sys::UniqueFd out(::open((groupDir("r1-g0") + "/output").c_str(), O_WRONLY | O_NONBLOCK));
  ASSERT_TRUE(out) << std::strerror(errno);
  ASSERT_EQ(::write(out.get(), junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  for (const auto& id : ids) {
    ASSERT_TRUE(rt().console(id, "after the junk"));
    EXPECT_TRUE(waitLog(id, "got: after the junk")) << readLog(id);
    EXPECT_EQ(rt().status(id)->state, S::Running) << rt().status(id)->reason;
  }
}

TEST_F(NsGroupTest, ROOT_ADevicesHelpersGoWhenItsMainProcessEnds) {
  test::TempDir app;
  ::chmod(app.path().c_str(), 0755);
  // Helpers in the background, one of them undumpable-proof by being a plain sleep, and one
  // that starts a session of its own; then the main process ends.
  std::ofstream(app.path() + "/helpers")
      << "#!/bin/sh\nsleep 1000 &\nsetsid sleep 1000 &\necho \"uid=$(id -u)\"\nexec sleep 0.3\n";
  std::ofstream(app.path() + "/stay") << "#!/bin/sh\nexec sleep 1000\n";
  ::chmod((app.path() + "/helpers").c_str(), 0755);
  ::chmod((app.path() + "/stay").c_str(), 0755);
  std::vector<InstanceSpec> specs{member(0, app.path(), "helpers"), member(1, app.path(), "stay")};
  auto ids = idsOf(specs);
  ASSERT_CREATED(rt().create(specs));
  ASSERT_TRUE(rt().start(ids).allOk());
  ASSERT_TRUE(waitLog(ids[0], "uid=")) << readLog(ids[0]);
  const std::string log = readLog(ids[0]);
  const uid_t uid = static_cast<uid_t>(std::stoul(log.substr(log.find("uid=") + 4)));
  ASSERT_EQ(waitState(ids[0], S::Terminated), S::Terminated) << rt().status(ids[0])->reason;
  auto processesOf = [](uid_t u) {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      struct stat st;
      if (std::isdigit(e.path().filename().string()[0]) && ::stat(e.path().c_str(), &st) == 0 &&
          st.st_uid == u)
        ++n;
    }
    return n;
  };
  for (int i = 0; i < 100 && processesOf(uid) > 0; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(processesOf(uid), 0) << "the device's helpers outlived it";
  EXPECT_EQ(rt().status(ids[1])->state, S::Running) << "its neighbour runs on";
  // One pass took both helpers and a second found nothing new: no kill(-1), which walks every
  // task of the host (a zombie or an exiting helper seen again once made every sweep fall back).
  std::ifstream report(groupDir("r1-g0") + "/report");
  int sweeps = 0, helpersKilled = 0;
  for (std::string line; std::getline(report, line);) {
    size_t uids = 0;
    int passes = 0, killed = 0, fallback = 0;
    if (std::sscanf(line.c_str(), "swept %zu %d %d %d", &uids, &passes, &killed, &fallback) != 4)
      continue;
    ++sweeps;
    helpersKilled += killed;
    EXPECT_EQ(fallback, 0) << line;
    EXPECT_LE(passes, 2) << line;
  }
  EXPECT_GE(sweeps, 1);
  EXPECT_EQ(helpersKilled, 2);
}

}  // namespace kuiga::worker
