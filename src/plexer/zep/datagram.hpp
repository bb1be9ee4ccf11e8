#pragma once
// ZEP v2, the ZigBee Encapsulation Protocol as Wireshark's ZEP dissector reads it and RIOT's
// socket_zep speaks it: IEEE 802.15.4 frames in UDP (port 17754). Written by hand: no Debian
// library speaks ZEP, and the header is 32 bytes. Also the little of an 802.15.4 MAC header
// the dispatcher needs (frame type, ACK request, sequence number, addresses) and the imm-ACK
// it sends for a receiver.
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

// Hello is RIOT's socket_zep_hello: a data header of type 255 (reserved "HELLO", length 8)
// followed by the device's EUI-64, sent when its long address is set, so that a dispatcher
// knows it before its first frame.
enum class Type : uint8_t { Data = 1, Ack = 2, Hello = 255 };

// A ZEP v2 packet. For Data, `psdu` is the 802.15.4 frame as carried (with its FCS in CRC mode).
// For Hello, `eui64` is the device's address in the usual byte order.
struct Packet {
  Type type = Type::Data;
  uint8_t channel = 26;
  uint16_t deviceId = 0;
  bool crcMode = true;  // else LQI mode
  uint8_t lqi = 0xff;
  uint64_t ntpTime = 0;  // NTP format: seconds since 1900 << 32 | fraction
  uint32_t sequence = 0;
  std::vector<uint8_t> psdu;
  uint64_t eui64 = 0;
};

// Parses a datagram; refuses anything that is not ZEP v2 (with the reason).
Result<Packet> parse(std::span<const uint8_t> datagram);
std::vector<uint8_t> encode(const Packet& p);

// An 802.15.4 MAC address as the dispatcher keys it: an EUI-64 in the usual byte order (the
// air carries it reversed), or a 16-bit short address.
struct MacAddress {
  enum class Mode : uint8_t { None, Short, Extended };
  Mode mode = Mode::None;
  uint64_t value = 0;
  bool operator==(const MacAddress&) const = default;
  [[nodiscard]] bool broadcast() const { return mode == Mode::Short && value == 0xffff; }
};

enum class FrameType : uint8_t { Beacon = 0, Data = 1, Ack = 2, Command = 3 };

// The MAC header of an 802.15.4 frame (frame versions 2003, 2006 and 2015 without sequence
// number suppression), as far as the dispatcher reads it.
struct MacHeader {
  FrameType type = FrameType::Data;
  bool ackRequest = false;
  uint8_t sequence = 0;
  MacAddress destination, source;
  uint16_t pan = 0;  // the source's PAN
};
Result<MacHeader> macHeader(std::span<const uint8_t> psdu);

// IEEE 802.15.4's FCS: CRC-16/KERMIT (ITU-T polynomial, reflected, initial 0), sent low byte
// first.
uint16_t fcs(std::span<const uint8_t> bytes);
// The imm-ACK PSDU a receiver sends for the frame numbered `sequence`: frame control (ACK,
// 2003), the sequence number and the FCS (5 bytes).
std::vector<uint8_t> immAck(uint8_t sequence);
// A ZEP v2 data packet carrying `psdu`, as the dispatcher sends it on.
std::vector<uint8_t> dataPacket(std::span<const uint8_t> psdu, uint8_t channel, uint64_t ntpTime,
                                uint32_t sequence);

// aTurnaroundTime: a receiver starts its ACK 12 symbols (192 us) after the frame's end.
constexpr int64_t kTurnaroundNs = 192'000;
constexpr size_t kImmAckBytes = 5;

// Airtime of a PSDU at 250 kbit/s (O-QPSK, 2.4 GHz): preamble, SFD and PHR (6 bytes) plus the
// PSDU, 32 us per byte.
constexpr int64_t airtimeNs(size_t psduBytes) {
  return static_cast<int64_t>(psduBytes + 6) * 32'000;
}

}  // namespace kuiga::plexer::zep
