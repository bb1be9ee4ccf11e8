#include "spec/identity.hpp"

#include <cctype>

#include <fmt/format.h>

namespace kuiga {

static std::string paddedIndex(uint32_t index) {
  return fmt::format("{:04d}", index);
}

std::string displayName(InstanceId id) {
  return fmt::format("run-{}/dev-{}", id.run, paddedIndex(id.index));
}

std::string hostname(InstanceId id) {
  return fmt::format("run-{}-dev-{}", id.run, paddedIndex(id.index));
}

std::array<uint8_t, 6> macAddress(InstanceId id) {
  return {0x02,
          0x6b,
          static_cast<uint8_t>((id.run >> 8) & 0xff),
          static_cast<uint8_t>(id.run & 0xff),
          static_cast<uint8_t>((id.index >> 8) & 0xff),
          static_cast<uint8_t>(id.index & 0xff)};
}

std::string macString(InstanceId id) {
  auto m = macAddress(id);
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4],
                     m[5]);
}

uint64_t eui64(InstanceId id) {
  auto m = macAddress(id);
  return uint64_t{m[0]} << 56 | uint64_t{m[1]} << 48 | uint64_t{m[2]} << 40 | 0xfffeull << 24 |
         uint64_t{m[3]} << 16 | uint64_t{m[4]} << 8 | m[5];
}

std::string eui64String(uint64_t eui) {
  std::string s;
  for (int shift = 56; shift >= 0; shift -= 8)
    s += fmt::format("{}{:02x}", shift == 56 ? "" : ":", (eui >> shift) & 0xff);
  return s;
}

std::optional<InstanceId> instanceOfEui64(uint64_t eui) {
  if ((eui >> 48) != 0x026b || ((eui >> 24) & 0xffff) != 0xfffe) return std::nullopt;
  InstanceId id{static_cast<RunId>(((eui >> 40) & 0xff) << 8 | ((eui >> 16) & 0xff)),
                static_cast<uint32_t>(eui & 0xffff)};
  return id;
}

std::optional<uint64_t> parseEui64(std::string_view s) {
  uint64_t v = 0;
  int digits = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ':' || c == '-') {
      if (digits % 2 != 0 || i == 0 || i + 1 == s.size()) return std::nullopt;
      continue;
    }
    int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
            : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
            : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                        : -1;
    if (d < 0 || ++digits > 16) return std::nullopt;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  if (digits != 16) return std::nullopt;
  return v;
}

std::string ipv4Address(InstanceId id) {
  uint32_t host = id.index + 1;  // .0.0 is the network address
  return fmt::format("10.{}.{}.{}", id.run % 256, (host >> 8) & 0xff, host & 0xff);
}

std::string ipv6Address(InstanceId id) {
  return fmt::format("fd6b:7569:6761:{:x}::{:x}", id.run & 0xffff, id.index + 1);
}

std::string ipv6RunPrefix(RunId run) {
  return fmt::format("fd6b:7569:6761:{:x}::/64", run & 0xffff);
}

std::string contikiPrefix(InstanceId id) {
  return fmt::format("fd6c:7569:{:x}:{:x}::/64", id.run & 0xffff, id.index);
}

std::string contikiHostAddress(InstanceId id) {
  return fmt::format("fd6c:7569:{:x}:{:x}::1", id.run & 0xffff, id.index);
}

std::string contikiRunPrefix(RunId run) {
  return fmt::format("fd6c:7569:{:x}::/48", run & 0xffff);
}

std::string gatewayIpv4(RunId run) {
  return fmt::format("10.{}.255.254", run % 256);
}

std::string gatewayIpv6(RunId run) {
  return fmt::format("fd6b:7569:6761:{:x}::fffe", run & 0xffff);
}

// Hex keeps every (run, index) within IFNAMSIZ: "kv" + 8 + "." + 4 = 15 characters.
std::string linkLocalAddress(InstanceId id) {
  auto m = macAddress(id);
  // EUI-64: flip the universal/local bit and put ff:fe in the middle.
  return fmt::format("fe80::{:x}:{:x}:{:x}:{:x}", ((m[0] ^ 0x02) << 8) | m[1], (m[2] << 8) | 0xff,
                     0xfe00 | m[3], (m[4] << 8) | m[5]);
}

std::string radioLinkName(InstanceId id) {
  return fmt::format("kv{:x}.{:x}", id.run, id.index);
}

std::string runCoreLink(RunId run) {
  return fmt::format("rc{:x}", run);
}

std::string slug(InstanceId id) {
  return fmt::format("r{}-i{}", id.run, id.index);
}

Result<InstanceId> parseSlug(const std::string& s) {
  unsigned long run = 0, index = 0;
  char tail = 0;
  if (std::sscanf(s.c_str(), "r%lu-i%lu%c", &run, &index, &tail) != 2 || run > UINT32_MAX ||
      index >= kMaxInstancesPerRun ||
      slug({static_cast<RunId>(run), static_cast<uint32_t>(index)}) != s)
    return failMsg("not an instance name: '" + s + "'");
  return InstanceId{static_cast<RunId>(run), static_cast<uint32_t>(index)};
}

std::string groupName(RunId run, uint32_t number) {
  return fmt::format("r{}-g{}", run, number);
}

bool isGroupName(const std::string& s) {
  unsigned long run = 0, number = 0;
  char tail = 0;
  return std::sscanf(s.c_str(), "r%lu-g%lu%c", &run, &number, &tail) == 2 && run <= UINT32_MAX &&
         number < kMaxInstancesPerRun &&
         groupName(static_cast<RunId>(run), static_cast<uint32_t>(number)) == s;
}

