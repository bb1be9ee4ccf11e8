#pragma once
// IP packets on the Plexer's forwarding path: which device sent one, and the address
// translation between a device and the UE it holds. Written by hand because it is the
// Plexer's own core and small: no Debian library rewrites addresses in place with an
// incremental checksum update (RFC 1624) without copying or allocating per packet.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "common/result.hpp"
#include "spec/address.hpp"
#include "spec/identity.hpp"

namespace kuiga::plexer {

// Where a packet's addresses are; nullopt when it is not a whole IPv4/IPv6 header.
struct IpHeader {
  int family = 0;
  IpAddress source, destination;
  uint8_t protocol = 0;  // the transport (after IPv6 extension headers)
  size_t transportOffset = 0;
  bool firstFragment = true;  // the transport header is in this packet
};
std::optional<IpHeader> parseIp(std::span<const uint8_t> packet);

// Replaces the source (or destination) address with `to`, of the same family, and updates
// the IPv4 header checksum and the TCP, UDP or ICMPv6 checksum that covers it. `header` is
// parseIp(packet).
void rewriteAddress(std::span<uint8_t> packet, const IpHeader& header, bool source,
                    const IpAddress& to);

// The Internet checksum of `data` with `initial` folded in (for building test packets).
uint16_t internetChecksum(std::span<const uint8_t> data, uint32_t initial = 0);

// The device an address on the radio network belongs to: its plan address, or (IPv6) an
// address in its own Contiki-NG prefix. IPv4 carries the run only modulo 256 (ipv4Address),
// IPv6 modulo 65536: the caller resolves `run` among its live runs.
std::optional<InstanceId> deviceOf(const IpAddress& a);
// The device's address of `family` (ipv4Address(id) or ipv6Address(id)), as bytes.
IpAddress deviceAddress(InstanceId id, int family);

}  // namespace kuiga::plexer
