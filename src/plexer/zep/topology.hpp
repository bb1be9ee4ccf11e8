#pragma once
// Who hears whom on a ZEP radio, and how well: per directed link, the probability that a frame
// arrives. Nodes are a run's instances, by index. A topology comes from a file in the format
// of RIOT's zep_dispatch, or is generated (a grid, a random geometric graph from a seed, or
// flat: everyone hears everyone).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "spec/zep.hpp"

namespace kuiga::plexer {

class Topology {
 public:
  struct Link {
    uint32_t to;
    double probability;  // in (0, 1]
  };

  // Everyone hears everyone, always (RIOT's dispatcher without a topology).
  static Topology flat(uint32_t nodes);
  // Nodes row by row, `cols` to a row; each hears its four neighbours with `probability`.
  static Topology grid(uint32_t nodes, uint32_t cols, double probability);
  // Nodes placed uniformly in the unit square by a seeded generator; a node hears another
  // within `radius` with probability 1 - distance / radius (RIOT's topogen.sh model).
  static Topology randomGeometric(uint32_t nodes, double radius, uint64_t seed);
  // RIOT zep_dispatch's format, one link per line: "A B [p_ab] [p_ba]" (p_ab omitted: 1;
  // p_ba omitted: p_ab), '#' comments. A node is "dev-NNNN" or a bare index, or a name pinned
  // to an EUI-64 by a line "NAME = 02:6b:00:ff:fe:01:00:2a"; `indexOfEui64` says which node
  // has that EUI-64. Errors name the line.
  static Result<Topology> parse(
      std::string_view text, uint32_t nodes,
      const std::function<std::optional<uint32_t>(uint64_t)>& indexOfEui64);

  [[nodiscard]] uint32_t nodes() const { return nodes_; }
  [[nodiscard]] bool isFlat() const { return flat_; }
  // Calls fn(Link) for each link out of `from`, by ascending `to` (for a flat topology: every
  // other node, p = 1). Allocates nothing: the dispatcher calls it for every frame.
  template <class Fn>
  void forEachLink(uint32_t from, Fn&& fn) const {
    if (flat_) {
      for (uint32_t to = 0; to < nodes_; ++to)
        if (to != from) fn(Link{to, 1.0});
    } else if (from < out_.size()) {
      for (const auto& l : out_[from]) fn(l);
    }
  }
  // The same links as a list.
  [[nodiscard]] std::vector<Link> linksFrom(uint32_t from) const;
  [[nodiscard]] double probability(uint32_t from, uint32_t to) const;
  [[nodiscard]] size_t linkCount() const;

 private:
  explicit Topology(uint32_t nodes) : nodes_(nodes), out_(nodes) {}
  void set(uint32_t from, uint32_t to, double p);
  void sort();
  uint32_t nodes_;
  bool flat_ = false;
  std::vector<std::vector<Link>> out_;
};

// The topology a run's ZEP spec asks for, over its `count` devices (device k is node k); `run`
// resolves pinned EUI-64s to this run's devices.
Result<Topology> topologyOf(const ZepSpec& spec, uint32_t run, uint32_t count, uint64_t runSeed);

}  // namespace kuiga::plexer
