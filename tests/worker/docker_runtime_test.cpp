// The docker runtime against a real Docker engine: Debian's dockerd, started for these tests by
// tests/support/dockerd.sh as a CTest fixture (its socket arrives in $KUIGA_TEST_DOCKER_DIR).
#include "worker/docker/docker_runtime.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "plexer/capture/run_capture.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/leak_check.hpp"
#include "tests/support/shell.hpp"
#include "worker/docker/follower.hpp"
#include "worker/docker/image_builder.hpp"

namespace kuiga::worker::docker {
namespace {

namespace fs = std::filesystem;
using S = InstanceState;
using test::TempDir;

std::string dockerSocket() {
  const char* dir = std::getenv("KUIGA_TEST_DOCKER_DIR");
  return dir ? std::string(dir) + "/docker.sock" : "";
}

// Podman's compatible service differs in two things the tests see: it reports no OOM kill
// (a memory-limit kill is "killed by signal 9"), and its log times have whole seconds (after a
// restart, lines of the second the worker stopped in may come twice).
bool onPodman(const DockerRuntime& rt) {
  return rt.engine().engineName().find("Podman") != std::string::npos;
}

std::string gatePath() {
  return (fs::path(KUIGA_INIT_PATH).parent_path() / "kuiga-gate").string();
}

class DockerRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root (namespaces, the radio network)";
    }
    ASSERT_FALSE(dockerSocket().empty())
        << "no Docker engine: run through ctest (fixture dockerd_start)";
    name_ = test::uniqueName();
    open();
  }
  void TearDown() override {
    if (rt_) {
      EXPECT_TRUE(rt_->destroyAll());
    }
  }
  void open() {
    DockerRuntimeConfig c;
    c.name = name_;
    c.stateDir = dir_.path() + "/state";
    c.socket = dockerSocket();
    c.gatePath = gatePath();
    auto rt = DockerRuntime::open(c, [this](const std::vector<InstanceEvent>& evs) {
      std::lock_guard lock(evMu_);
      events_.insert(events_.end(), evs.begin(), evs.end());
    });
    ASSERT_TRUE(rt) << rt.error().message;
    rt_ = std::move(*rt);
  }
  InstanceSpec spec(uint32_t index, const std::string& dir, const std::string& exe,
                    std::vector<std::string> args = {}) {
    return test::instanceSpec(index, dir, exe, std::move(args));
  }
  std::string readLog(InstanceId id) {
    std::ifstream in(rt_->logPath(id));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  bool waitLog(InstanceId id, const std::string& text, int ms = 15000) {
    return test::eventually([&] { return readLog(id).find(text) != std::string::npos; }, ms);
  }
  S waitState(InstanceId id, S want, int ms = 20000) {
    test::eventually(
        [&] {
          auto s = rt_->status(id);
          return s && s->state == want;
        },
        ms);
    auto s = rt_->status(id);
    return s ? s->state : S::Pending;
  }
  int containerStatus(InstanceId id) {
    auto r = rt_->engine().call("GET", "/containers/" + rt_->containerName(id) + "/json");
    return r ? static_cast<int>(r->status) : -1;
  }

  TempDir dir_;
  std::string name_;
  std::unique_ptr<DockerRuntime> rt_;
  std::mutex evMu_;
  std::vector<InstanceEvent> events_;
};

