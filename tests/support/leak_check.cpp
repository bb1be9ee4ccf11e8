#include "tests/support/leak_check.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "sys/cgroup.hpp"
#include "sys/file.hpp"

namespace kuiga::test {

std::string namePrefix() {
  return fmt::format("kt{}n", ::getpid());
}

std::string uniqueName() {
  static std::atomic<int> n{0};
  return namePrefix() + std::to_string(n++);
}

std::string initPath() {
  const char* other = std::getenv("KUIGA_TEST_INIT");
  return other && *other ? other : KUIGA_INIT_PATH;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/kuiga-test-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
  ::chmod(tmpl, 0755);  // instances run as unprivileged users and may get files from here
}

TempDir::~TempDir() {
  // Whatever is mounted below it (a radio namespace pin a failed test did not remove, say):
  // removeTree does not cross mounts, and a mount would outlive the test. Deepest first.
  std::vector<std::string> mounts;
  std::ifstream info("/proc/self/mountinfo");
  for (std::string line; std::getline(info, line);) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point;
    if (fields >> id >> parent >> dev >> root >> point && point.rfind(path_ + "/", 0) == 0)
      mounts.push_back(point);
  }
  std::sort(mounts.begin(), mounts.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& m : mounts) ::umount2(m.c_str(), MNT_DETACH);
  (void)sys::removeTree(path_);
}

static std::vector<std::string> listDir(const std::string& path) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(path.c_str())) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    ::closedir(d);
  }
  return out;
}

std::vector<std::string> findLeaks() {
  std::vector<std::string> leaks;
  const std::string prefix = namePrefix();
  std::vector<std::string> roots;
  if (auto v1 = sys::cgroup::detect(sys::cgroup::Version::V1)) roots.push_back(v1->pids + "/kuiga");
  if (auto v2 = sys::cgroup::findV2Mount(); !v2.empty()) roots.push_back(v2 + "/kuiga");
  for (const auto& r : roots)
    for (const auto& g : listDir(r))
      if (g.rfind(prefix, 0) == 0) leaks.push_back("cgroup " + r + "/" + g);
  for (const auto& s : listDir("/run/kuiga"))
    if (s.rfind(prefix, 0) == 0) leaks.push_back("run directory /run/kuiga/" + s);
  // Instance inits whose skeleton names this process's prefix.
  for (const auto& p : listDir("/proc")) {
    if (p.find_first_not_of("0123456789") != std::string::npos) continue;
    // A process may end while it is read (ESRCH): sys::readFile says so instead of throwing.
    const std::string args = sys::readFile("/proc/" + p + "/cmdline").value_or("");
    if (args.rfind("kuiga-init", 0) == 0 && args.find("/run/kuiga/" + prefix) != std::string::npos)
      leaks.push_back("process " + p);
  }
  return leaks;
}

namespace {

// Fails the suite if anything is left, and removes it so that the machine stays clean.
class LeakEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    if (::geteuid() != 0) return;
    std::vector<std::string> leaks;
    for (int i = 0; i < 50; ++i) {  // processes take a moment to be reaped
      leaks = findLeaks();
      if (leaks.empty()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (const auto& l : leaks) ADD_FAILURE() << "leaked: " << l;
    for (const auto& l : leaks) {
      if (l.rfind("process ", 0) == 0) ::kill(std::stoi(l.substr(8)), SIGKILL);
      if (l.rfind("run directory ", 0) == 0) {
        std::string p = l.substr(14);
        for (const char* sub : {"/root", "/instances"}) {
          ::umount2((p + sub).c_str(), MNT_DETACH);
          ::rmdir((p + sub).c_str());
        }
        ::rmdir(p.c_str());
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (const auto& l : leaks)
      if (l.rfind("cgroup ", 0) == 0) {
        std::string p = l.substr(7);
        for (const auto& child : listDir(p)) ::rmdir((p + "/" + child).c_str());
        ::rmdir(p.c_str());
      }
  }
};

[[maybe_unused]] auto* const kLeakEnv = ::testing::AddGlobalTestEnvironment(new LeakEnvironment);

}  // namespace

void RuntimeFixture::SetUp() {
  SKIP_UNLESS_ROOT();
  dir_ = std::make_unique<TempDir>();
  config_.name = uniqueName();
  config_.stateDir = dir_->path() + "/state";
  config_.initPath = initPath();
  config_.readyTimeout = std::chrono::seconds(60);
  openRuntime();
}

void RuntimeFixture::openRuntime() {
  if (runtime_) {
    auto r = runtime_->destroyAll();
    ASSERT_TRUE(r) << r.error().message;
    runtime_.reset();
  }
  auto rt =
      worker::ns::NsRuntime::open(config_, [this](const std::vector<worker::InstanceEvent>& e) {
        std::lock_guard lock(eventsMu_);
        events_.insert(events_.end(), e.begin(), e.end());
      });
  ASSERT_TRUE(rt) << rt.error().message;
  runtime_ = std::move(*rt);
}

void RuntimeFixture::TearDown() {
  if (runtime_) {
    auto r = runtime_->destroyAll();
    EXPECT_TRUE(r) << r.error().message;
    runtime_.reset();
  }
  dir_.reset();
}

worker::InstanceSpec RuntimeFixture::spec(uint32_t index, const std::string& dir,
                                          const std::string& exe, std::vector<std::string> args,
                                          NetMode net) {
  return instanceSpec(index, dir, exe, std::move(args), net);
}

worker::InstanceSpec instanceSpec(uint32_t index, const std::string& dir, const std::string& exe,
                                  std::vector<std::string> args, NetMode net) {
  worker::InstanceSpec s;
  s.id = {1, index};
  s.appDir = dir;
  s.executable = exe;
  s.args = std::move(args);
  s.net = net;
  return s;
}

std::vector<std::string> threeConsoleLines() {
  return {"echo " + std::string(200, 'x') + "y", "echo second", "echo third"};
}

void expectThreeConsoleLinesWhole(const std::string& log) {
  EXPECT_EQ(log.find("lost "), std::string::npos) << log;
  auto first = log.find("echo: " + std::string(200, 'x') + "y\n");
  ASSERT_NE(first, std::string::npos) << log;
  EXPECT_LT(first, log.find("echo: second"));
  EXPECT_LT(log.find("echo: second"), log.find("echo: third"));
}

InstanceState RuntimeFixture::waitState(InstanceId id, InstanceState state, int timeoutMs) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  for (;;) {
    auto st = runtime_->status(id);
    if (!st) return InstanceState::Pending;
    if (st->state == state || isFinal(st->state) || std::chrono::steady_clock::now() > deadline)
      return st->state;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string RuntimeFixture::readLog(InstanceId id) {
  auto s = sys::readFile(runtime_->logPath(id));
  return s ? *s : "";
}

bool RuntimeFixture::waitLog(InstanceId id, const std::string& needle, int timeoutMs) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  while (std::chrono::steady_clock::now() < deadline) {
    if (readLog(id).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::vector<worker::InstanceEvent> RuntimeFixture::events() {
  std::lock_guard lock(eventsMu_);
  return events_;
}

}  // namespace kuiga::test