namespace {

// The placeholders of the argument template and the widest text each can become (for the
// size check at create, which must hold for every device of any run).
struct Placeholder {
  std::string_view name;
  size_t maxWidth;
  std::string (*expand)(const TemplateContext&);
};

const Placeholder kPlaceholders[] = {
    {"index", 5, [](const TemplateContext& c) { return std::to_string(c.id.index); }},
    {"count", 5, [](const TemplateContext& c) { return std::to_string(c.count); }},
    {"run", 10, [](const TemplateContext& c) { return std::to_string(c.id.run); }},
    {"tap", 15, [](const TemplateContext& c) { return c.tap; }},
    {"mac", 17,
     [](const TemplateContext& c) { return macString(addressHolder(c.id, c.groupSize)); }},
    {"ipv4", 15,
     [](const TemplateContext& c) { return ipv4Address(addressHolder(c.id, c.groupSize)); }},
    {"ipv6", 25,
     [](const TemplateContext& c) { return ipv6Address(addressHolder(c.id, c.groupSize)); }},
    {"port", 5,
     [](const TemplateContext& c) { return std::to_string(devicePort(c.id, c.groupSize)); }},
    {"start_ms", 20, [](const TemplateContext& c) { return std::to_string(c.startMs); }},
    {"period_ms", 20, [](const TemplateContext& c) { return std::to_string(c.periodMs); }},
    {"seed", 20, [](const TemplateContext& c) { return std::to_string(c.seed); }},
    // RIOT's socket_zep: "[LADDR:LPORT,]RADDR:RPORT". A group's devices share an address, so
    // each binds its own port, which is how the dispatcher tells them apart.
    {"zep", 43,
     [](const TemplateContext& c) {
       const std::string gateway = gatewayIpv4(c.id.run) + ":17754";
       if (c.groupSize == 0) return gateway;
       return fmt::format("{}:{},{}", ipv4Address(addressHolder(c.id, c.groupSize)),
                          devicePort(c.id, c.groupSize), gateway);
     }},
    {"eui64", 23, [](const TemplateContext& c) { return eui64String(eui64(c.id)); }},
    // Contiki-NG native's --prefix: the address of the host side of its tun0, with the length.
    {"prefix", 25, [](const TemplateContext& c) { return contikiHostAddress(c.id) + "/64"; }},
};

// Walks a template: literal text to `literal`, each placeholder to `placeholder`. Fails on an
// unknown or unterminated placeholder and on a lone '}', naming it.
template <class Literal, class Field>
VoidResult walkTemplate(const std::string& tmpl, Literal&& literal, Field&& placeholder) {
  for (size_t i = 0; i < tmpl.size(); ++i) {
    char c = tmpl[i];
    if ((c == '{' || c == '}') && i + 1 < tmpl.size() && tmpl[i + 1] == c) {
      literal(c);
      ++i;
    } else if (c == '{') {
      auto end = tmpl.find('}', i);
      if (end == std::string::npos)
        return failMsg("unterminated placeholder at position " + std::to_string(i) + " in '" +
                       tmpl + "'");
      std::string_view key(tmpl.data() + i + 1, end - i - 1);
      const Placeholder* p = nullptr;
      for (const auto& k : kPlaceholders)
        if (k.name == key) p = &k;
      if (!p) {
        std::string known;
        for (const auto& k : kPlaceholders)
          known += (known.empty() ? "" : ", ") + std::string(k.name);
        return failMsg("unknown placeholder '{" + std::string(key) + "}' (known: " + known + ")");
      }
      placeholder(*p);
      i = end;
    } else if (c == '}') {
      return failMsg("unmatched '}' at position " + std::to_string(i) + " in '" + tmpl + "'");
    } else {
      literal(c);
    }
  }
  return {};
}

}  // namespace

InstanceId addressHolder(InstanceId id, uint32_t groupSize) {
  return groupSize ? InstanceId{id.run, id.index - id.index % groupSize} : id;
}

uint16_t devicePort(InstanceId id, uint32_t groupSize) {
  // kMaxGroupSize (5,000) places above 17754 stay below 65536.
  return static_cast<uint16_t>(kDevicePortBase + (groupSize ? id.index % groupSize : 0));
}

std::optional<InstanceId> deviceOfPort(InstanceId holder, uint16_t port, uint32_t groupSize) {
  if (groupSize == 0) return holder;
  const uint32_t place = uint32_t{port} - kDevicePortBase;  // wraps below the base
  if (holder.index % groupSize != 0 || port < kDevicePortBase || place >= groupSize)
    return std::nullopt;
  return InstanceId{holder.run, holder.index + place};
}

Result<std::string> expandTemplate(const std::string& tmpl, const TemplateContext& ctx) {
  std::string out;
  out.reserve(tmpl.size() + 16);
  auto walked = walkTemplate(
      tmpl, [&](char c) { out += c; }, [&](const Placeholder& p) { out += p.expand(ctx); });
  if (!walked) return fail(walked.error());
  return out;
}

Result<std::vector<std::string>> expandArgs(const std::vector<std::string>& tmpl,
                                            const TemplateContext& ctx) {
  std::vector<std::string> out;
  out.reserve(tmpl.size());
  for (const auto& a : tmpl) {
    auto x = expandTemplate(a, ctx);
    if (!x) return fail(x.error());
    out.push_back(std::move(*x));
  }
  return out;
}

Result<size_t> maxExpandedSize(const std::vector<std::string>& tmpl) {
  size_t total = 0;
  for (const auto& a : tmpl) {
    auto walked = walkTemplate(
        a, [&](char) { ++total; }, [&](const Placeholder& p) { total += p.maxWidth; });
    if (!walked) return fail(walked.error());
    ++total;  // its terminating NUL in argv
  }
  return total;
}

}  // namespace kuiga