TEST_F(DockerRuntimeTest, ROOT_ALifeCycleFromCreateToRemove) {
  std::vector<InstanceSpec> specs;
  for (uint32_t i = 0; i < 3; ++i)
    specs.push_back(spec(i, KUIGA_EXAMPLES, "periodic", {"0", "50"}));
  auto created = rt_->create(specs);
  ASSERT_TRUE(created.allOk()) << created.failed.front().second.message;
  for (const auto& s : specs) {
    EXPECT_EQ(rt_->status(s.id)->state, S::Booting);
    EXPECT_EQ(containerStatus(s.id), 200);
  }
  // Booting: the network is there, the AUT is held back by the gate (no output yet).
  auto pid = rt_->status(specs[1].id)->pid;
  auto addr = test::commandOutput(fmt::format("nsenter -t {} -n ip -o addr show eth0", pid));
  EXPECT_NE(addr.find("inet " + ipv4Address(specs[1].id) + "/16"), std::string::npos) << addr;
  EXPECT_NE(addr.find(ipv6Address(specs[1].id)), std::string::npos) << addr;
  auto links = rt_->radioLinks();
  ASSERT_TRUE(links);
  EXPECT_EQ(links->size(), 3u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(readLog(specs[0].id), "");

  std::vector<InstanceId> ids;
  for (const auto& s : specs) ids.push_back(s.id);
  ASSERT_TRUE(rt_->start(ids).allOk());
  for (const auto& id : ids) {
    EXPECT_EQ(rt_->status(id)->state, S::Running);
    // periodic prints "wakeup_ms sleep_ms start_ms n" lines (start 0); the log has its timestamps.
    EXPECT_TRUE(waitLog(id, " 3\n")) << readLog(id);
  }
  // The AUT runs under the gate's PID as the instance's unprivileged user, capabilities gone.
  auto status = test::commandOutput(
      fmt::format("cat /proc/$(cat /proc/{}/task/{}/children | cut -d' ' -f1)/status", pid, pid));
  EXPECT_NE(status.find(fmt::format("Uid:\t{}", 200000 + 1)), std::string::npos) << status;
  EXPECT_NE(status.find("CapEff:\t0000000000000000"), std::string::npos) << status;
  EXPECT_NE(status.find("NoNewPrivs:\t1"), std::string::npos) << status;

  ASSERT_TRUE(rt_->stop(ids, std::chrono::milliseconds(2000)).allOk());
  for (const auto& id : ids) EXPECT_EQ(rt_->status(id)->state, S::Terminated);
  ASSERT_TRUE(rt_->remove(ids).allOk());
  for (const auto& id : ids) {
    EXPECT_FALSE(rt_->status(id));
    EXPECT_EQ(containerStatus(id), 404);
  }
  EXPECT_TRUE(test::eventually([&] { return rt_->radioLinks()->empty(); }));
  // Each instance went pending, prolog, booting, running, shutting down, terminated.
  std::lock_guard lock(evMu_);
  std::vector<S> seen;
  for (const auto& e : events_)
    if (e.id == ids[0]) seen.push_back(e.state);
  EXPECT_EQ(seen, (std::vector<S>{S::Pending, S::Prolog, S::Booting, S::Running, S::ShuttingDown,
                                  S::Terminated}));
}

TEST_F(DockerRuntimeTest, ROOT_ExitsMapOntoStates) {
  auto ok = spec(0, KUIGA_TEST_APPS, "exit_code", {"0"});
  auto bad = spec(1, KUIGA_TEST_APPS, "exit_code", {"3"});
  auto hog = spec(2, KUIGA_TEST_APPS, "memhog");
  hog.limits.memoryBytes = 32ull << 20;
  auto bomb = spec(3, KUIGA_TEST_APPS, "forkbomb");
  bomb.limits.pids = 20;
  std::vector<InstanceSpec> specs{ok, bad, hog, bomb};
  ASSERT_TRUE(rt_->create(specs).allOk());
  std::vector<InstanceId> ids{ok.id, bad.id, hog.id, bomb.id};
  ASSERT_TRUE(rt_->start(ids).allOk());
  EXPECT_EQ(waitState(ok.id, S::Terminated), S::Terminated);
  EXPECT_EQ(waitState(bad.id, S::Failed), S::Failed);
  EXPECT_NE(rt_->status(bad.id)->reason.find("exited with code 3"), std::string::npos)
      << rt_->status(bad.id)->reason;
  // The final state waited for the last output: the log has it, the reason quotes it.
  EXPECT_NE(readLog(bad.id).find("about to exit with 3"), std::string::npos);
  EXPECT_NE(rt_->status(bad.id)->reason.find("its last line: \"about to exit with 3\""),
            std::string::npos)
      << rt_->status(bad.id)->reason;
  EXPECT_EQ(waitState(hog.id, S::Failed), S::Failed);
  EXPECT_NE(rt_->status(hog.id)->reason.find(onPodman(*rt_) ? "killed by signal 9"
                                                            : "killed for exceeding its memory "
                                                              "limit (32 MiB)"),
            std::string::npos)
      << rt_->status(hog.id)->reason;
  // limits.pids counts the AUT's processes, as for an isolated instance: not Docker's init.
  EXPECT_EQ(waitState(bomb.id, S::Failed), S::Failed);
  EXPECT_NE(rt_->status(bomb.id)->reason.find("fork failed after 19 children"), std::string::npos)
      << rt_->status(bomb.id)->reason;
}

TEST_F(DockerRuntimeTest, ROOT_AnAutThatCannotRunFailsWithItsReason) {
  // A missing shared library is found at image build time and named.
  TempDir d;
  fs::copy_file(std::string(KUIGA_TEST_APPS) + "/needs_lib", d.path() + "/needs_lib");
  ::chmod(d.path().c_str(), 0755);
  auto s = spec(0, d.path(), "needs_lib");
  auto r = rt_->create({&s, 1});
  ASSERT_EQ(r.failed.size(), 1u);
  EXPECT_NE(r.failed[0].second.message.find("libkuigamissing.so"), std::string::npos)
      << r.failed[0].second.message;
  EXPECT_EQ(rt_->status(s.id)->state, S::Failed);
  EXPECT_EQ(containerStatus(s.id), 404);
}

TEST_F(DockerRuntimeTest, ROOT_ConsoleReachesStdin) {
  auto s = spec(0, KUIGA_TEST_APPS, "echo_console");
  ASSERT_TRUE(rt_->create({&s, 1}).allOk());
  ASSERT_TRUE(rt_->start({&s.id, 1}).allOk());
  auto first = rt_->console(s.id, "hello from the console");
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(waitLog(s.id, "got: hello from the console")) << readLog(s.id);
  std::string longLine(150, 'x');
  auto second = rt_->console(s.id, longLine);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_TRUE(waitLog(s.id, "got: " + longLine)) << readLog(s.id);
}

TEST_F(DockerRuntimeTest, ROOT_TheConsoleIsPacedForA64ByteShell) {
  auto s = spec(0, KUIGA_TEST_APPS, "riot_shell");
  ASSERT_TRUE(rt_->create({&s, 1}).allOk());
  ASSERT_TRUE(rt_->start({&s.id, 1}).allOk());
  ASSERT_TRUE(waitLog(s.id, "helper ")) << readLog(s.id);
  // Three lines one after the other: a 206-byte one, then two short ones; the shell reads 64
  // bytes at a time and loses what else is waiting.
  for (const auto& l : test::threeConsoleLines()) {
    auto r = rt_->console(s.id, l);
    ASSERT_TRUE(r) << r.error().message;
  }
  ASSERT_TRUE(waitLog(s.id, "echo: third")) << readLog(s.id);
  test::expectThreeConsoleLinesWhole(readLog(s.id));
}

TEST_F(DockerRuntimeTest, ROOT_DevicesTalkOverTheRadioNetworkAndThePlexerSeesThem) {
  auto capture = plexer::RunCapture::start(rt_->radioNetnsFd(), dir_.path() + "/pcap");
  ASSERT_TRUE(capture) << capture.error().message;
  auto sink = spec(0, KUIGA_EXAMPLES, "udp-sensor", {"sink", "9000", "--echo"});
  auto sensor = spec(1, KUIGA_EXAMPLES, "udp-sensor",
                     {"send", ipv4Address(sink.id), "9000", "100", "10", "--replies"});
  std::vector<InstanceSpec> specs{sink, sensor};
  ASSERT_TRUE(rt_->create(specs).allOk());
  for (const auto& s : specs) ASSERT_TRUE((*capture)->addInstance(s.id));
  ASSERT_TRUE(rt_->start({&sink.id, 1}).allOk());
  ASSERT_TRUE(waitLog(sink.id, "listening")) << readLog(sink.id);
  ASSERT_TRUE(rt_->start({&sensor.id, 1}).allOk());
  EXPECT_EQ(waitState(sensor.id, S::Terminated), S::Terminated) << readLog(sensor.id);
  EXPECT_NE(readLog(sensor.id).find("reply ack reading 10 from run-1-dev-0001"), std::string::npos)
      << readLog(sensor.id);
  auto report = (*capture)->report(1);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(report->size(), 2u);
  for (const auto& d : *report) {
    // Ten datagrams each way at least (plus ARP and neighbour discovery), none missed.
    EXPECT_GE(d.captured.sentFrames, 10u) << d.name;
    EXPECT_GE(d.captured.deliveredFrames, 10u) << d.name;
    EXPECT_EQ(d.missedFrames, 0u) << d.name;
  }
  rt_->stop(std::vector<InstanceId>{sink.id}, std::chrono::milliseconds(1000));
}

TEST_F(DockerRuntimeTest, ROOT_TapDevicesHearEachOtherAsRiotNativeAppsDo) {
  // Unprivileged AUTs open their tap0 through /dev/net/tun as RIOT native does and broadcast
  // raw frames; the radio network carries them between the containers.
  std::vector<InstanceSpec> specs;
  for (uint32_t i = 0; i < 2; ++i)
    specs.push_back(
        test::instanceSpec(i, KUIGA_TEST_APPS, "tap_frames", {"tap0", "30"}, NetMode::Tap));
  auto created = rt_->create(specs);
  ASSERT_TRUE(created.allOk()) << created.failed.front().second.message;
  std::vector<InstanceId> ids{specs[0].id, specs[1].id};
  ASSERT_TRUE(rt_->start(ids).allOk());
  for (const auto& id : ids) EXPECT_EQ(waitState(id, S::Terminated), S::Terminated) << readLog(id);
  auto a = readLog(ids[0]), b = readLog(ids[1]);
  EXPECT_NE(a.find("attached to tap0 as run-1-dev-0000"), std::string::npos) << a;
  EXPECT_NE(a.find("heard run-1-dev-0001"), std::string::npos) << a;
  EXPECT_NE(b.find("heard run-1-dev-0000"), std::string::npos) << b;
}

TEST_F(DockerRuntimeTest, ROOT_ARestartedRuntimeReadoptsRunningContainersAndReapsEndedOnes) {
  auto keep = spec(0, KUIGA_EXAMPLES, "periodic", {"0", "50"});
  auto ends = spec(1, KUIGA_TEST_APPS, "exit_code", {"0"});
  std::vector<InstanceSpec> specs{keep, ends};
  ASSERT_TRUE(rt_->create(specs).allOk());
  std::vector<InstanceId> ids{keep.id, ends.id};
  ASSERT_TRUE(rt_->start(ids).allOk());
  ASSERT_TRUE(waitLog(keep.id, " 5\n"));
  EXPECT_EQ(waitState(ends.id, S::Terminated), S::Terminated);
  rt_.reset();  // the worker goes; its containers stay
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  open();
  auto rep = rt_->recover();
  ASSERT_TRUE(rep) << rep.error().message;
  EXPECT_EQ(rep->adopted, 1u);
  EXPECT_EQ(rep->reaped, 1u);
  EXPECT_EQ(rt_->status(keep.id)->state, S::Running);
  EXPECT_EQ(containerStatus(ends.id), 404);
  // The log goes on, with no line lost and none written twice (on Podman, at most the lines
  // of one second, 20 at this period, twice).
  ASSERT_TRUE(waitLog(keep.id, " 30\n")) << readLog(keep.id);
  auto log = readLog(keep.id);
  int twice = 0;
  for (int n = 1; n <= 30; ++n) {
    std::string tail = fmt::format(" {}\n", n);
    size_t first = log.find(tail);
    ASSERT_NE(first, std::string::npos) << "line " << n << " lost:\n" << log;
    if (log.find(tail, first + 1) != std::string::npos) ++twice;
  }
  EXPECT_LE(twice, onPodman(*rt_) ? 20 : 0) << log;
}

TEST(DockerEngine, AMissingEngineIsAClearError) {
  TempDir d;
  auto e = Engine::connect(d.path() + "/docker.sock");
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("is dockerd or `podman system service` running?"),
            std::string::npos)
      << e.error().message;
}

