// ROOT_ tests of worker crashes: `kuiga worker run` is killed with SIGKILL, and a new runtime
// re-adopts the instances it left, or reaps them when they died meanwhile.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "sys/file.hpp"
#include "sys/process.hpp"
#include "tests/support/leak_check.hpp"

namespace kuiga::worker {

using namespace std::chrono_literals;
using S = InstanceState;

class NsRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_UNLESS_ROOT();
    name_ = test::uniqueName();
    state_ = dir_.path() + "/state";
  }
  void TearDown() override {
    // Whatever happened, leave nothing: recover and destroy.
    if (name_.empty()) return;
    auto rt = open();
    if (rt) {
      (void)(*rt)->recover();
      EXPECT_TRUE((*rt)->destroyAll());
    }
  }
  Result<std::unique_ptr<ns::NsRuntime>> open() {
    ns::NsRuntimeConfig c;
    c.name = name_;
    c.stateDir = state_;
    c.initPath = ::kuiga::test::initPath();
    return ns::NsRuntime::open(c, {});
  }
  // Starts `kuiga worker run` with 5 periodic instances and kills it with SIGKILL once they run.
  void runAndKillWorker(const std::vector<std::string>& extra = {}) {
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    sys::UniqueFd r(p[0]), w(p[1]);
    sys::SpawnOptions o;
    o.path = KUIGA_KUIGA_PATH;
    o.argv = {
        "kuiga",   "worker",      "run",   "--app",  std::string(KUIGA_EXAMPLES) + "/periodic",
        "--count", "5",           "--arg", "0",      "--arg",
        "100",     "--state-dir", state_,  "--name", name_};
    o.argv.insert(o.argv.end(), extra.begin(), extra.end());
    o.fds = {{w.get(), 1}};
    auto worker = sys::spawn(o);
    ASSERT_TRUE(worker) << worker.error().message;
    w.reset();
    std::string out;
    char buf[256];
    ssize_t n;
    while (out.find("running") == std::string::npos && (n = ::read(r.get(), buf, sizeof buf)) > 0)
      out.append(buf, static_cast<size_t>(n));
    ASSERT_NE(out.find("running 5 of 5"), std::string::npos) << out;
    ASSERT_TRUE(worker->signal(SIGKILL));
    (void)worker->wait();
  }
  pid_t initPid(uint32_t index) { return initPidOf("r1-i" + std::to_string(index)); }
  pid_t initPidOf(const std::string& dir) {
    std::ifstream f(reportOf(dir));
    for (std::string line; std::getline(f, line);)
      if (line.rfind("state ", 0) == 0)
        return nlohmann::json::parse(line.substr(6)).value("pid", -1);
    return -1;
  }
  // A group's report is in its directory, an isolated instance's in its uid's slot on the state
  // disk (the slot whose state record names it), or "" when no slot names it.
  std::string reportOf(const std::string& dir) {
    if (dir.find("-g") != std::string::npos)
      return "/run/kuiga/" + name_ + "/instances/" + dir + "/report";
    unsigned run = 0, index = 0;
    EXPECT_EQ(std::sscanf(dir.c_str(), "r%u-i%u", &run, &index), 2) << dir;
    for (const auto& slot : reportSlots()) {
      std::ifstream f(slot);
      for (std::string line; std::getline(f, line);) {
        if (line.rfind("state ", 0) != 0) continue;
        auto j = nlohmann::json::parse(line.substr(6), nullptr, false);
        if (j.value("run", -1) == static_cast<int>(run) &&
            j.value("index", -1) == static_cast<int>(index))
          return slot;
        break;
      }
    }
    return "";
  }
  std::vector<std::string> reportSlots() {
    std::vector<std::string> out;
    if (DIR* d = ::opendir((state_ + "/reports").c_str())) {
      while (auto* e = ::readdir(d))
        if (e->d_name[0] == 'u') out.push_back(state_ + "/reports/" + e->d_name);
      ::closedir(d);
    }
    return out;
  }
  static off_t sizeOf(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
  }
  void append(const std::string& dir, const std::string& lines) {
    std::ofstream(reportOf(dir), std::ios::app) << lines;
  }
  int recordedUid(uint32_t index) {
    std::ifstream f(reportOf("r1-i" + std::to_string(index)));
    for (std::string line; std::getline(f, line);)
      if (line.rfind("state ", 0) == 0)
        return nlohmann::json::parse(line.substr(6)).value("uid", -1);
    return -1;
  }
  test::TempDir dir_;
  std::string name_, state_;
};

