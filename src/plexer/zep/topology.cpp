#include "plexer/zep/topology.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "plexer/splitmix.hpp"
#include "spec/identity.hpp"

namespace kuiga::plexer {

Topology Topology::flat(uint32_t nodes) {
  Topology t(nodes);
  t.flat_ = true;
  t.out_.clear();
  return t;
}

Topology Topology::grid(uint32_t nodes, uint32_t cols, double probability) {
  Topology t(nodes);
  cols = std::max<uint32_t>(cols, 1);
  for (uint32_t i = 0; i < nodes; ++i) {
    if ((i + 1) % cols != 0 && i + 1 < nodes)
      t.set(i, i + 1, probability), t.set(i + 1, i, probability);
    if (i + cols < nodes) t.set(i, i + cols, probability), t.set(i + cols, i, probability);
  }
  t.sort();
  return t;
}

Topology Topology::randomGeometric(uint32_t nodes, double radius, uint64_t seed) {
  Topology t(nodes);
  SplitMix64 rng(seed);
  std::vector<std::pair<double, double>> at(nodes);
  for (auto& p : at) p = {rng.uniform(), rng.uniform()};
  for (uint32_t a = 0; a < nodes; ++a)
    for (uint32_t b = a + 1; b < nodes; ++b) {
      double d = std::hypot(at[a].first - at[b].first, at[a].second - at[b].second);
      if (d >= radius) continue;
      double p = 1 - d / radius;
      t.set(a, b, p);
      t.set(b, a, p);
    }
  t.sort();
  return t;
}

Result<Topology> Topology::parse(
    std::string_view text, uint32_t nodes,
    const std::function<std::optional<uint32_t>(uint64_t)>& indexOfEui64) {
  Topology t(nodes);
  std::map<std::string, uint32_t, std::less<>> pinned;
  std::istringstream in{std::string(text)};
  std::string line;
  for (size_t no = 1; std::getline(in, line); ++no) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string x; words >> x;) w.push_back(x);
    if (w.empty()) continue;
    auto where = [&](const std::string& msg) {
      return failMsg(fmt::format("line {}: {}", no, msg));
    };
    if (w.size() == 3 && w[1] == "=") {
      auto eui = parseEui64(w[2]);
      if (!eui)
        return where(fmt::format("'{}' is not an EUI-64 (like 02:6b:00:ff:fe:01:00:2a)", w[2]));
      auto idx = indexOfEui64(*eui);
      if (!idx) return where(fmt::format("no device of this run has the EUI-64 {}", w[2]));
      pinned[w[0]] = *idx;
      continue;
    }
    if (w.size() < 2 || w.size() > 4)
      return where("expected \"A B [p_ab] [p_ba]\" or \"NAME = EUI-64\"");
    auto node = [&](const std::string& name) -> std::optional<uint32_t> {
      if (auto it = pinned.find(name); it != pinned.end()) return it->second;
      std::string_view digits = name;
      if (digits.rfind("dev-", 0) == 0) digits.remove_prefix(4);
      uint32_t v = 0;
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec != std::errc() || p != digits.data() + digits.size() || digits.empty())
        return std::nullopt;
      return v;
    };
    auto a = node(w[0]), b = node(w[1]);
    for (auto [n, name] : {std::pair{a, w[0]}, std::pair{b, w[1]}}) {
      if (!n)
        return where(fmt::format(
            "unknown node '{}' (use dev-NNNN, an index, or pin the name to an EUI-64 first)",
            name));
      if (*n >= nodes)
        return where(
            fmt::format("node '{}' is index {}, but the run has {} devices", name, *n, nodes));
    }
    if (*a == *b) return where("a link from a node to itself");
    double p[2] = {1, 1};
    for (size_t k = 2; k < w.size(); ++k) {
      char* end = nullptr;
      double v = std::strtod(w[k].c_str(), &end);
      if (end != w[k].c_str() + w[k].size() || !(v >= 0 && v <= 1))
        return where(fmt::format("'{}' is not a probability between 0 and 1", w[k]));
      p[k - 2] = v;
    }
    if (w.size() == 3) p[1] = p[0];
    t.set(*a, *b, p[0]);
    t.set(*b, *a, p[1]);
  }
  t.sort();
  return t;
}

void Topology::set(uint32_t from, uint32_t to, double p) {
  auto& links = out_[from];
  auto it = std::find_if(links.begin(), links.end(), [&](const Link& l) { return l.to == to; });
  if (p <= 0) {
    if (it != links.end()) links.erase(it);
  } else if (it != links.end()) {
    it->probability = p;
  } else {
    links.push_back({to, p});
  }
}

void Topology::sort() {
  for (auto& links : out_)
    std::sort(links.begin(), links.end(), [](const Link& x, const Link& y) { return x.to < y.to; });
}

std::vector<Topology::Link> Topology::linksFrom(uint32_t from) const {
  std::vector<Link> all;
  forEachLink(from, [&](const Link& l) { all.push_back(l); });
  return all;
}

double Topology::probability(uint32_t from, uint32_t to) const {
  if (flat_) return from != to && from < nodes_ && to < nodes_ ? 1.0 : 0.0;
  if (from >= out_.size()) return 0;
  for (const auto& l : out_[from])
    if (l.to == to) return l.probability;
  return 0;
}

size_t Topology::linkCount() const {
  if (flat_) return static_cast<size_t>(nodes_) * (nodes_ ? nodes_ - 1 : 0);
  size_t n = 0;
  for (const auto& l : out_) n += l.size();
  return n;
}

Result<Topology> topologyOf(const ZepSpec& spec, uint32_t run, uint32_t count, uint64_t runSeed) {
  KUIGA_TRY(spec.checkSize(count), "ZEP topology");
  const uint64_t sd = spec.seed.value_or(runSeed);
  switch (spec.kind) {
    case ZepSpec::Kind::Flat:
      return Topology::flat(count);
    case ZepSpec::Kind::Grid: {
      uint32_t c = spec.cols ? spec.cols : static_cast<uint32_t>(std::ceil(std::sqrt(count)));
      return Topology::grid(count, c, spec.probability);
    }
    case ZepSpec::Kind::Random:
      return Topology::randomGeometric(count, spec.radius, sd);
    case ZepSpec::Kind::Links: {
      auto t = Topology::parse(spec.links, count, [run](uint64_t eui) -> std::optional<uint32_t> {
        auto id = instanceOfEui64(eui);
        if (!id || id->run != run) return std::nullopt;
        return id->index;
      });
      if (!t) return fail(t.error().context("'zep.links'"));
      return t;
    }
  }
  return failMsg("unknown ZEP topology");
}

}  // namespace kuiga::plexer
