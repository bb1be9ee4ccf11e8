#pragma once
// ZEP v2, the ZigBee Encapsulation Protocol as Wireshark's ZEP dissector reads it and RIOT's
// socket_zep speaks it: IEEE 802.15.4 frames in UDP (port 17754). Written by hand: no Debian
// library speaks ZEP, and the header is 32 bytes. Also the little of an 802.15.4 MAC header
// the dispatcher needs: the source address.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/result.hpp"

namespace kuiga::plexer::zep {

constexpr uint16_t kPort = 17754;
constexpr size_t kDataHeaderBytes = 32;
constexpr size_t kAckBytes = 8;
constexpr size_t kMaxPsdu = 127;  // aMaxPHYPacketSize

enum class Type : uint8_t { Data = 1, Ack = 2 };

// A ZEP v2 packet. For Data, `psdu` is the 802.15.4 frame as carried (with its FCS in CRC mode).
struct Packet {
  Type type = Type::Data;
  uint8_t channel = 26;
  uint16_t deviceId = 0;
  bool crcMode = true;  // else LQI mode
  uint8_t lqi = 0xff;
  uint64_t ntpTime = 0;  // NTP format: seconds since 1900 << 32 | fraction
  uint32_t sequence = 0;
  std::vector<uint8_t> psdu;
};

// Parses a datagram; refuses anything that is not ZEP v2 (with the reason).
Result<Packet> parse(std::span<const uint8_t> datagram);
std::vector<uint8_t> encode(const Packet& p);

// The source address of an 802.15.4 MAC frame (frame versions 2003, 2006 and 2015 without
// sequence number suppression): its EUI-64 in the usual byte order (the air carries it
// reversed), or its 16-bit short address, or nothing when the frame has none.
struct MacSource {
  std::optional<uint64_t> extended;
  std::optional<uint16_t> shortAddr;
  uint16_t pan = 0;
};
Result<MacSource> macSource(std::span<const uint8_t> psdu);

// Airtime of a PSDU at 250 kbit/s (O-QPSK, 2.4 GHz): preamble, SFD and PHR (6 bytes) plus the
// PSDU, 32 us per byte.
constexpr int64_t airtimeNs(size_t psduBytes) {
  return static_cast<int64_t>(psduBytes + 6) * 32'000;
}

}  // namespace kuiga::plexer::zep
