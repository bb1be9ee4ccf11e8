#include "spec/address.hpp"

#include <arpa/inet.h>

namespace kuiga {

std::string IpAddress::toString() const {
  char buf[INET6_ADDRSTRLEN] = "";
  inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

Result<IpAddress> IpAddress::parse(const std::string& text) {
  IpAddress a;
  if (inet_pton(AF_INET, text.c_str(), a.bytes.data()) == 1) {
    a.family = 4;
    return a;
  }
  if (inet_pton(AF_INET6, text.c_str(), a.bytes.data()) == 1) {
    a.family = 6;
    return a;
  }
  return failMsg("'" + text + "' is not an IPv4 or IPv6 address");
}

Result<Prefix> Prefix::parse(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return failMsg("'" + cidr + "' is not an address/length prefix");
  auto base = IpAddress::parse(cidr.substr(0, slash));
  if (!base) return fail(base.error().context("prefix '" + cidr + "'"));
  int bits = base->family == 4 ? 32 : 128;
  int len = -1;
  try {
    size_t used = 0;
    len = std::stoi(cidr.substr(slash + 1), &used);
    if (used != cidr.size() - slash - 1) len = -1;
  } catch (const std::exception&) {
  }
  if (len < 0 || len > bits) return failMsg("prefix '" + cidr + "': bad length");
  Prefix p{*base, len};
  // Clear the host bits, so that equal blocks compare equal.
  for (int b = len; b < bits; ++b)
    p.base.bytes[static_cast<size_t>(b / 8)] &= static_cast<uint8_t>(~(0x80 >> (b % 8)));
  return p;
}

std::optional<IpAddress> Prefix::host(uint32_t k) const {
  const int bits = base.family == 4 ? 32 : 128;
  const uint64_t n = uint64_t{k} + 1;
  if (bits - length < 64 && n >= (uint64_t{1} << (bits - length)) - 1) return std::nullopt;
  IpAddress a = base;
  uint64_t carry = n;
  for (int i = bits / 8 - 1; i >= 0 && carry; --i) {
    uint64_t v = a.bytes[static_cast<size_t>(i)] + (carry & 0xff);
    a.bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(v);
    carry = (carry >> 8) + (v >> 8);
  }
  return a;
}

std::optional<uint32_t> Prefix::hostIndex(const IpAddress& a) const {
  if (a.family != base.family) return std::nullopt;
  const int bits = base.family == 4 ? 32 : 128;
  for (int b = 0; b < length; ++b) {
    auto i = static_cast<size_t>(b / 8);
    uint8_t mask = static_cast<uint8_t>(0x80 >> (b % 8));
    if ((a.bytes[i] & mask) != (base.bytes[i] & mask)) return std::nullopt;
  }
  // The host part, which for any valid index fits the last four bytes.
  for (int b = length; b < bits - 32; ++b) {
    auto i = static_cast<size_t>(b / 8);
    if (a.bytes[i] & (0x80 >> (b % 8))) return std::nullopt;
  }
  size_t last = static_cast<size_t>(bits / 8);
  uint32_t v = 0;
  for (size_t i = last - 4; i < last; ++i) v = v << 8 | a.bytes[i];
  if (bits - length < 32) v &= (1u << (bits - length)) - 1;
  if (v == 0) return std::nullopt;
  uint32_t k = v - 1;
  if (host(k) != a) return std::nullopt;
  return k;
}

std::string Prefix::toString() const {
  return base.toString() + "/" + std::to_string(length);
}

}  // namespace kuiga