TEST_F(NsRecoveryTest, ROOT_Kill9ThenReadoptRunningInstances) {
  ASSERT_NO_FATAL_FAILURE(runAndKillWorker());
  std::this_thread::sleep_for(300ms);  // instances keep running and writing meanwhile
  auto rt = open();
  ASSERT_TRUE(rt) << rt.error().message;
  auto rep = (*rt)->recover();
  ASSERT_TRUE(rep) << rep.error().message;
  EXPECT_EQ(rep->adopted, 5u);
  EXPECT_EQ(rep->reaped, 0u);
  for (uint32_t i = 0; i < 5; ++i) {
    auto st = (*rt)->status({1, i});
    ASSERT_TRUE(st);
    EXPECT_EQ(st->state, S::Running);
  }
  // The log goes on: output written while no worker ran was kept in the FIFO.
  auto logLines = [&] {
    auto s = sys::readFile((*rt)->logPath({1, 0}));
    return s ? std::count(s->begin(), s->end(), '\n') : 0;
  };
  auto before = logLines();
  std::this_thread::sleep_for(500ms);
  EXPECT_GT(logLines(), before);
  // The recovery record keeps each instance's uid: a new instance gets none of theirs.
  std::set<int> adoptedUids;
  for (uint32_t i = 0; i < 5; ++i) adoptedUids.insert(recordedUid(i));
  EXPECT_EQ(adoptedUids.size(), 5u);
  EXPECT_FALSE(adoptedUids.count(-1));
  auto fresh = test::instanceSpec(0, KUIGA_TEST_APPS, "inotify_hog", {"one"}, NetMode::None);
  fresh.id = {2, 0};
  ASSERT_TRUE((*rt)->create(std::vector{fresh}).allOk());
  ASSERT_TRUE((*rt)->start(std::vector{fresh.id}).allOk());
  std::string log;
  for (int i = 0; i < 100 && log.find("uid ") == std::string::npos; ++i) {
    std::this_thread::sleep_for(50ms);
    log = sys::readFile((*rt)->logPath(fresh.id)).value_or("");
  }
  ASSERT_NE(log.find("uid "), std::string::npos) << log;
  EXPECT_FALSE(adoptedUids.count(std::atoi(log.c_str() + log.find("uid ") + 4))) << log;
  std::vector<InstanceId> ids{{1, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 4}, {2, 0}};
  ASSERT_TRUE((*rt)->stop(ids, 1s).allOk());
  for (const auto& id : ids) EXPECT_EQ((*rt)->status(id)->state, S::Terminated);
  ASSERT_TRUE((*rt)->destroyAll());
  EXPECT_TRUE(test::findLeaks().empty());
}

// A worker killed in a remove may leave a slot not yet emptied that names an instance made
// again later with another uid: the slot whose init still runs is the instance's.
TEST_F(NsRecoveryTest, ROOT_Kill9ThenReadoptFromTheSlotWhoseInitRuns) {
  ASSERT_NO_FATAL_FAILURE(runAndKillWorker());
  const std::string live = reportOf("r1-i0");
  ASSERT_FALSE(live.empty());
  // Two, so that a stale one comes before the live one in the directory's order and another
  // after it, whatever that order is.
  const std::vector<std::string> stale{state_ + "/reports/u1", state_ + "/reports/u99999999"};
  for (const auto& path : stale)
    std::ofstream(path) << "state {\"run\": 1, \"index\": 0, \"pid\": 1, \"start_time\": 1}\n"
                        << "ready\nstarted 2\nexit 3\n";
  auto rt = open();
  ASSERT_TRUE(rt) << rt.error().message;
  auto rep = (*rt)->recover();
  ASSERT_TRUE(rep) << rep.error().message;
  EXPECT_EQ(rep->adopted, 5u);
  EXPECT_EQ(rep->reaped, 2u);
  EXPECT_EQ((*rt)->status({1, 0})->state, S::Running);
  EXPECT_GT(sizeOf(live), 0);
  for (const auto& path : stale) EXPECT_EQ(sizeOf(path), 0) << path;
  // Removed, the instance leaves its slot empty for the next one with its uid.
  ASSERT_TRUE((*rt)->remove(std::vector<InstanceId>{{1, 0}}).allOk());
  EXPECT_EQ(sizeOf(live), 0);
}

