// The Scheduler and the run spec's admission, on their own: pure functions of what the master
// knows, tested without a master.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "master/admission.hpp"
#include "master/scheduler.hpp"

namespace kuiga::master {
namespace {

std::map<std::string, size_t> tally(const std::vector<std::string>& placed) {
  std::map<std::string, size_t> n;
  for (const auto& w : placed) ++n[w];
  return n;
}

TEST(Scheduler, SpreadsEvenlyOverEqualRoomAndFillsBiggerNodesMore) {
  auto even = placeInstances(300, {{"a", 100, 0}, {"b", 100, 0}, {"c", 100, 0}});
  ASSERT_EQ(even.size(), 300u);
  EXPECT_EQ(tally(even), (std::map<std::string, size_t>{{"a", 100}, {"b", 100}, {"c", 100}}));
  // By free room, not capacity: a node already half full takes less.
  auto uneven = placeInstances(100, {{"a", 100, 50}, {"b", 100, 0}});
  EXPECT_EQ(tally(uneven), (std::map<std::string, size_t>{{"a", 25}, {"b", 75}}));
  // The same input, the same answer.
  EXPECT_EQ(placeInstances(7, {{"a", 10, 0}, {"b", 10, 0}}),
            placeInstances(7, {{"b", 10, 0}, {"a", 10, 0}}));
}

TEST(Scheduler, WhatDoesNotFitIsNotPlacedAtAll) {
  EXPECT_TRUE(placeInstances(201, {{"a", 100, 0}, {"b", 100, 0}}).empty());
  EXPECT_TRUE(placeInstances(1, {}).empty());
  EXPECT_TRUE(placeInstances(1, {{"full", 10, 10}, {"over", 10, 12}}).empty());
  EXPECT_EQ(placeInstances(0, {{"a", 1, 0}}).size(), 0u);
  EXPECT_EQ(freeRoom({{"a", 100, 40}, {"b", 10, 12}, {"c", 5, 0}}), 65u);
}

TEST(Scheduler, AGroupGoesWholeToOneNode) {
  // Groups of 4: 0-3, 4-7, 8-9. Each on the node with the most room, and all of it there.
  std::vector<uint32_t> all(10);
  for (uint32_t i = 0; i < 10; ++i) all[i] = i;
  auto placed = placeGroups(all, 4, {{"a", 8, 0}, {"b", 8, 0}});
  ASSERT_EQ(placed.size(), 10u);
  for (uint32_t i = 0; i < 10; ++i) EXPECT_EQ(placed[i], placed[i / 4 * 4]) << i;
  EXPECT_NE(placed[0], placed[4]);
  EXPECT_EQ(tally(placed), (std::map<std::string, size_t>{{"a", 4}, {"b", 6}}));
  // Room for every device but not for a group whole on one node: not placed at all.
  EXPECT_TRUE(placeGroups(all, 4, {{"a", 5, 0}, {"b", 5, 0}}).empty());
  // What was lost of a group (devices 5 and 6, in any order) goes whole, in its given order.
  auto lost = placeGroups({6, 1, 5}, 4, {{"a", 3, 0}, {"b", 2, 0}});
  ASSERT_EQ(lost.size(), 3u);
  EXPECT_EQ(lost[0], lost[2]);
  EXPECT_EQ(lost[0], "b");
  EXPECT_EQ(lost[1], "a");
  // Groups of 1 are placed as single instances are.
  EXPECT_EQ(placeGroups(all, 1, {{"a", 10, 0}, {"b", 10, 0}}),
            placeInstances(10, {{"a", 10, 0}, {"b", 10, 0}}));
}

TEST(Scheduler, ACellGoesToAPlexerWhenThereIsOneElseStaysWithItsDevices) {
  std::map<std::string, std::vector<uint32_t>> byW = {{"w1", {3, 4}}, {"w2", {0, 1, 2}}};
  std::map<std::string, std::string> underlay = {{"w1", "10.0.0.1"}, {"w2", "10.0.0.2"}};
  // No plexer: the worker with the lowest device index, the same answer each time.
  EXPECT_EQ(chooseCellHost({byW, underlay, {}, "", false}), "w2");
  // It stays on a worker that still holds devices of the run.
  EXPECT_EQ(chooseCellHost({byW, underlay, {}, "w1", false}), "w1");
  // A worker the others cannot reach (no underlay address) holds no shared cell.
  std::map<std::string, std::string> noUnderlay = {{"w1", "10.0.0.1"}, {"w2", ""}};
  EXPECT_EQ(chooseCellHost({byW, noUnderlay, {}, "", false}), "w1");
  // Plexers: the one with the fewest cells; one already holding it keeps it.
  EXPECT_EQ(chooseCellHost({byW, underlay, {{"p1", 3}, {"p2", 1}}, "", false}), "p2");
  EXPECT_EQ(chooseCellHost({byW, underlay, {{"p1", 3}, {"p2", 1}}, "p1", true}), "p1");
  // One worker alone holds its run's cell.
  std::map<std::string, std::vector<uint32_t>> one = {{"w9", {0}}};
  EXPECT_EQ(chooseCellHost({one, noUnderlay, {}, "", false}), "w9");
}

imagestore::Manifest image(imagestore::Profile p, std::string net = "veth", std::string args = "") {
  imagestore::Manifest m;
  m.profile = p;
  m.defaultNet = std::move(net);
  m.defaultArgs = std::move(args);
  return m;
}

RunSpec spec(const std::string& json) {
  auto s = RunSpec::fromJson(nlohmann::json::parse(json));
  EXPECT_TRUE(s) << s.error().message;
  return s ? *s : RunSpec{};
}

TEST(Admission, FillsTheImagesDefaultsAndTheStartTime) {
  auto linux = admit(spec(R"({"count": 2})"), image(imagestore::Profile::Linux), 1234);
  ASSERT_TRUE(linux) << linux.error().message;
  EXPECT_EQ(linux->net, NetMode::Veth);
  EXPECT_EQ(linux->startMs, 1234);
  auto riot =
      admit(spec(R"({"count": 2})"), image(imagestore::Profile::RiotNative, "tap", "{tap}"), 1);
  ASSERT_TRUE(riot);
  EXPECT_EQ(riot->net, NetMode::Tap);
  EXPECT_EQ(riot->args, std::vector<std::string>{"{tap}"});
  // RIOT over ZEP: veth and socket_zep's arguments.
  auto zep = admit(spec(R"({"count": 2, "zep": {"topology": "flat"}})"),
                   image(imagestore::Profile::RiotNative, "tap", "{tap}"), 1);
  ASSERT_TRUE(zep) << zep.error().message;
  EXPECT_EQ(zep->net, NetMode::Veth);
  EXPECT_EQ(zep->args, (std::vector<std::string>{"-z", "{zep}", "--eui64", "{eui64}"}));
  // A start time given stays.
  EXPECT_EQ(
      admit(spec(R"({"count": 1, "start_ms": 99})"), image(imagestore::Profile::Linux), 5)->startMs,
      99);
}

TEST(Admission, RefusesWhatTheImageOrTheLimitsDoNotAllow) {
  auto refused = [](const std::string& json, imagestore::Manifest m, const std::string& says) {
    auto r = admit(spec(json), m, 1);
    ASSERT_FALSE(r) << json;
    EXPECT_EQ(r.error().status, 400);
    EXPECT_NE(r.error().message.find(says), std::string::npos) << r.error().message;
  };
  auto linux = image(imagestore::Profile::Linux);
  refused(R"({"count": 1, "net": "veth"})", image(imagestore::Profile::RiotNative, "tap"),
          "tap device");
  refused(R"({"count": 1, "net": "veth"})", image(imagestore::Profile::ContikiNative, "tun"),
          "tun device");
  refused(R"({"count": 1, "zep": {"topology": "flat"}})",
          image(imagestore::Profile::ContikiNative, "tun"), "no ZEP radio");
  refused(R"({"count": 1, "net": "none", "zep": {"topology": "flat"}})", linux, "need a network");
  refused(R"({"count": 1, "name": "a\u001b[2Jb"})", linux, "printable");
  // A group shares one network namespace: no tap or tun, which need an interface per device.
  refused(R"({"count": 1, "isolation": "group"})", image(imagestore::Profile::RiotNative, "tap"),
          "cannot run tap devices");
  refused(R"({"count": 1, "isolation": "group", "net": "tun"})", linux, "cannot run tun devices");
  EXPECT_TRUE(admit(spec(R"({"count": 1, "isolation": "group", "net": "none"})"), linux, 1));
  // On veth, with a radio: one link per group, the devices told apart by port.
  EXPECT_TRUE(admit(spec(R"({"count": 1, "isolation": "group"})"), linux, 1));
  auto zep = admit(spec(R"({"count": 2, "isolation": "group", "zep": {"topology": "flat"}})"),
                   image(imagestore::Profile::RiotNative, "tap"), 1);
  ASSERT_TRUE(zep) << zep.error().message;
  EXPECT_EQ(*zep->net, NetMode::Veth);
  refused(R"({"count": 50000, "zep": {"topology": "random", "radius": 0.9}})", linux, "radius");
  std::string many = R"({"count": 1, "args": [)";
  for (int i = 0; i < 257; ++i) many += std::string(i ? "," : "") + "\"x\"";
  refused(many + "]}", linux, "at most 256");
  std::string wide = R"({"count": 1, "args": ")";
  for (int i = 0; i < 200; ++i) wide += "{ipv6} ";
  refused(wide + "\"}", linux, "4096 bytes");
}

}  // namespace
}  // namespace kuiga::master
