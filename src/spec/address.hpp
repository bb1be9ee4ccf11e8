#pragma once
// IP addresses and address blocks, as run specs name them (the UEs' prefixes) and the Plexer
// rewrites them.
#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace kuiga {

// An address of either family: IPv4 uses the first four bytes.
struct IpAddress {
  int family = 0;  // 4 or 6
  std::array<uint8_t, 16> bytes{};
  auto operator<=>(const IpAddress&) const = default;
  std::string toString() const;
  static Result<IpAddress> parse(const std::string& text);
};

// An address block: `base` and the number of leading bits that are fixed.
struct Prefix {
  IpAddress base;
  int length = 0;
  static Result<Prefix> parse(const std::string& cidr);
  // The k-th host (k from 0): base + k + 1. nullopt when it does not fit.
  std::optional<IpAddress> host(uint32_t k) const;
  // Inverse of host().
  std::optional<uint32_t> hostIndex(const IpAddress& a) const;
  std::string toString() const;
};

}  // namespace kuiga
