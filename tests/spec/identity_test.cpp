#include "spec/identity.hpp"

#include <gtest/gtest.h>

#include <set>

#include "spec/net_mode.hpp"

namespace kuiga {

TEST(Identity, NamesAreDeterministicAndPadded) {
  InstanceId id{7, 42};
  EXPECT_EQ(displayName(id), "run-7/dev-0042");
  EXPECT_EQ(hostname(id), "run-7-dev-0042");
  EXPECT_EQ(hostname({7, 49999}), "run-7-dev-49999");
  EXPECT_EQ(slug(id), "r7-i42");
  EXPECT_EQ(radioLinkName(id), "kv7.2a");
}

TEST(Identity, RadioLinkNamesFitIfnamsizForEveryRun) {
  EXPECT_EQ(radioLinkName({4294967295u, 49999}), "kvffffffff.c34f");
  EXPECT_LE(radioLinkName({4294967295u, 49999}).size(), 15u);
}

TEST(Identity, MacIsLocallyAdministeredUnicastAndUnique) {
  std::set<std::string> seen;
  for (uint32_t run : {1u, 2u, 300u})
    for (uint32_t i = 0; i < 50000; i += 997) {
      auto m = macAddress({run, i});
      EXPECT_EQ(m[0] & 0x03, 0x02) << "locally administered, unicast";
      EXPECT_TRUE(seen.insert(macString({run, i})).second);
    }
  EXPECT_EQ(macString({1, 0x1234}), "02:6b:00:01:12:34");
}

TEST(Identity, AddressesAreUniqueWithinARunAndAvoidNetworkAndBroadcast) {
  std::set<std::string> v4, v6;
  for (uint32_t i = 0; i < kMaxInstancesPerRun; ++i) {
    auto a = ipv4Address({3, i});
    EXPECT_TRUE(v4.insert(a).second) << a;
    EXPECT_NE(a, "10.3.0.0");
    EXPECT_NE(a, "10.3.255.255");
    EXPECT_TRUE(v6.insert(ipv6Address({3, i})).second);
  }
  EXPECT_EQ(ipv4Address({3, 0}), "10.3.0.1");
  EXPECT_EQ(ipv4Address({3, 255}), "10.3.1.0");
  EXPECT_EQ(ipv6Address({3, 0}), "fd6b:7569:6761:3::1");
  // EUI-64 of 02:6b:00:01:00:01, as the kernel would derive it.
  EXPECT_EQ(linkLocalAddress({1, 1}), "fe80::6b:ff:fe01:1");
  EXPECT_EQ(linkLocalAddress({0x1234, 0xabcd}), "fe80::6b:12ff:fe34:abcd");
}

TEST(Identity, SlugRoundTripsAndRejectsJunk) {
  auto id = parseSlug("r12-i345");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->run, 12u);
  EXPECT_EQ(id->index, 345u);
  for (const char* bad : {"", "r1", "r1-i", "x1-i2", "r1-i2x", "r01-i2", "r1-i50000", "r-1-i2"})
    EXPECT_FALSE(parseSlug(bad)) << bad;
}

TEST(Identity, GroupNamesAreKnownAndOthersAreNot) {
  EXPECT_EQ(groupName(7, 3), "r7-g3");
  EXPECT_TRUE(isGroupName("r7-g3"));
  EXPECT_TRUE(isGroupName(groupName(4294967295u, 49999)));
  for (const char* bad :
       {"", "r7", "r7-g", "r7-i3", "r7-g3x", "r07-g3", "r7-g50000", "r-7-g3", "r4294967296-g1"})
    EXPECT_FALSE(isGroupName(bad)) << bad;
}

TEST(Template, ExpandsEveryPlaceholder) {
  TemplateContext ctx{{5, 9}, 100, "tap0", 1700000000000, 77};
  auto r =
      expandTemplate("{index}/{count} run {run} {tap} {mac} {ipv4} {ipv6} {start_ms} {seed}", ctx);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r,
            "9/100 run 5 tap0 02:6b:00:05:00:09 10.5.0.10 fd6b:7569:6761:5::a 1700000000000 77");
}

