#pragma once
// Test support: root detection, unique names, temporary directories, and a global check that
// nothing a test made (cgroups, skeleton mounts, instance processes, links) outlives the suite.
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "worker/ns/ns_runtime.hpp"

#define SKIP_UNLESS_ROOT()                                                             \
  do {                                                                                 \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, cgroups, netlink)"; \
  } while (0)

namespace kuiga::test {

// "kt<pid>n<k>": short enough for cgroup, mount and link names, unique per process.
std::string uniqueName();
// Prefix of every uniqueName() of this process.
std::string namePrefix();
// kuiga-init for the tests' instances: the build's, or $KUIGA_TEST_INIT (the ROOT_init_glibc
// test runs the runtime's tests again with the glibc fallback build).
std::string initPath();

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Objects of this process's tests that still exist.
std::vector<std::string> findLeaks();

// Instance `index` of run 1 running `exe` from `dir`.
worker::InstanceSpec instanceSpec(uint32_t index, const std::string& dir, const std::string& exe,
                                  std::vector<std::string> args = {}, NetMode net = NetMode::Veth);

// Three console lines for `riot_shell` (which reads 64 bytes at a time and loses the rest): a
// 206-byte one, then "echo second" and "echo third".
std::vector<std::string> threeConsoleLines();
// Expects the shell's log to hold all three, each whole, in order, and nothing lost.
void expectThreeConsoleLinesWhole(const std::string& log);

// An ns runtime with a unique name in a temporary directory, destroyed at the end of the test
// whether it passed or not. Records every event.
class RuntimeFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  worker::ns::NsRuntime& rt() { return *runtime_; }
  // Opens the runtime with config_, after destroying the one open, if any.
  void openRuntime();
  // A spec for instance `index` of run 1 running test app or example `exe` from `dir`.
  worker::InstanceSpec spec(uint32_t index, const std::string& dir, const std::string& exe,
                            std::vector<std::string> args = {}, NetMode net = NetMode::Veth);
  // Waits until the instance reaches `state` (or any final state); returns the state reached.
  InstanceState waitState(InstanceId id, InstanceState state, int timeoutMs = 10000);
  std::string readLog(InstanceId id);
  // Waits until the log holds `needle`.
  bool waitLog(InstanceId id, const std::string& needle, int timeoutMs = 10000);
  std::vector<worker::InstanceEvent> events();

  std::unique_ptr<TempDir> dir_;
  worker::ns::NsRuntimeConfig config_;
  std::unique_ptr<worker::ns::NsRuntime> runtime_;
  std::mutex eventsMu_;
  std::vector<worker::InstanceEvent> events_;
};

}  // namespace kuiga::test
