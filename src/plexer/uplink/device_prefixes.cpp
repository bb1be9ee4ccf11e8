#include "plexer/uplink/device_prefixes.hpp"

#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>

#include "plexer/uplink/forwarder.hpp"
#include "sys/netlink.hpp"

namespace kuiga::plexer {

namespace {

// Before the devices' table (priority 1000): a run's own addresses and prefixes may reach its
// devices' prefixes through the main table; everything else goes on to the devices' table.
constexpr uint32_t kPrefixRulePriority = 900;

std::vector<sys::Netlink::Rule> rulesOf(RunId run) {
  auto rule = [&](const std::string& from) {
    return sys::Netlink::Rule{.family = AF_INET6,
                              .iif = {},
                              .from = from,
                              .to = contikiRunPrefix(run),
                              .table = RT_TABLE_MAIN,
                              .priority = kPrefixRulePriority};
  };
  return {rule(ipv6RunPrefix(run)), rule(contikiRunPrefix(run))};
}

sys::Netlink::Route routeOf(InstanceId id) {
  return {.to = contikiPrefix(id),
          .link = runCoreLink(id.run),
          .via = ipv6Address(id),
          .from = {},
          .table = 0,
          .ifindex = 0};
}

// The device whose prefix `cidr` is ("fd6c:7569:R:I::/64", however the zeros are written).
std::optional<InstanceId> deviceOfPrefix(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos || cidr.substr(slash) != "/64") return std::nullopt;
  in6_addr a{};
  if (::inet_pton(AF_INET6, cidr.substr(0, slash).c_str(), &a) != 1) return std::nullopt;
  const uint8_t* b = a.s6_addr;
  if (b[0] != 0xfd || b[1] != 0x6c || b[2] != 0x75 || b[3] != 0x69) return std::nullopt;
  for (int i = 8; i < 16; ++i)
    if (b[i]) return std::nullopt;
  return InstanceId{static_cast<RunId>(b[4] << 8 | b[5]), static_cast<uint32_t>(b[6] << 8 | b[7])};
}

}  // namespace

VoidResult routeDevicePrefix(int radioNetnsFd, InstanceId id) {
  KUIGA_TRY(openGateway(radioNetnsFd, id.run), "device prefix");
  auto nl = sys::Netlink::openIn(radioNetnsFd);
  if (!nl) return fail(nl.error().context("radio namespace"));
  for (const auto& r : rulesOf(id.run)) KUIGA_TRY(nl->addRule(r), "device prefix");
  KUIGA_TRY(nl->addRoute(routeOf(id)), "device prefix");
  return {};
}

VoidResult routeRunPrefixes(int radioNetnsFd, RunId run, const std::set<uint32_t>& indices) {
  if (!indices.empty()) KUIGA_TRY(openGateway(radioNetnsFd, run), "device prefixes");
  auto nl = sys::Netlink::openIn(radioNetnsFd);
  if (!nl) return fail(nl.error().context("radio namespace"));
  auto all = nl->routes(AF_INET6);
  if (!all) return fail(all.error());
  std::set<uint32_t> routed;
  for (const auto& r : *all) {
    auto id = deviceOfPrefix(r.to);
    if (!id || r.table != RT_TABLE_MAIN || id->run != (run & 0xffff)) continue;
    const InstanceId device{run, id->index};
    if (indices.count(id->index))
      routed.insert(id->index);
    else
      KUIGA_TRY(nl->deleteRoute(routeOf(device)), "device prefix");
  }
  for (const auto& rule : rulesOf(run))
    KUIGA_TRY(indices.empty() ? nl->deleteRule(rule) : nl->addRule(rule), "device prefixes");
  for (uint32_t i : indices)
    if (!routed.count(i)) KUIGA_TRY(nl->addRoute(routeOf({run, i})), "device prefix");
  return {};
}

Result<size_t> dropDevicePrefixes(int radioNetnsFd, const std::set<RunId>& live) {
  auto nl = sys::Netlink::openIn(radioNetnsFd);
  if (!nl) return fail(nl.error().context("radio namespace"));
  auto all = nl->routes(AF_INET6);
  if (!all) return fail(all.error());
  std::set<uint32_t> liveMod;  // the prefix carries 16 bits of the run id
  for (RunId r : live) liveMod.insert(r & 0xffff);
  std::set<RunId> gone;
  size_t dropped = 0;
  for (const auto& r : *all) {
    auto id = deviceOfPrefix(r.to);
    if (!id || r.table != RT_TABLE_MAIN || liveMod.count(id->run)) continue;
    KUIGA_TRY(nl->deleteRoute(routeOf(*id)), "device prefix");
    gone.insert(id->run);
    ++dropped;
  }
  for (RunId run : gone)
    for (const auto& rule : rulesOf(run)) KUIGA_TRY(nl->deleteRule(rule), "device prefix");
  return dropped;
}

}  // namespace kuiga::plexer
