#pragma once
// A run's IEEE 802.15.4 radio over ZEP (the run spec's "zep" object): the devices speak ZEP v2
// to the Plexer's dispatcher on their gateway address, port 17754, and it delivers each frame
// along a topology.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace kuiga {

struct ZepSpec {
  enum class Kind : uint8_t { Flat, Grid, Random, Links };
  Kind kind = Kind::Flat;
  uint32_t cols = 0;             // grid: nodes per row (default: the square root of the count)
  double probability = 1.0;      // grid: of each link
  double radius = 0.2;           // random: in the unit square
  std::string links;             // links: RIOT zep_dispatch's topology file, as text
  std::optional<uint64_t> seed;  // the draws (and the random placement); default: the run's
  uint32_t channelQueue = 64;    // frames waiting for the channel at most
  // Who acknowledges frames that ask for an ACK: the dispatcher for the receiver, within the
  // sender's ACK wait (the default), or the devices themselves, late (see zep/dispatcher.hpp).
  enum class Acks : uint8_t { Dispatcher, Devices };
  Acks acks = Acks::Dispatcher;

  // The most links a topology may hold: 32 Mi (16 bytes each in the dispatcher), far more than
  // a channel can use (each frame would reach thousands of receivers).
  static constexpr uint64_t kMaxLinks = uint64_t{32} << 20;

  nlohmann::json toJson() const;
  static Result<ZepSpec> fromJson(const nlohmann::json& j);
  // Refuses a random topology whose expected number of links for `count` devices is over
  // kMaxLinks (it would take the dispatcher's memory), naming the largest radius that fits.
  VoidResult checkSize(uint32_t count) const;
  // The expected number of (directed) links of a random topology of `count` devices.
  static double expectedRandomLinks(uint32_t count, double radius);
};

}  // namespace kuiga
