#include "spec/radio.hpp"

#include <gtest/gtest.h>

namespace kuiga {
namespace {

using nlohmann::json;

TEST(RadioSpec, ReadsEveryFieldAndWritesItBack) {
  json j = {{"uplink", "bs1"},
            {"ues", 100},
            {"idle_timeout_ms", 2000},
            {"ue_policy", "drop"},
            {"ue_queue", 10},
            {"rate_bps", 250000},
            {"delay_ms", 2.5},
            {"loss", 0.01},
            {"active_cap", 50},
            {"active_window_ms", 500},
            {"medium_queue", 64},
            {"seed", 9},
            {"ue_ipv4_prefix", "100.80.0.0/16"},
            {"ue_ipv6_prefix", "fd00:ab::/64"}};
  auto s = RadioSpec::fromJson(j);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->uplink, "bs1");
  EXPECT_EQ(s->ues, 100u);
  EXPECT_EQ(s->ue.idleTimeoutNs, 2'000'000'000);
  EXPECT_EQ(s->ue.policy, UePolicy::Drop);
  EXPECT_EQ(s->medium.rateBps, 250000u);
  EXPECT_EQ(s->medium.delayNs, 2'500'000);
  EXPECT_DOUBLE_EQ(s->medium.loss, 0.01);
  EXPECT_EQ(s->medium.activeCap, 50u);
  EXPECT_EQ(s->ueIpv4->toString(), "100.80.0.0/16");
  auto again = RadioSpec::fromJson(s->toJson());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->toJson(), s->toJson());
}

TEST(RadioSpec, DefaultsNeedOnlyTheUplink) {
  auto s = RadioSpec::fromJson({{"uplink", "bs"}});
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->ues);
  EXPECT_EQ(s->ue.policy, UePolicy::Queue);
  EXPECT_EQ(s->medium.rateBps, 0u);
  EXPECT_EQ(s->medium.loss, 0.0);
  EXPECT_EQ(defaultUeIpv4(7).toString(), "100.71.0.0/16");
  EXPECT_EQ(defaultUeIpv6(7).toString(), "fd6b:7569:6762:7::/64");
  EXPECT_EQ(gatewayIpv4(263), "10.7.255.254");
  EXPECT_EQ(gatewayIpv6(7), "fd6b:7569:6761:7::fffe");
}

TEST(RadioSpec, RefusesBadFieldsNamingThem) {
  struct Case {
    json j;
    std::string says;
  } cases[] = {
      {json::array(), "'radio' must be an object"},
      {{{"ues", 3}}, "'radio.uplink' is required"},
      {{{"uplink", "../etc"}}, "network namespace name"},
      {{{"uplink", ""}}, "network namespace name"},
      {{{"uplink", "bs"}, {"bogus", 1}}, "unknown field 'radio.bogus'"},
      {{{"uplink", "bs"}, {"ues", 0}}, "'radio.ues' must be between 1 and 50000"},
      {{{"uplink", "bs"}, {"ues", -3}}, "'radio.ues' must be between"},
      {{{"uplink", "bs"}, {"ues", "many"}}, "'radio.ues' must be an integer"},
      {{{"uplink", "bs"}, {"loss", 1.5}}, "'radio.loss' must be between 0 and 1"},
      {{{"uplink", "bs"}, {"loss", "x"}}, "'radio.loss' must be a number"},
      {{{"uplink", "bs"}, {"delay_ms", -1}}, "'radio.delay_ms' must be between"},
      {{{"uplink", "bs"}, {"ue_policy", "maybe"}}, "'radio.ue_policy' must be"},
      {{{"uplink", "bs"}, {"ue_ipv4_prefix", "fd00::/64"}}, "must be IPv4"},
      {{{"uplink", "bs"}, {"ue_ipv4_prefix", "100.64.0.0"}}, "'radio.ue_ipv4_prefix'"},
      {{{"uplink", "bs"}, {"ue_ipv6_prefix", "fd00::1/128"}}, "has no host addresses"},
      {{{"uplink", "bs"}, {"medium_queue", 0}}, "'radio.medium_queue' must be between"},
  };
  for (const auto& c : cases) {
    auto s = RadioSpec::fromJson(c.j);
    ASSERT_FALSE(s) << c.j.dump();
    EXPECT_NE(s.error().message.find(c.says), std::string::npos)
        << c.j.dump() << " -> " << s.error().message;
  }
}

}  // namespace
}  // namespace kuiga
