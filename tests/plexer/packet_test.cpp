#include "plexer/uplink/packet.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace kuiga::plexer {
namespace {

IpAddress addr(const std::string& s) {
  return *IpAddress::parse(s);
}

// The pseudo-header sum a transport checksum covers, folded into the segment.
bool transportChecksumOk(const std::vector<uint8_t>& p, const IpHeader& h) {
  std::vector<uint8_t> pseudo;
  const size_t alen = h.family == 4 ? 4 : 16;
  pseudo.insert(pseudo.end(), h.source.bytes.begin(), h.source.bytes.begin() + alen);
  pseudo.insert(pseudo.end(), h.destination.bytes.begin(), h.destination.bytes.begin() + alen);
  const size_t len = p.size() - h.transportOffset;
  if (h.family == 4) {
    pseudo.insert(pseudo.end(), {0, h.protocol, uint8_t(len >> 8), uint8_t(len)});
  } else {
    pseudo.insert(pseudo.end(), {0, 0, uint8_t(len >> 8), uint8_t(len), 0, 0, 0, h.protocol});
  }
  pseudo.insert(pseudo.end(), p.begin() + static_cast<long>(h.transportOffset), p.end());
  return internetChecksum(pseudo) == 0;
}

void fillChecksum(std::vector<uint8_t>& p, size_t field) {
  auto h = parseIp(p);
  ASSERT_TRUE(h);
  p[h->transportOffset + field] = p[h->transportOffset + field + 1] = 0;
  std::vector<uint8_t> pseudo;
  const size_t alen = h->family == 4 ? 4 : 16;
  pseudo.insert(pseudo.end(), h->source.bytes.begin(), h->source.bytes.begin() + alen);
  pseudo.insert(pseudo.end(), h->destination.bytes.begin(), h->destination.bytes.begin() + alen);
  const size_t len = p.size() - h->transportOffset;
  if (h->family == 4)
    pseudo.insert(pseudo.end(), {0, h->protocol, uint8_t(len >> 8), uint8_t(len)});
  else
    pseudo.insert(pseudo.end(), {0, 0, uint8_t(len >> 8), uint8_t(len), 0, 0, 0, h->protocol});
  pseudo.insert(pseudo.end(), p.begin() + static_cast<long>(h->transportOffset), p.end());
  uint16_t c = internetChecksum(pseudo);
  p[h->transportOffset + field] = uint8_t(c >> 8);
  p[h->transportOffset + field + 1] = uint8_t(c);
}

std::vector<uint8_t> ipv4Udp(const std::string& src, const std::string& dst, std::string payload) {
  std::vector<uint8_t> p = {0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0};
  auto s = addr(src), d = addr(dst);
  p.insert(p.end(), s.bytes.begin(), s.bytes.begin() + 4);
  p.insert(p.end(), d.bytes.begin(), d.bytes.begin() + 4);
  const size_t udpLen = 8 + payload.size();
  p.insert(p.end(), {0x9c, 0x40, 0x13, 0x88, uint8_t(udpLen >> 8), uint8_t(udpLen), 0, 0});
  p.insert(p.end(), payload.begin(), payload.end());
  p[2] = uint8_t(p.size() >> 8);
  p[3] = uint8_t(p.size());
  uint16_t c = internetChecksum(std::span(p.data(), 20));
  p[10] = uint8_t(c >> 8);
  p[11] = uint8_t(c);
  fillChecksum(p, 6);
  return p;
}

std::vector<uint8_t> ipv6(const std::string& src, const std::string& dst, uint8_t next,
                          std::vector<uint8_t> transport) {
  std::vector<uint8_t> p = {
      0x60, 0, 0, 0, uint8_t(transport.size() >> 8), uint8_t(transport.size()), next, 64};
  auto s = addr(src), d = addr(dst);
  p.insert(p.end(), s.bytes.begin(), s.bytes.end());
  p.insert(p.end(), d.bytes.begin(), d.bytes.end());
  p.insert(p.end(), transport.begin(), transport.end());
  return p;
}

TEST(Packet, Ipv4HeaderChecksumMatchesTheTextbookExample) {
  // The header from RFC 1071-style worked examples: checksum 0xb861.
  std::vector<uint8_t> h = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                            0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(internetChecksum(h), 0xb861);
}

TEST(Packet, RewritesIpv4UdpSourceAndKeepsBothChecksumsValid) {
  auto p = ipv4Udp("10.7.0.43", "10.99.0.1", "reading 1 from run-7-dev-0042");
  auto h = parseIp(p);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->family, 4);
  EXPECT_EQ(h->protocol, 17);
  EXPECT_EQ(h->source.toString(), "10.7.0.43");
  ASSERT_TRUE(transportChecksumOk(p, *h));
  rewriteAddress(p, *h, true, addr("100.71.0.1"));
  auto after = parseIp(p);
  EXPECT_EQ(after->source.toString(), "100.71.0.1");
  EXPECT_EQ(after->destination.toString(), "10.99.0.1");
  EXPECT_EQ(internetChecksum(std::span(p.data(), 20)), 0);
  EXPECT_TRUE(transportChecksumOk(p, *after));
  // And back, as return traffic is.
  rewriteAddress(p, *after, false, addr("10.7.0.43"));
  EXPECT_EQ(internetChecksum(std::span(p.data(), 20)), 0);
  EXPECT_TRUE(transportChecksumOk(p, *parseIp(p)));
}

TEST(Packet, LeavesAnIpv4UdpWithoutChecksumWithout) {
  auto p = ipv4Udp("10.7.0.43", "10.99.0.1", "x");
  p[26] = p[27] = 0;
  rewriteAddress(p, *parseIp(p), true, addr("100.64.0.9"));
  EXPECT_EQ(p[26], 0);
  EXPECT_EQ(p[27], 0);
  EXPECT_EQ(internetChecksum(std::span(p.data(), 20)), 0);
}