TEST(DockerEngine, APathThatIsNotASocketIsAClearError) {
  TempDir d;
  std::ofstream(d.path() + "/docker.sock") << "a file";
  auto e = Engine::connect(d.path() + "/docker.sock");
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("is not a unix socket"), std::string::npos) << e.error().message;
}

TEST(DockerImage, SharedLibrariesOfAnAut) {
  auto dyn = sharedLibraries(std::string(KUIGA_EXAMPLES) + "/periodic");
  ASSERT_TRUE(dyn) << dyn.error().message;
  bool libc = false, loader = false;
  for (const auto& l : *dyn) {
    libc = libc || l.find("/libc.so") != std::string::npos;
    loader = loader || l.find("ld-linux") != std::string::npos;
  }
  EXPECT_TRUE(libc && loader);
  auto none = sharedLibraries(KUIGA_INIT_PATH);  // static
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(DockerFollower, ParsesDockerTimes) {
  EXPECT_EQ(parseDockerTime("1970-01-01T00:00:01.5Z"), 1500000000);
  EXPECT_EQ(parseDockerTime("2026-11-28T09:20:29.795793168Z"), 1795857629795793168);
  EXPECT_EQ(parseDockerTime("not a time"), 0);
}

}  // namespace
}  // namespace kuiga::worker::docker
