#include "spec/zep.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "spec/identity.hpp"
#include "spec/reader.hpp"

namespace kuiga {

namespace {
constexpr const char* kFields[] = {"topology", "cols", "probability",   "radius",
                                   "links",    "seed", "channel_queue", "acks"};
constexpr const char* kAcks[] = {"dispatcher", "devices"};
constexpr const char* kKinds[] = {"flat", "grid", "random", "links"};
}  // namespace

nlohmann::json ZepSpec::toJson() const {
  nlohmann::json j = {{"topology", kKinds[static_cast<int>(kind)]},
                      {"channel_queue", channelQueue},
                      {"acks", kAcks[static_cast<int>(acks)]}};
  if (kind == Kind::Grid) {
    j["probability"] = probability;
    if (cols) j["cols"] = cols;
  }
  if (kind == Kind::Random) j["radius"] = radius;
  if (kind == Kind::Links) j["links"] = links;
  j["seed"] = seed ? nlohmann::json(*seed) : nlohmann::json(nullptr);
  return j;
}

Result<ZepSpec> ZepSpec::fromJson(const nlohmann::json& j) {
  if (!j.is_object()) return failMsg(fmt::format("'zep' must be an object, not {}", j.type_name()));
  for (const auto& [k, v] : j.items())
    if (std::find(std::begin(kFields), std::end(kFields), k) == std::end(kFields))
      return failMsg(fmt::format("unknown field 'zep.{}'", k));
  ZepSpec s;
  FieldReader r{j, {}, "zep"};
  if (r.has("topology")) {
    std::string t = j["topology"].is_string() ? j["topology"].get<std::string>() : "";
    auto it = std::find(std::begin(kKinds), std::end(kKinds), t);
    if (it == std::end(kKinds))
      return failMsg("'zep.topology' must be \"flat\", \"grid\", \"random\" or \"links\"");
    s.kind = static_cast<Kind>(it - std::begin(kKinds));
  }
  if (r.has("acks")) {
    std::string a = j["acks"].is_string() ? j["acks"].get<std::string>() : "";
    auto it = std::find(std::begin(kAcks), std::end(kAcks), a);
    if (it == std::end(kAcks)) return failMsg("'zep.acks' must be \"dispatcher\" or \"devices\"");
    s.acks = static_cast<Acks>(it - std::begin(kAcks));
  }
  uint64_t seed = 0;
  r.integer("cols", s.cols, 1, kMaxInstancesPerRun) &&
      r.number("probability", s.probability, 0, 1) && r.number("radius", s.radius, 0, 2) &&
      r.integer("seed", seed, 0, uint64_t{1} << 62) &&
      r.integer("channel_queue", s.channelQueue, 1, 1u << 16);
  if (!r.error.empty()) return failMsg(r.error);
  if (r.has("seed")) s.seed = seed;
  auto only = [&](const char* field, Kind k) -> VoidResult {
    if (r.has(field) && s.kind != k)
      return failMsg(
          fmt::format("'zep.{}' belongs to topology \"{}\"", field, kKinds[static_cast<int>(k)]));
    return {};
  };
  for (auto v : {only("cols", Kind::Grid), only("probability", Kind::Grid),
                 only("radius", Kind::Random), only("links", Kind::Links)})
    if (!v) return fail(v.error());
  if (s.kind == Kind::Links) {
    if (!r.has("links") || !j["links"].is_string())
      return failMsg("'zep.links' is required with topology \"links\": the topology file's text");
    s.links = j["links"].get<std::string>();
    if (s.links.size() > (4u << 20)) return failMsg("'zep.links' is larger than 4 MiB");
  }
  return s;
}

double ZepSpec::expectedRandomLinks(uint32_t count, double radius) {
  // The chance that two points placed uniformly in the unit square lie closer than r (r <= 1;
  // beyond, it is within 2.6% of 1 and taken as the value at 1).
  const double r = std::min(radius, 1.0);
  const double p =
      std::min(1.0, std::numbers::pi * r * r - 8.0 / 3.0 * r * r * r + r * r * r * r / 2);
  const double n = count;
  return n * (n - 1) * p;
}

VoidResult ZepSpec::checkSize(uint32_t count) const {
  if (kind != Kind::Random) return {};
  const double links = expectedRandomLinks(count, radius);
  if (links <= static_cast<double>(kMaxLinks)) return {};
  double lo = 0, hi = radius;  // the largest radius that fits
  for (int i = 0; i < 60; ++i) {
    double mid = (lo + hi) / 2;
    (expectedRandomLinks(count, mid) <= static_cast<double>(kMaxLinks) ? lo : hi) = mid;
  }
  return failMsg(fmt::format(
      "'zep.radius' {} gives {} devices about {:.0f} million links, more than the {} million a "
      "ZEP radio holds; for this count use a radius of at most {:.3f}",
      radius, count, links / 1e6, kMaxLinks / 1000000, std::floor(lo * 1000) / 1000));
}

}  // namespace kuiga
