#pragma once
// A run's IEEE 802.15.4 radio over ZEP (the run spec's "zep" object): the devices speak ZEP v2
// to the Plexer's dispatcher on their gateway address, port 17754, and it delivers each frame
// along a topology.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "plexer/topology.hpp"

namespace kuiga::plexer {

struct ZepSpec {
  enum class Kind : uint8_t { Flat, Grid, Random, Links };
  Kind kind = Kind::Flat;
  uint32_t cols = 0;             // grid: nodes per row (default: the square root of the count)
  double probability = 1.0;      // grid: of each link
  double radius = 0.2;           // random: in the unit square
  std::string links;             // links: RIOT zep_dispatch's topology file, as text
  std::optional<uint64_t> seed;  // the draws (and the random placement); default: the run's
  uint32_t channelQueue = 64;    // frames waiting for the channel at most

  nlohmann::json toJson() const;
  static Result<ZepSpec> fromJson(const nlohmann::json& j);
  // The topology over the run's `count` devices (device k is node k); `run` resolves pinned
  // EUI-64s to this run's devices.
  Result<Topology> topology(uint32_t run, uint32_t count, uint64_t seed) const;
};

}  // namespace kuiga::plexer
