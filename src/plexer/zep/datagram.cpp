#include "plexer/zep/datagram.hpp"

#include <fmt/format.h>

namespace kuiga::plexer::zep {

namespace {

uint64_t be(std::span<const uint8_t> b, size_t at, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = v << 8 | b[at + i];
  return v;
}

void putBe(std::vector<uint8_t>& out, uint64_t v, size_t n) {
  for (size_t i = n; i-- > 0;) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

}  // namespace

Result<Packet> parse(std::span<const uint8_t> d) {
  if (d.size() < 4 || d[0] != 'E' || d[1] != 'X')
    return failMsg("not a ZEP packet (no \"EX\" preamble)");
  if (d[2] != 2) return failMsg(fmt::format("ZEP version {} (only version 2 is spoken)", d[2]));
  Packet p;
  if (d[3] == static_cast<uint8_t>(Type::Ack)) {
    if (d.size() < kAckBytes) return failMsg("ZEP ack shorter than 8 bytes");
    p.type = Type::Ack;
    p.sequence = static_cast<uint32_t>(be(d, 4, 4));
    return p;
  }
  if (d[3] == static_cast<uint8_t>(Type::Hello)) {
    if (d.size() != kDataHeaderBytes + 8 || d[31] != 8)
      return failMsg(
          fmt::format("ZEP hello of {} bytes (a 32-byte header and an EUI-64)", d.size()));
    p.type = Type::Hello;
    p.eui64 = be(d, kDataHeaderBytes, 8);
    return p;
  }
  if (d[3] != static_cast<uint8_t>(Type::Data))
    return failMsg(fmt::format("ZEP type {} (1 data, 2 ack, 255 hello)", d[3]));
  if (d.size() < kDataHeaderBytes)
    return failMsg(fmt::format("ZEP data header cut short ({} of 32 bytes)", d.size()));
  p.channel = d[4];
  p.deviceId = static_cast<uint16_t>(be(d, 5, 2));
  p.crcMode = d[7] != 0;
  p.lqi = d[8];
  p.ntpTime = be(d, 9, 8);
  p.sequence = static_cast<uint32_t>(be(d, 17, 4));
  size_t len = d[31];
  if (len > kMaxPsdu) return failMsg(fmt::format("802.15.4 frame of {} bytes (at most 127)", len));
  if (d.size() - kDataHeaderBytes < len)
    return failMsg(fmt::format("ZEP says {} frame bytes, the datagram holds {}", len,
                               d.size() - kDataHeaderBytes));
  p.psdu.assign(d.begin() + kDataHeaderBytes, d.begin() + kDataHeaderBytes + len);
  return p;
}

std::vector<uint8_t> encode(const Packet& p) {
  std::vector<uint8_t> out = {'E', 'X', 2, static_cast<uint8_t>(p.type)};
  if (p.type == Type::Ack) {
    putBe(out, p.sequence, 4);
    return out;
  }
  if (p.type == Type::Hello) {
    out.insert(out.end(), 17, 0);
    for (char c : {'H', 'E', 'L', 'L', 'O'}) out.push_back(static_cast<uint8_t>(c));
    out.insert(out.end(), 5, 0);
    out.push_back(8);
    putBe(out, p.eui64, 8);
    return out;
  }
  out.push_back(p.channel);
  putBe(out, p.deviceId, 2);
  out.push_back(p.crcMode ? 1 : 0);
  out.push_back(p.lqi);
  putBe(out, p.ntpTime, 8);
  putBe(out, p.sequence, 4);
  out.insert(out.end(), 10, 0);
  out.push_back(static_cast<uint8_t>(p.psdu.size()));
  out.insert(out.end(), p.psdu.begin(), p.psdu.end());
  return out;
}

Result<MacHeader> macHeader(std::span<const uint8_t> f) {
  if (f.size() < 3) return failMsg("802.15.4 frame shorter than its frame control and sequence");
  uint16_t fc = static_cast<uint16_t>(f[0] | f[1] << 8);
  unsigned dstMode = (fc >> 10) & 3, srcMode = (fc >> 14) & 3, version = (fc >> 12) & 3;
  bool panCompression = fc & (1u << 6);
  if (dstMode == 1 || srcMode == 1) return failMsg("802.15.4 address mode 1 is reserved");
  if (version == 2 && (fc & (1u << 8)))
    return failMsg("802.15.4-2015 frames without a sequence number are not supported");
  MacHeader h;
  h.type = static_cast<FrameType>(fc & 7);
  h.ackRequest = fc & (1u << 5);
  h.sequence = f[2];
  size_t at = 3;
  auto need = [&](size_t n) { return at + n <= f.size(); };
  auto address = [&](unsigned mode) {
    size_t n = mode == 2 ? 2 : 8;
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | f[at + i];  // little-endian on the air
    at += n;
    return MacAddress{mode == 2 ? MacAddress::Mode::Short : MacAddress::Mode::Extended, v};
  };
  uint16_t dstPan = 0;
  if (dstMode) {
    if (!need(2 + (dstMode == 2 ? 2 : 8)))
      return failMsg("802.15.4 frame cut in its destination address");
    dstPan = static_cast<uint16_t>(f[at] | f[at + 1] << 8);
    at += 2;
    h.destination = address(dstMode);
  }
  if (srcMode) {
    h.pan = dstPan;
    if (!(panCompression && dstMode)) {
      if (!need(2)) return failMsg("802.15.4 frame cut in its source PAN");
      h.pan = static_cast<uint16_t>(f[at] | f[at + 1] << 8);
      at += 2;
    }
    if (!need(srcMode == 2 ? 2 : 8)) return failMsg("802.15.4 frame cut in its source address");
    h.source = address(srcMode);
  }
  return h;
}

uint16_t fcs(std::span<const uint8_t> d) {
  uint16_t crc = 0;
  for (uint8_t byte : d) {
    crc ^= byte;
    for (int b = 0; b < 8; ++b) crc = (crc & 1) ? (crc >> 1) ^ 0x8408 : crc >> 1;
  }
  return crc;
}

std::vector<uint8_t> immAck(uint8_t sequence) {
  std::vector<uint8_t> f = {0x02, 0x00, sequence};
  uint16_t c = fcs(f);
  f.push_back(static_cast<uint8_t>(c & 0xff));
  f.push_back(static_cast<uint8_t>(c >> 8));
  return f;
}

std::vector<uint8_t> dataPacket(std::span<const uint8_t> psdu, uint8_t channel, uint64_t ntpTime,
                                uint32_t sequence) {
  Packet p;
  p.channel = channel;
  p.ntpTime = ntpTime;
  p.sequence = sequence;
  p.psdu.assign(psdu.begin(), psdu.end());
  return encode(p);
}

}  // namespace kuiga::plexer::zep