TEST(Packet, RewritesIpv6UdpAndIcmpv6) {
  std::vector<uint8_t> udp = {0x9c, 0x40, 0x16, 0x33, 0, 13, 0, 0, 'h', 'e', 'l', 'l', 'o'};
  auto p = ipv6("fd6b:7569:6761:7::2b", "fd00:99::1", 17, udp);
  fillChecksum(p, 6);
  auto h = parseIp(p);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->transportOffset, 40u);
  rewriteAddress(p, *h, true, addr("fd6b:7569:6762:7::1"));
  EXPECT_EQ(parseIp(p)->source.toString(), "fd6b:7569:6762:7::1");
  EXPECT_TRUE(transportChecksumOk(p, *parseIp(p)));

  std::vector<uint8_t> echo = {128, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g'};
  auto q = ipv6("fd6b:7569:6761:7::2b", "fd00:99::1", 58, echo);
  fillChecksum(q, 2);
  rewriteAddress(q, *parseIp(q), true, addr("fd6b:7569:6762:7::5"));
  EXPECT_TRUE(transportChecksumOk(q, *parseIp(q)));
}

TEST(Packet, FindsTheTransportBehindIpv6ExtensionHeaders) {
  // Hop-by-hop options (8 bytes) in front of UDP.
  std::vector<uint8_t> t = {17, 0, 1, 4, 0, 0, 0, 0, 0x9c, 0x40, 0x16, 0x33, 0, 9, 0, 0, 'z'};
  auto p = ipv6("fd6b:7569:6761:7::2b", "fd00:99::1", 0, t);
  auto h = parseIp(p);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->protocol, 17);
  EXPECT_EQ(h->transportOffset, 48u);
}

TEST(Packet, RefusesWhatIsNotAWholeIpHeader) {
  EXPECT_FALSE(parseIp(std::vector<uint8_t>{}));
  EXPECT_FALSE(parseIp(std::vector<uint8_t>(19, 0x45)));
  EXPECT_FALSE(parseIp(std::vector<uint8_t>(39, 0x60)));
  std::vector<uint8_t> badIhl(20, 0);
  badIhl[0] = 0x4f;  // 60-byte header in 20 bytes
  EXPECT_FALSE(parseIp(badIhl));
  // Hop-by-hop options that say they are 48 bytes long, in a packet with 17 after the header
  // (found by fuzz/ip_packet: the transport offset was past the end).
  std::vector<uint8_t> t = {17, 5, 1, 4, 0, 0, 0, 0, 0x9c, 0x40, 0x16, 0x33, 0, 9, 0, 0, 'z'};
  EXPECT_FALSE(parseIp(ipv6("fd6b:7569:6761:7::2b", "fd00:99::1", 0, t)));
}

TEST(Packet, MapsAddressesToDevicesAndBack) {
  auto d = deviceOf(addr("10.7.0.43"));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->run, 7u);
  EXPECT_EQ(d->index, 42u);
  auto d6 = deviceOf(addr(ipv6Address({300, 49999})));
  ASSERT_TRUE(d6);
  EXPECT_EQ(d6->run, 300u);
  EXPECT_EQ(d6->index, 49999u);
  EXPECT_FALSE(deviceOf(addr("10.7.255.254")));  // the gateway
  EXPECT_FALSE(deviceOf(addr("192.0.2.1")));
  EXPECT_FALSE(deviceOf(addr("fd6b:7569:6761:7::fffe")));
  // A Contiki-NG device's own prefix, whatever the interface identifier its stack chose.
  auto c = deviceOf(addr("fd6c:7569:7:2a:302:304:506:708"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->run, 7u);
  EXPECT_EQ(c->index, 42u);
  EXPECT_FALSE(deviceOf(addr("fd6c:7569:7:c350::1")));  // index 50,000: past any run
  for (InstanceId id : {InstanceId{7, 0}, InstanceId{263, 1234}, InstanceId{1, 49999}}) {
    EXPECT_EQ(deviceAddress(id, 4).toString(), ipv4Address(id));
    EXPECT_EQ(deviceAddress(id, 6).toString(), ipv6Address(id));
  }
}

TEST(Packet, NumbersHostsInAPrefix) {
  auto p = Prefix::parse("100.71.3.9/16");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->toString(), "100.71.0.0/16");
  EXPECT_EQ(p->host(0)->toString(), "100.71.0.1");
  EXPECT_EQ(p->host(255)->toString(), "100.71.1.0");
  EXPECT_EQ(p->host(65533)->toString(), "100.71.255.254");
  EXPECT_FALSE(p->host(65534));  // the broadcast address
  EXPECT_EQ(p->hostIndex(addr("100.71.1.0")), 255u);
  EXPECT_FALSE(p->hostIndex(addr("100.72.0.1")));
  EXPECT_FALSE(p->hostIndex(addr("100.71.0.0")));
  auto v6 = Prefix::parse("fd6b:7569:6762:7::/64");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host(49999)->toString(), "fd6b:7569:6762:7::c350");
  EXPECT_EQ(v6->hostIndex(addr("fd6b:7569:6762:7::c350")), 49999u);
  EXPECT_FALSE(v6->hostIndex(addr("fd6b:7569:6762:7:1::1")));
  auto tiny = Prefix::parse("192.0.2.0/30");
  EXPECT_TRUE(tiny->host(1));
  EXPECT_FALSE(tiny->host(2));
  for (const char* bad : {"100.64.0.0", "100.64.0.0/33", "x/8", "100.64.0.0/8x", "::/129"})
    EXPECT_FALSE(Prefix::parse(bad)) << bad;
}

}  // namespace
}  // namespace kuiga::plexer