TEST_F(NsRecoveryTest, ROOT_Kill9ThenReapInstancesThatDied) {
  ASSERT_NO_FATAL_FAILURE(runAndKillWorker());
  std::vector<pid_t> inits;
  for (uint32_t i = 0; i < 5; ++i) inits.push_back(initPid(i));
  // Only processes this test started: kill(-1) would be every process there is.
  for (pid_t p : inits) ASSERT_GT(p, 0);
  std::vector<std::string> slots;
  for (uint32_t i = 0; i < 5; ++i) slots.push_back(reportOf("r1-i" + std::to_string(i)));
  for (pid_t p : inits) ASSERT_EQ(::kill(p, SIGKILL), 0);
  for (pid_t p : inits)
    for (int i = 0; i < 200 && ::kill(p, 0) == 0; ++i) std::this_thread::sleep_for(10ms);
  auto rt = open();
  ASSERT_TRUE(rt);
  auto rep = (*rt)->recover();
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->adopted, 0u);
  EXPECT_GE(rep->reaped, 5u);
  EXPECT_TRUE((*rt)->list().empty());
  auto links = [&] {
    return (*rt)->recover().value().reaped;  // a second pass finds nothing left to reap
  };
  EXPECT_EQ(links(), 0u);
  for (uint32_t i = 0; i < 5; ++i) {
    EXPECT_FALSE(
        sys::cgroup::Cgroup::open((*rt)->cgroupLayout(), (*rt)->cgroupPath({1, i})).exists());
    // Its uid's slot stays, empty, for the next instance with that uid.
    EXPECT_EQ(sizeOf(slots[i]), 0) << slots[i];
  }
}

// After a reboot /run is empty, and the state disk still holds the reports of the instances
// that ran: the next start empties their uids' slots, and removes reports a worker from before
// the slots named by instance.
TEST_F(NsRecoveryTest, ROOT_ReportsThatOutlivedTheirInstancesAreReaped) {
  auto rt = open();
  ASSERT_TRUE(rt) << rt.error().message;
  const std::string reports = state_ + "/reports/";
  const std::vector<std::string> legacy{reports + "r1-i7", reports + "r3-i0"};
  const std::vector<std::string> slots{reports + "u70007", reports + "u70009"};
  for (const auto& path : legacy)
    std::ofstream(path) << "state {\"pid\": 1, \"start_time\": 1}\nready\n";
  std::ofstream(slots[0]) << "state {\"run\": 1, \"index\": 8, \"pid\": 1, \"start_time\": 1}\n";
  std::ofstream(slots[1]) << "state {\"run\": 3, \"index\": 1, \"pid\": 1, \"start_time\": 1}\n"
                          << "ready\nstarted 2\n";
  for (const auto& path : slots) ASSERT_GT(sizeOf(path), 0) << path;
  auto rep = (*rt)->recover();
  ASSERT_TRUE(rep) << rep.error().message;
  EXPECT_EQ(rep->adopted, 0u);
  EXPECT_EQ(rep->reaped, 4u);
  for (const auto& path : legacy) EXPECT_FALSE(sys::exists(path)) << path;
  for (const auto& path : slots) EXPECT_EQ(sizeOf(path), 0) << path;
  // Empty slots name no instance: a second pass has nothing to do.
  EXPECT_EQ((*rt)->recover().value().reaped, 0u);
}

