#include "spec/radio.hpp"

#include <fmt/format.h>

#include <cmath>

#include "spec/reader.hpp"

namespace kuiga {
namespace {

constexpr const char* kFields[] = {
    "uplink",     "ue_ipv4_prefix",   "ue_ipv6_prefix", "ues",      "idle_timeout_ms",
    "ue_policy",  "ue_queue",         "rate_bps",       "delay_ms", "loss",
    "active_cap", "active_window_ms", "medium_queue",   "seed"};

}  // namespace

nlohmann::json RadioSpec::toJson() const {
  nlohmann::json j = {
      {"uplink", uplink},
      {"idle_timeout_ms", ue.idleTimeoutNs / 1'000'000},
      {"ue_policy", ue.policy == UePolicy::Queue ? "queue" : "drop"},
      {"ue_queue", ue.queueFrames},
      {"rate_bps", medium.rateBps},
      {"delay_ms", static_cast<double>(medium.delayNs) / 1e6},
      {"loss", medium.loss},
      {"active_cap", medium.activeCap},
      {"active_window_ms", medium.activeWindowNs / 1'000'000},
      {"medium_queue", medium.queueFrames},
  };
  j["ues"] = ues ? nlohmann::json(*ues) : nlohmann::json(nullptr);
  j["seed"] = seed ? nlohmann::json(*seed) : nlohmann::json(nullptr);
  j["ue_ipv4_prefix"] = ueIpv4 ? nlohmann::json(ueIpv4->toString()) : nlohmann::json(nullptr);
  j["ue_ipv6_prefix"] = ueIpv6 ? nlohmann::json(ueIpv6->toString()) : nlohmann::json(nullptr);
  return j;
}

Result<RadioSpec> RadioSpec::fromJson(const nlohmann::json& j) {
  if (!j.is_object())
    return failMsg(fmt::format("'radio' must be an object, not {}", j.type_name()));
  for (const auto& [k, v] : j.items())
    if (std::find(std::begin(kFields), std::end(kFields), k) == std::end(kFields))
      return failMsg(fmt::format("unknown field 'radio.{}'", k));
  RadioSpec s;
  FieldReader r{j, {}};
  if (!r.has("uplink"))
    return failMsg("'radio.uplink' is required: the network namespace of the base station");
  if (!j["uplink"].is_string())
    return failMsg(fmt::format("'radio.uplink' must be a network namespace name, not {}",
                               j["uplink"].type_name()));
  s.uplink = j["uplink"].get<std::string>();
  // A name under /run/netns: no path, nothing `ip netns` would refuse.
  if (s.uplink.empty() || s.uplink.size() > 64 || s.uplink == "." || s.uplink == ".." ||
      s.uplink.find_first_of("/\n\r\t ") != std::string::npos)
    return failMsg("'radio.uplink' must be a network namespace name, not \"" + s.uplink + "\"");
  uint32_t ues = 0, idleMs = 5000, windowMs = 1000;
  uint64_t seed = 0;
  double delayMs = 0;
  r.integer("ues", ues, 1, kMaxInstancesPerRun) &&
      r.integer("idle_timeout_ms", idleMs, 1, 86'400'000) &&
      r.integer("ue_queue", s.ue.queueFrames, 0, 1u << 20) &&
      r.integer("rate_bps", s.medium.rateBps, 0, uint64_t{1} << 40) &&
      r.number("delay_ms", delayMs, 0, 60'000) && r.number("loss", s.medium.loss, 0, 1) &&
      r.integer("active_cap", s.medium.activeCap, 0, kMaxInstancesPerRun) &&
      r.integer("active_window_ms", windowMs, 1, 86'400'000) &&
      r.integer("medium_queue", s.medium.queueFrames, 1, 1u << 20) &&
      r.integer("seed", seed, 0, uint64_t{1} << 62) && r.prefix("ue_ipv4_prefix", 4, s.ueIpv4) &&
      r.prefix("ue_ipv6_prefix", 6, s.ueIpv6);
  if (!r.error.empty()) return failMsg(r.error);
  if (r.has("ue_policy")) {
    auto p = j["ue_policy"].is_string() ? j["ue_policy"].get<std::string>() : "";
    if (p == "queue")
      s.ue.policy = UePolicy::Queue;
    else if (p == "drop")
      s.ue.policy = UePolicy::Drop;
    else
      return failMsg("'radio.ue_policy' must be \"queue\" or \"drop\"");
  }
  if (r.has("ues")) s.ues = ues;
  if (r.has("seed")) s.seed = seed;
  s.ue.idleTimeoutNs = int64_t{idleMs} * 1'000'000;
  s.medium.activeWindowNs = int64_t{windowMs} * 1'000'000;
  s.medium.delayNs = std::llround(delayMs * 1e6);
  return s;
}

Prefix defaultUeIpv4(RunId run) {
  return *Prefix::parse(fmt::format("100.{}.0.0/16", 64 + run % 64));
}

Prefix defaultUeIpv6(RunId run) {
  return *Prefix::parse(fmt::format("fd6b:7569:6762:{:x}::/64", run & 0xffff));
}

}  // namespace kuiga
