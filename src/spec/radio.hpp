#pragma once
// A run's radio: how its devices reach the base station through the Plexer (the run spec's
// "radio" object). Every worker that holds devices of the run simulates one cell with it:
// its own K UEs and its own shared medium.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "spec/address.hpp"
#include "spec/identity.hpp"

namespace kuiga {

// How the K UEs are shared (uplink/ue_mux.hpp).
enum class UePolicy : uint8_t { Queue, Drop };

struct UeConfig {
  uint32_t ues = 1;
  int64_t idleTimeoutNs = 5'000'000'000;
  UePolicy policy = UePolicy::Queue;
  uint32_t queueFrames = 1024;  // frames waiting for a UE, all devices together
};

// The shared medium toward the base station (uplink/medium.hpp).
struct MediumConfig {
  uint64_t rateBps = 0;    // bits per second of airtime; 0: frames take no airtime
  int64_t delayNs = 0;     // added after the airtime
  double loss = 0;         // probability that a frame is lost on the air (it still takes airtime)
  uint32_t activeCap = 0;  // devices active at once; 0: no cap
  int64_t activeWindowNs = 1'000'000'000;  // a device is active this long after its last frame
  uint32_t queueFrames = 1000;             // frames waiting for the medium at most
  uint64_t seed = 0;
};

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

}  // namespace kuiga