TEST_F(NsRecoveryTest, ROOT_Kill9ThenReadoptGroups) {
  // Five devices in groups of two: r1-g0 (0, 1), r1-g1 (2, 3) and r1-g2 (4).
  ASSERT_NO_FATAL_FAILURE(
      runAndKillWorker({"--isolation", "group", "--group-size", "2", "--net", "veth"}));
  // While no worker runs, r1-g1's init is killed: its devices end with it.
  const pid_t lost = initPidOf("r1-g1");
  ASSERT_GT(lost, 0);
  ASSERT_EQ(::kill(lost, SIGKILL), 0);
  for (int i = 0; i < 200 && ::kill(lost, 0) == 0; ++i) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(300ms);  // the other devices keep running and writing meanwhile
  auto rt = open();
  ASSERT_TRUE(rt) << rt.error().message;
  auto rep = (*rt)->recover();
  ASSERT_TRUE(rep) << rep.error().message;
  EXPECT_EQ(rep->adopted, 3u);
  EXPECT_GE(rep->reaped, 1u);
  for (uint32_t i : {0u, 1u, 4u}) {
    auto st = (*rt)->status({1, i});
    ASSERT_TRUE(st) << i;
    EXPECT_EQ(st->state, S::Running) << i << ": " << st->reason;
  }
  EXPECT_FALSE((*rt)->status({1, 2}));
  EXPECT_FALSE(sys::exists("/run/kuiga/" + name_ + "/instances/r1-g1"));
  // The re-adopted groups keep their links on the radio network, one each.
  auto links = (*rt)->radioLinks();
  ASSERT_TRUE(links);
  EXPECT_EQ(std::set<std::string>(links->begin(), links->end()),
            (std::set<std::string>{radioLinkName({1, 0}), radioLinkName({1, 4})}));
  // Output written while no worker ran was kept in the group's FIFO, and more follows.
  auto logLines = [&](uint32_t i) {
    auto s = sys::readFile((*rt)->logPath({1, i}));
    return s ? std::count(s->begin(), s->end(), '\n') : 0;
  };
  auto before = logLines(1);
  std::this_thread::sleep_for(500ms);
  EXPECT_GT(logLines(1), before);
  // A device created now joins its re-adopted group, which still knows its app and limits.
  InstanceSpec late;
  late.id = {1, 5};
  late.appDir = KUIGA_EXAMPLES;
  late.executable = "periodic";
  late.args = {"0", "100"};
  late.net = NetMode::Veth;
  late.isolation = Isolation::Group;
  late.groupSize = 2;
  auto created = (*rt)->create(std::vector{late});
  ASSERT_TRUE(created.allOk()) << created.failed[0].second.message;
  ASSERT_TRUE((*rt)->start(std::vector{late.id}).allOk());
  for (int i = 0; i < 100 && logLines(5) == 0; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_GT(logLines(5), 0);
  std::vector<InstanceId> ids{{1, 0}, {1, 1}, {1, 4}, {1, 5}};
  ASSERT_TRUE((*rt)->stop(ids, 1s).allOk());
  for (const auto& id : ids) EXPECT_EQ((*rt)->status(id)->state, S::Terminated);
  ASSERT_TRUE((*rt)->remove(ids).allOk());
  ASSERT_TRUE((*rt)->destroyAll());
  EXPECT_TRUE(test::findLeaks().empty());
}

TEST_F(NsRecoveryTest, ROOT_Kill9ThenReapGroupsWhoseReportCannotBeTrusted) {
  // Five groups of one device each, r1-g0 to r1-g4, their reports edited while no worker runs.
  ASSERT_NO_FATAL_FAILURE(runAndKillWorker({"--isolation", "group", "--group-size", "1"}));
  std::vector<pid_t> inits;
  for (int g = 0; g < 5; ++g) inits.push_back(initPidOf("r1-g" + std::to_string(g)));
  for (pid_t p : inits) ASSERT_GT(p, 0);
  // r1-g0 lost its state record, r1-g1's is another program's.
  auto text = sys::readFile(reportOf("r1-g0"));
  ASSERT_TRUE(text);
  std::string kept;
  for (size_t pos = 0, nl; (nl = text->find('\n', pos)) != std::string::npos; pos = nl + 1)
    if (text->compare(pos, 6, "state ") != 0) kept += text->substr(pos, nl + 1 - pos);
  ASSERT_TRUE(sys::writeFile(reportOf("r1-g0"), kept));
  text = sys::readFile(reportOf("r1-g1"));
  ASSERT_TRUE(text);
  ASSERT_TRUE(sys::writeFile(reportOf("r1-g1"), "state {\"owner\": \"someone else\"}\n" + *text));
  // r1-g2's one device left it; r1-g3's device left and another came at its index.
  append("r1-g2", "left 2\n");
  const nlohmann::json again = {{"index", 3}, {"uid", 260000}, {"executable", "periodic"}};
  append("r1-g3", "left 3\nmember " + again.dump() + "\nadded 3\nstarted 3 2\n");
  auto rt = open();
  ASSERT_TRUE(rt) << rt.error().message;
  auto rep = (*rt)->recover();
  ASSERT_TRUE(rep) << rep.error().message;
  EXPECT_EQ(rep->adopted, 2u);
  auto noted = [&](const std::string& what) {
    return std::any_of(rep->notes.begin(), rep->notes.end(),
                       [&](const std::string& n) { return n.find(what) != std::string::npos; });
  };
  EXPECT_TRUE(noted("r1-g0: not re-adopted: its report file has no state record"));
  EXPECT_TRUE(noted("r1-g1: not re-adopted: its state record is not this worker's"));
  EXPECT_TRUE(noted("r1-g2: not re-adopted: it holds no device"));
  for (int g : {0, 1, 2}) {
    EXPECT_FALSE(sys::exists("/run/kuiga/" + name_ + "/instances/r1-g" + std::to_string(g))) << g;
    for (int i = 0; i < 200 && ::kill(inits[g], 0) == 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_NE(::kill(inits[g], 0), 0) << "the init of r1-g" << g << " was reaped";
    EXPECT_FALSE((*rt)->status({1, static_cast<uint32_t>(g)}));
  }
  // The re-added device replaced the first at its index: one device, with the new uid only.
  auto st = (*rt)->status({1, 3});
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, S::Running) << st->reason;
  EXPECT_EQ((*rt)->status({1, 4})->state, S::Running);
  EXPECT_EQ((*rt)->uidsInUse(), 2u) << "the uid of the device that left is free";
  std::vector<InstanceId> ids{{1, 3}, {1, 4}};
  ASSERT_TRUE((*rt)->stop(ids, 1s).allOk());
  ASSERT_TRUE((*rt)->remove(ids).allOk());
  ASSERT_TRUE((*rt)->destroyAll());
  EXPECT_TRUE(test::findLeaks().empty());
}

TEST_F(NsRecoveryTest, ROOT_Kill9ThenSkipTheTailOfAFrameTheDeadWorkerCut) {
  ASSERT_NO_FATAL_FAILURE(runAndKillWorker({"--isolation", "group", "--group-size", "5"}));
  // The dead worker read a frame's head and left its tail, which reads like a head itself:
  // the group's init is stopped, its FIFO drained, and such a tail put first.
  const pid_t init = initPidOf("r1-g0");
  ASSERT_GT(init, 0);
  ASSERT_EQ(::kill(init, SIGSTOP), 0);
  const std::string fifo = "/run/kuiga/" + name_ + "/instances/r1-g0/output";
  {
    auto in = sys::openFile(fifo, O_RDONLY | O_NONBLOCK);
    ASSERT_TRUE(in) << in.error().message;
    char buf[65536];
    while (::read(in->get(), buf, sizeof buf) > 0) {
    }
    auto out = sys::openFile(fifo, O_WRONLY | O_NONBLOCK);
    ASSERT_TRUE(out) << out.error().message;
    const std::string tail = "o 0 3 what device 0 printed, not a frame\n";
    ASSERT_EQ(::write(out->get(), tail.data(), tail.size()), static_cast<ssize_t>(tail.size()));
  }
  auto rt = open();
  ASSERT_TRUE(rt) << rt.error().message;
  auto rep = (*rt)->recover();
  ASSERT_TRUE(rep) << rep.error().message;
  EXPECT_EQ(rep->adopted, 5u);
  ASSERT_EQ(::kill(init, SIGCONT), 0);
  auto lines = [](const std::string& s) { return std::count(s.begin(), s.end(), '\n'); };
  auto log = [&] { return sys::readFile((*rt)->logPath({1, 0})).value_or(""); };
  const auto before = lines(log());
  std::string now;
  for (int i = 0; i < 100 && lines(now) <= before + 2; ++i) {
    std::this_thread::sleep_for(50ms);
    now = log();
  }
  EXPECT_GT(lines(now), before + 2) << "device 0 logs on";
  // Taken as a head, the tail would have put the next frame's first bytes into the log.
  EXPECT_EQ(now.find("o 0"), std::string::npos) << now;
  for (uint32_t i = 0; i < 5; ++i) EXPECT_EQ((*rt)->status({1, i})->state, S::Running) << i;
  ASSERT_TRUE((*rt)->destroyAll());
  EXPECT_TRUE(test::findLeaks().empty());
}

}  // namespace kuiga::worker
