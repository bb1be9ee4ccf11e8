// What a restarted worker reads back of its radio: the ZEP dispatcher's and the uplink's state
// files. A damaged one (a field of the wrong type or out of range, a cut file) is named in the
// errors and not reopened; the others are. Inside a radio namespace of the test's own.
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "plexer/uplink/forwarder.hpp"
#include "plexer/zep/dispatcher.hpp"
#include "sys/netns.hpp"
#include "tests/support/leak_check.hpp"

namespace kuiga::plexer {
namespace {

using json = nlohmann::json;

class RestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    radio_ = test::uniqueName() + "r";
    // Run 1's core bridge, where its gateway addresses go.
    ASSERT_EQ(std::system(fmt::format("ip netns add {0} && ip -n {0} link add {1} type bridge",
                                      radio_, runCoreLink(1))
                              .c_str()),
              0);
    auto ns = sys::netns::openPinned("/run/netns/" + radio_);
    ASSERT_TRUE(ns) << ns.error().message;
    ns_ = std::move(*ns);
  }
  void TearDown() override {
    if (!radio_.empty()) (void)std::system(fmt::format("ip netns del {}", radio_).c_str());
  }
  void write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
  }
  // The errors' messages, one per line.
  static std::string messages(const std::vector<Error>& errors) {
    std::string out;
    for (const auto& e : errors) out += e.message + "\n";
    return out;
  }

  std::string radio_;
  sys::UniqueFd ns_;
  test::TempDir dir_;
};

TEST_F(RestoreTest, ROOT_DamagedZepStateFilesAreNamedAndTheOthersReopen) {
  const std::string dir = dir_.path() + "/zep";
  std::filesystem::create_directories(dir);
  const json spec = ZepSpec{}.toJson();
  auto file = [&](RunId run, const json& j) {
    write(fmt::format("{}/run-{}.zep.json", dir, run), j.dump());
  };
  file(1, {{"spec", spec}, {"count", 6}, {"seed", 1}, {"group_size", 3}});
  file(2, {{"spec", spec}, {"count", 6}, {"seed", 1}, {"group_size", "three"}});
  file(3, {{"spec", spec}, {"count", 6}, {"seed", 1}, {"group_size", kMaxGroupSize + 1}});
  file(4, {{"spec", spec}, {"count", -1}, {"seed", 1}});
  file(5, {{"spec", spec}, {"count", 1e300}, {"seed", 1}});
  file(6, {{"spec", spec}, {"count", 6}});
  write(dir + "/run-7.zep.json", "{\"spec\": ");
  auto zep = ZepDispatcher::start(ns_.get(), dir, 17754);
  ASSERT_TRUE(zep) << zep.error().message;
  auto failed = (*zep)->restore();
  const std::string text = messages(failed);
  EXPECT_EQ(failed.size(), 6u) << text;
  for (RunId run = 2; run <= 7; ++run)
    EXPECT_NE(text.find(fmt::format("run-{}.zep.json is damaged", run)), std::string::npos) << text;
  EXPECT_EQ((*zep)->runs(), std::vector<RunId>{1});
  auto report = (*zep)->report(1);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->size(), 6u);
}

TEST_F(RestoreTest, ROOT_ACellWhoseGroupSizeIsDamagedIsNamedAndNotReopened) {
  const std::string dir = dir_.path() + "/radio";
  std::filesystem::create_directories(dir);
  for (const auto& [run, size] :
       std::vector<std::pair<RunId, json>>{{2, "2"}, {3, kMaxGroupSize + 1}, {4, -1}, {5, 2.5}})
    write(fmt::format("{}/run-{}.radio.json", dir, run),
          json{{"uplink", radio_}, {"group_size", size}}.dump());
  auto forwarder = Forwarder::start(ns_.get(), dir);
  ASSERT_TRUE(forwarder) << forwarder.error().message;
  auto restored = (*forwarder)->restore();
  const std::string text = messages(restored.failed);
  EXPECT_EQ(restored.cells, 0u);
  EXPECT_EQ(restored.failed.size(), 4u) << text;
  for (RunId run = 2; run <= 5; ++run)
    EXPECT_NE(text.find(fmt::format("run-{}.radio.json: group_size is not between 0 and {}", run,
                                    kMaxGroupSize)),
              std::string::npos)
        << text;
  EXPECT_TRUE((*forwarder)->cells().empty());
}

}  // namespace
}  // namespace kuiga::plexer
