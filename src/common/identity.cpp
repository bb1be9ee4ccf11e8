#include "common/identity.hpp"

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

Result<std::string> expandTemplate(const std::string& tmpl, const TemplateContext& ctx) {
  std::string out;
  out.reserve(tmpl.size() + 16);
  for (size_t i = 0; i < tmpl.size(); ++i) {
    char c = tmpl[i];
    if (c == '{' && i + 1 < tmpl.size() && tmpl[i + 1] == '{') {
      out += '{';
      ++i;
    } else if (c == '}' && i + 1 < tmpl.size() && tmpl[i + 1] == '}') {
      out += '}';
      ++i;
    } else if (c == '{') {
      auto end = tmpl.find('}', i);
      if (end == std::string::npos)
        return failMsg("unterminated placeholder at position " + std::to_string(i) + " in '" +
                       tmpl + "'");
      std::string key = tmpl.substr(i + 1, end - i - 1);
      if (key == "index")
        out += std::to_string(ctx.id.index);
      else if (key == "count")
        out += std::to_string(ctx.count);
      else if (key == "run")
        out += std::to_string(ctx.id.run);
      else if (key == "tap")
        out += ctx.tap;
      else if (key == "mac")
        out += macString(ctx.id);
      else if (key == "ipv4")
        out += ipv4Address(ctx.id);
      else if (key == "ipv6")
        out += ipv6Address(ctx.id);
      else if (key == "start_ms")
        out += std::to_string(ctx.startMs);
      else if (key == "seed")
        out += std::to_string(ctx.seed);
      else if (key == "period_ms")
        out += std::to_string(ctx.periodMs);
      else if (key == "zep")
        out += gatewayIpv4(ctx.id.run) + ":17754";
      else if (key == "eui64")
        out += eui64String(eui64(ctx.id));
      else
        return failMsg(
            "unknown placeholder '{" + key +
            "}' (known: index, count, run, tap, mac, ipv4, ipv6, start_ms, period_ms, seed, zep, "
            "eui64)");
      i = end;
    } else if (c == '}') {
      return failMsg("unmatched '}' at position " + std::to_string(i) + " in '" + tmpl + "'");
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace kuiga