TEST(Template, AGroupsDevicesShareItsAddressesAndHaveAPortEach) {
  // Groups of 1,000: device 1,234 is in the group whose first device is 1,000.
  TemplateContext grouped{{5, 1234}, 5000, "tap0", 0, 0, 0, 1000};
  EXPECT_EQ(expandTemplate("{ipv4} {ipv6} {mac} {port} {index}", grouped).value(),
            "10.5.3.233 fd6b:7569:6761:5::3e9 02:6b:00:05:03:e8 17988 1234");
  // Its EUI-64 stays its own: ZEP tells devices apart by it. Its ZEP socket binds its port.
  EXPECT_EQ(expandTemplate("{eui64}", grouped).value(), eui64String(eui64({5, 1234})));
  EXPECT_EQ(expandTemplate("{zep}", grouped).value(), "10.5.3.233:17988,10.5.255.254:17754");
  TemplateContext isolated{{5, 1234}, 5000};
  EXPECT_EQ(expandTemplate("{ipv4} {port} {zep}", isolated).value(),
            "10.5.4.211 17754 10.5.255.254:17754");
  // The widest {zep} fits the width the argument limits count with.
  TemplateContext widest{{4294967295u, kMaxInstancesPerRun - 1}, 50000, "tap0", 0, 0, 0, 1};
  EXPECT_LE(expandTemplate("{zep}", widest).value().size(), 43u);
  // The last place of the largest group stays a valid port.
  EXPECT_EQ(devicePort({1, kMaxGroupSize - 1}, kMaxGroupSize), 17754 + kMaxGroupSize - 1);
}

TEST(Template, WhatTheRadioHearsFromAGroupsAddressIsToldApartByPort) {
  // deviceOfPort() undoes devicePort() for every place of a group, the largest too.
  for (uint32_t size : {1u, 3u, kMaxGroupSize})
    for (uint32_t index = 2 * size; index < 3 * size; ++index) {
      const InstanceId id{7, index};
      auto back = deviceOfPort(addressHolder(id, size), devicePort(id, size), size);
      ASSERT_TRUE(back) << size << " " << index;
      EXPECT_EQ(back->index, index);
    }
  // Isolated: the address is the device's own, whatever the port.
  EXPECT_EQ(deviceOfPort({7, 5}, 40000, 0)->index, 5u);
  // No device's: a port below the base or past the group, or an address that holds no group.
  EXPECT_FALSE(deviceOfPort({7, 6}, 17753, 3));
  EXPECT_FALSE(deviceOfPort({7, 6}, 17754 + 3, 3));
  EXPECT_FALSE(deviceOfPort({7, 7}, 17754, 3));
}

TEST(Template, EscapesAndPlainText) {
  TemplateContext ctx{{1, 2}};
  EXPECT_EQ(expandTemplate("{{index}} is {index}", ctx).value(), "{index} is 2");
  EXPECT_EQ(expandTemplate("no placeholders", ctx).value(), "no placeholders");
  EXPECT_EQ(expandTemplate("", ctx).value(), "");
}

TEST(Template, UnknownOrBrokenPlaceholdersAreErrorsThatNameThem) {
  TemplateContext ctx{{1, 2}};
  auto unknown = expandTemplate("--x={nope}", ctx);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("{nope}"), std::string::npos);
  auto open = expandTemplate("--x={index", ctx);
  ASSERT_FALSE(open);
  EXPECT_NE(open.error().message.find("unterminated"), std::string::npos);
  EXPECT_FALSE(expandTemplate("a}b", ctx));
}

TEST(Template, TheWidestExpansionBoundsEveryDevicesArguments) {
  // Literal bytes, placeholders at their widest, and a NUL per argument.
  EXPECT_EQ(maxExpandedSize({"--id", "{index}"}).value(), 5u + 6u);
  EXPECT_EQ(maxExpandedSize({"{ipv6}"}).value(), 26u);
  EXPECT_EQ(maxExpandedSize({}).value(), 0u);
  EXPECT_FALSE(maxExpandedSize({"{nope}"}));
  // The bound holds for the widest identities there are.
  const std::vector<std::string> all = {"{index}",     "{count}", "{run}",      "{tap}",  "{mac}",
                                        "{ipv4}",      "{ipv6}",  "{start_ms}", "{seed}", "{zep}",
                                        "{period_ms}", "{eui64}", "{port}"};
  TemplateContext wide{{4294967295u, 49999}, 50000, "tap0", INT64_MIN, UINT64_MAX, INT64_MIN};
  auto bound = maxExpandedSize(all).value();
  size_t used = 0;
  auto widest = expandArgs(all, wide).value();
  for (const auto& a : widest) used += a.size() + 1;
  EXPECT_LE(used, bound);
  for (uint32_t i : {0u, 255u, 256u, 4095u, 49999u}) {
    size_t n = 0;
    auto args = expandArgs(all, {{300, i}, 50000, "tap0", 1, 1, 1}).value();
    for (const auto& a : args) n += a.size() + 1;
    EXPECT_LE(n, bound) << i;
  }
}

TEST(Template, ExpandArgsExpandsEachOrNamesTheBadOne) {
  auto ok = expandArgs({"-i", "{index}", "{{x}}"}, {{1, 7}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, (std::vector<std::string>{"-i", "7", "{x}"}));
  auto bad = expandArgs({"-i", "{nope}"}, {{1, 7}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("{nope}"), std::string::npos);
}

}  // namespace kuiga
