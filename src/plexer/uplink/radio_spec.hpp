#pragma once
// A run's radio: how its devices reach the base station through the Plexer (the run spec's
// "radio" object). Every worker that holds devices of the run simulates one cell with it:
// its own K UEs and its own shared medium.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/identity.hpp"
#include "common/result.hpp"
#include "plexer/uplink/medium.hpp"
#include "plexer/uplink/packet.hpp"
#include "plexer/uplink/ue_mux.hpp"

namespace kuiga::plexer {

struct RadioSpec {
  // The network namespace (a name under /run/netns, as `ip netns` makes) where the base station
  // is: the only way out of the radio network. Its kernel routes the UEs' addresses to the
  // Plexer.
  std::string uplink;
  std::optional<Prefix> ueIpv4, ueIpv6;  // the UEs' addresses; defaults from the run id
  std::optional<uint32_t> ues;           // K; default: one per device
  UeConfig ue;
  MediumConfig medium;
  std::optional<uint64_t> seed;  // default: the run's seed

  nlohmann::json toJson() const;
  // Validates every field with a message naming it ("radio.loss must be ...").
  static Result<RadioSpec> fromJson(const nlohmann::json& j);
};

// 100.(64 + run mod 64).0.0/16 in the shared address space, and fd6b:7569:6762:RUN::/64.
Prefix defaultUeIpv4(RunId run);
Prefix defaultUeIpv6(RunId run);

}  // namespace kuiga::plexer
