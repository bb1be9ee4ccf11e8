// A scenario's base-station server against the real thing: a shell command in a network
// namespace the test made (`ip netns`), its output kept, its end noticed, and it and what it
// started stopped, by process group.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "scenario/station_server.hpp"
#include "tests/support/leak_check.hpp"
#include "tests/support/shell.hpp"

namespace kuiga::scenario {
namespace {

class StationServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    ns_ = test::uniqueName();
    ASSERT_EQ(
        std::system(
            ("ip netns add " + ns_ + " && ip -n " + ns_ + " addr add 192.0.2.1/32 dev lo").c_str()),
        0);
  }
  void TearDown() override {
    if (!ns_.empty()) (void)std::system(("ip netns del " + ns_).c_str());
  }
  static std::string readFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  static bool eventually(const std::function<bool()>& f) {
    for (int k = 0; k < 250; ++k) {
      if (f()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return f();
  }
  std::string ns_;
  test::TempDir dir_;
};

TEST_F(StationServerTest, ROOT_RunsInTheNamespaceAndDirectoryAndIsStoppedWithWhatItStarted) {
  const std::string log = dir_.path() + "/server.log";
  std::ofstream(dir_.path() + "/here.txt") << "beside the scenario\n";
  // Its address is the namespace's; `cat here.txt` reads the scenario's directory; the
  // background sleep holds the output pipe and must go with it.
  auto s = StationServer::start(
      "ip -o addr show dev lo | grep -o '192.0.2.1'; cat here.txt; sleep 600 & echo $! > "
      "bg.pid; exec sleep 600",
      ns_, dir_.path(), log);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(eventually([&] { return (*s)->tail().find("beside") != std::string::npos; }))
      << (*s)->tail();
  EXPECT_EQ((*s)->tail(), "192.0.2.1\nbeside the scenario\n");
  EXPECT_FALSE((*s)->ended());
  ASSERT_TRUE(eventually([&] { return !readFile(dir_.path() + "/bg.pid").empty(); }));
  const pid_t bg = std::stoi(readFile(dir_.path() + "/bg.pid"));
  (*s)->stop();
  EXPECT_EQ((*s)->ended(), "killed by signal 15 (SIGTERM)");
  EXPECT_TRUE(eventually([&] { return ::kill(bg, 0) != 0; })) << "the background sleep lives";
  EXPECT_EQ(readFile(log), "192.0.2.1\nbeside the scenario\n");
}

TEST_F(StationServerTest, ROOT_AnEarlyEndIsNoticedWithItsStatusAndOutput) {
  auto s = StationServer::start("echo 'no such resource' >&2; exit 3", ns_, "", "");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(eventually([&] { return (*s)->ended().has_value(); }));
  EXPECT_EQ(*(*s)->ended(), "exited with code 3");
  (*s)->stop();  // idempotent after its end
  EXPECT_EQ((*s)->tail(), "no such resource\n");
}

TEST_F(StationServerTest, ROOT_AMissingNamespaceIsAClearError) {
  auto s = StationServer::start("true", ns_ + "x", "", "");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("the base station's network namespace '" + ns_ + "x'"),
            std::string::npos)
      << s.error().message;
  EXPECT_FALSE(StationServer::start("true", "../etc", "", ""));
}

}  // namespace
}  // namespace kuiga::scenario
