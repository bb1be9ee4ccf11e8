#pragma once
// Instance identity (run id, index) and everything derived from it. The same run spec yields
// the same identities, so addresses and names are stable across restarts and workers.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace kuiga {

using RunId = uint32_t;

struct InstanceId {
  RunId run = 0;
  uint32_t index = 0;
  auto operator<=>(const InstanceId&) const = default;
};

constexpr uint32_t kMaxInstancesPerRun = 50000;

// "run-7/dev-0042": the name used in logs, pcap interface names and the API.
std::string displayName(InstanceId id);
// "run-7-dev-0042": a valid hostname (RFC 1123 label).
std::string hostname(InstanceId id);
// Locally administered unicast MAC 02:6b:RR:RR:II:II (0x6b = 'k').
std::array<uint8_t, 6> macAddress(InstanceId id);
std::string macString(InstanceId id);
// The IEEE 802.15.4 long address (EUI-64) of macAddress(id), ff:fe inserted in its middle:
// 02:6b:RR:ff:fe:RR:II:II. Given to ZEP devices as --eui64.
uint64_t eui64(InstanceId id);
std::string eui64String(uint64_t eui);
// The instance whose eui64() this is.
std::optional<InstanceId> instanceOfEui64(uint64_t eui);
// "02:6b:00:ff:fe:01:00:2a" or "026b00fffe01002a".
std::optional<uint64_t> parseEui64(std::string_view s);
// 10.R.H.L/16 where R = run mod 256 and H.L = index + 1: one /16 per run on the radio network.
std::string ipv4Address(InstanceId id);
constexpr int kIpv4PrefixLen = 16;
// fd6b:7569:6761:RRRR::IIII+1/64 (ULA "kuiga").
std::string ipv6Address(InstanceId id);
std::string ipv6RunPrefix(RunId run);  // fd6b:7569:6761:RRRR::/64
constexpr int kIpv6PrefixLen = 64;
// The /64 a Contiki-NG native device numbers its own address from, fd6c:7569:RRRR:IIII::/64
// (every Contiki native node has the same link-layer address, so the same interface
// identifier: each needs its own prefix). The host side of its tun0 is ::1 in it.
std::string contikiPrefix(InstanceId id);       // "fd6c:7569:7:2a::/64"
std::string contikiHostAddress(InstanceId id);  // "fd6c:7569:7:2a::1"
// The prefix all of a run's Contiki devices' prefixes are in, fd6c:7569:RRRR::/48.
std::string contikiRunPrefix(RunId run);
// fe80::6b:ffRR:feRR:IIII, the EUI-64 link-local address of macAddress(id).
std::string linkLocalAddress(InstanceId id);
// The devices' default gateway on the radio network, 10.R.255.254 and fd6b:7569:6761:R::fffe
// (outside every device's range), at kGatewayMac: the Plexer's way to the base station.
std::string gatewayIpv4(RunId run);
std::string gatewayIpv6(RunId run);
constexpr std::array<uint8_t, 6> kGatewayMac = {0x02, 0, 0, 0xff, 0xff, 0xff};
// Host-side veth name on the radio network, "kv7.2a" for (7, 42), in hex (at most 15 chars).
std::string radioLinkName(InstanceId id);
// The core bridge of run's own radio network, "rc7" for run 7: each run is a layer-2 domain of
// its own in a worker's radio namespace, and its core carries the run's gateway addresses.
std::string runCoreLink(RunId run);
// "r7-i42", used for directories and cgroup names.
std::string slug(InstanceId id);
// Inverse of slug(); used by recovery.
Result<InstanceId> parseSlug(const std::string& s);
// "r7-g3", the name of run 7's group 3 (isolation: group), for its directory and cgroup.
std::string groupName(RunId run, uint32_t number);
// True when s is a name groupName() gives; used by recovery.
bool isGroupName(const std::string& s);

// A device of a group (isolation: group) shares its group's one interface on the radio network,
// which has the addresses and MAC of the group's first device; devices of a group are told
// apart by port. The device whose addresses `id` uses: itself when isolated (groupSize 0).
InstanceId addressHolder(InstanceId id, uint32_t groupSize);
// The device's own UDP/TCP port, {port}: RIOT's ZEP port, 17754, for an isolated device, and
// 17754 plus its place in its group for a group's device (the ZEP dispatcher tells a group's
// devices apart by it).
constexpr uint16_t kDevicePortBase = 17754;
uint16_t devicePort(InstanceId id, uint32_t groupSize);
// The inverse of devicePort(), for what the radio hears from a group's address: the device of
// `holder`'s group that sends from `port`. When isolated (groupSize 0), `holder` itself, from any
// port. Nothing when `holder` is not its group's first device or `port` is none of the group's.
std::optional<InstanceId> deviceOfPort(InstanceId holder, uint16_t port, uint32_t groupSize);

// Values the argument template may use, for one instance.
struct TemplateContext {
  InstanceId id;
  uint32_t count = 1;
  std::string tap = "tap0";
  int64_t startMs = 0;
  uint64_t seed = 0;
  int64_t periodMs = 0;
  uint32_t groupSize = 0;  // of its run's groups; 0 for an isolated device
};

// Expands {index}, {count}, {run}, {tap}, {mac}, {ipv4}, {ipv6}, {port}, {start_ms}, {period_ms},
// {seed}, {zep}, {eui64}, {prefix} and the escapes {{ and }} ({mac}, {ipv4} and {ipv6} of a
// group's device are its group's, addressHolder()). An unknown or unterminated placeholder is an
// error naming it.
Result<std::string> expandTemplate(const std::string& tmpl, const TemplateContext& ctx);
// Every argument of a template, expanded.
Result<std::vector<std::string>> expandArgs(const std::vector<std::string>& tmpl,
                                            const TemplateContext& ctx);
// The most bytes the template's arguments can take once expanded for any device of any run,
// each with its terminating NUL (placeholders counted at their widest): what argv costs.
Result<size_t> maxExpandedSize(const std::vector<std::string>& tmpl);

// Limits on one device's expanded arguments, checked when a run is created.
constexpr size_t kMaxArgBytes = 4096;
constexpr size_t kMaxArgCount = 256;

}  // namespace kuiga
