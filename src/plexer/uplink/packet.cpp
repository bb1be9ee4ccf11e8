#include "plexer/uplink/packet.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace kuiga::plexer {
namespace {

uint16_t load16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
void store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m'), summed over the changed 16-bit words.
uint16_t adjustChecksum(uint16_t checksum, const uint8_t* from, const uint8_t* to, size_t len) {
  uint32_t sum = static_cast<uint16_t>(~checksum);
  for (size_t i = 0; i + 1 < len; i += 2) {
    sum += static_cast<uint16_t>(~load16(from + i));
    sum += load16(to + i);
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

bool isExtensionHeader(uint8_t next) {
  return next == 0 || next == 43 || next == 60 || next == 44;
}

}  // namespace

std::optional<IpHeader> parseIp(std::span<const uint8_t> p) {
  IpHeader h;
  if (p.size() >= 20 && p[0] >> 4 == 4) {
    size_t ihl = (p[0] & 0x0f) * 4u;
    if (ihl < 20 || p.size() < ihl) return std::nullopt;
    h.family = 4;
    h.source.family = h.destination.family = 4;
    std::memcpy(h.source.bytes.data(), &p[12], 4);
    std::memcpy(h.destination.bytes.data(), &p[16], 4);
    h.protocol = p[9];
    h.transportOffset = ihl;
    h.firstFragment = (load16(&p[6]) & 0x1fff) == 0;
    return h;
  }
  if (p.size() >= 40 && p[0] >> 4 == 6) {
    h.family = 6;
    h.source.family = h.destination.family = 6;
    std::memcpy(h.source.bytes.data(), &p[8], 16);
    std::memcpy(h.destination.bytes.data(), &p[24], 16);
    uint8_t next = p[6];
    size_t off = 40;
    while (isExtensionHeader(next)) {
      if (p.size() < off + 8) return std::nullopt;
      if (next == 44) {
        if ((load16(&p[off + 2]) & 0xfff8) != 0) h.firstFragment = false;
        next = p[off];
        off += 8;
      } else {
        uint8_t n = p[off];
        off += (p[off + 1] + 1u) * 8;
        next = n;
      }
    }
    // The last extension header may say it runs past the packet's end (fuzzing found one).
    if (off > p.size()) return std::nullopt;
    h.protocol = next;
    h.transportOffset = off;
    return h;
  }
  return std::nullopt;
}

void rewriteAddress(std::span<uint8_t> p, const IpHeader& h, bool source, const IpAddress& to) {
  const size_t len = h.family == 4 ? 4 : 16;
  const size_t at = h.family == 4 ? (source ? 12 : 16) : (source ? 8 : 24);
  uint8_t old[16];
  std::memcpy(old, &p[at], len);
  std::memcpy(&p[at], to.bytes.data(), len);
  if (h.family == 4) store16(&p[10], adjustChecksum(load16(&p[10]), old, to.bytes.data(), len));
  if (!h.firstFragment) return;
  // The transport checksums that cover the addresses through the pseudo-header.
  size_t field = 0;
  if (h.protocol == 6)
    field = 16;  // TCP
  else if (h.protocol == 17)
    field = 6;  // UDP
  else if (h.protocol == 58 && h.family == 6)
    field = 2;  // ICMPv6
  else
    return;
  if (h.transportOffset + field + 2 > p.size()) return;
  uint8_t* c = &p[h.transportOffset + field];
  uint16_t sum = load16(c);
  if (h.protocol == 17 && h.family == 4 && sum == 0) return;  // an IPv4 UDP without checksum
  sum = adjustChecksum(sum, old, to.bytes.data(), len);
  if (h.protocol == 17 && sum == 0) sum = 0xffff;  // 0 means "none" in UDP
  store16(c, sum);
}

uint16_t internetChecksum(std::span<const uint8_t> data, uint32_t initial) {
  uint64_t sum = initial;
  for (size_t i = 0; i + 1 < data.size(); i += 2) sum += load16(&data[i]);
  if (data.size() % 2) sum += static_cast<uint16_t>(data.back() << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

std::optional<InstanceId> deviceOf(const IpAddress& a) {
  if (a.family == 4) {
    if (a.bytes[0] != 10) return std::nullopt;
    uint32_t host = uint32_t{a.bytes[2]} << 8 | a.bytes[3];
    if (host == 0 || host > kMaxInstancesPerRun) return std::nullopt;
    return InstanceId{a.bytes[1], host - 1};
  }
  // A Contiki-NG device's own prefix, fd6c:7569:RUN:INDEX::/64 (contikiPrefix).
  static const uint8_t kContiki[4] = {0xfd, 0x6c, 0x75, 0x69};
  if (a.family == 6 && std::memcmp(a.bytes.data(), kContiki, 4) == 0) {
    uint32_t index = uint32_t{a.bytes[6]} << 8 | a.bytes[7];
    if (index >= kMaxInstancesPerRun) return std::nullopt;
    return InstanceId{uint32_t{a.bytes[4]} << 8 | a.bytes[5], index};
  }
  static const uint8_t kPrefix[6] = {0xfd, 0x6b, 0x75, 0x69, 0x67, 0x61};
  if (a.family != 6 || std::memcmp(a.bytes.data(), kPrefix, 6) != 0) return std::nullopt;
  for (size_t i = 8; i < 12; ++i)
    if (a.bytes[i]) return std::nullopt;
  uint32_t host = 0;
  for (size_t i = 12; i < 16; ++i) host = host << 8 | a.bytes[i];
  if (host == 0 || host > kMaxInstancesPerRun) return std::nullopt;
  return InstanceId{uint32_t{a.bytes[6]} << 8 | a.bytes[7], host - 1};
}

IpAddress deviceAddress(InstanceId id, int family) {
  IpAddress a;
  a.family = family;
  const uint32_t host = id.index + 1;
  if (family == 4) {
    a.bytes[0] = 10;
    a.bytes[1] = static_cast<uint8_t>(id.run);
    a.bytes[2] = static_cast<uint8_t>(host >> 8);
    a.bytes[3] = static_cast<uint8_t>(host);
    return a;
  }
  const uint8_t prefix[6] = {0xfd, 0x6b, 0x75, 0x69, 0x67, 0x61};
  std::memcpy(a.bytes.data(), prefix, 6);
  a.bytes[6] = static_cast<uint8_t>(id.run >> 8);
  a.bytes[7] = static_cast<uint8_t>(id.run);
  for (size_t i = 0; i < 4; ++i) a.bytes[15 - i] = static_cast<uint8_t>(host >> (8 * i));
  return a;
}

}  // namespace kuiga::plexer
