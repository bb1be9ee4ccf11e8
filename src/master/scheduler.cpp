#include "master/scheduler.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <queue>

namespace kuiga::master {

std::vector<std::string> placeInstances(uint32_t count, const std::vector<NodeRoom>& nodes) {
  std::vector<uint32_t> indices(count);
  std::iota(indices.begin(), indices.end(), 0u);
  return placeGroups(indices, 1, nodes);
}

std::vector<std::string> placeGroups(const std::vector<uint32_t>& indices, uint32_t groupSize,
                                     const std::vector<NodeRoom>& nodes) {
  groupSize = std::max(groupSize, 1u);
  // The positions in `indices` of each group's devices, groups in order of their first.
  std::map<uint32_t, std::vector<size_t>> groups;
  for (size_t k = 0; k < indices.size(); ++k) groups[indices[k] / groupSize].push_back(k);
  using Slot = std::pair<int64_t, std::string>;
  std::priority_queue<Slot> free;
  for (const auto& n : nodes) {
    int64_t f = static_cast<int64_t>(n.capacity) - static_cast<int64_t>(n.load);
    if (f > 0) free.push({f, n.name});
  }
  std::vector<std::string> out(indices.size());
  for (const auto& [number, members] : groups) {
    const auto need = static_cast<int64_t>(members.size());
    if (free.empty() || free.top().first < need) return {};
    auto [f, name] = free.top();
    free.pop();
    for (size_t k : members) out[k] = name;
    if (f > need) free.push({f - need, name});
  }
  return out;
}

uint64_t freeRoom(const std::vector<NodeRoom>& nodes) {
  uint64_t total = 0;
  for (const auto& n : nodes) total += n.capacity > n.load ? n.capacity - n.load : 0;
  return total;
}

std::string chooseCellHost(const CellChoice& c) {
  if (c.currentIsPlexer) return c.current;
  if (!c.plexers.empty()) {
    auto best = std::min_element(c.plexers.begin(), c.plexers.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    return best->first;
  }
  if (c.byWorker.size() == 1) return c.byWorker.begin()->first;
  if (!c.current.empty() && c.byWorker.count(c.current)) return c.current;
  std::string host;
  uint32_t lowest = UINT32_MAX;
  for (const auto& [w, indices] : c.byWorker) {
    auto a = c.underlay.find(w);
    if ((a != c.underlay.end() && a->second.empty()) || indices.empty()) continue;
    uint32_t first = *std::min_element(indices.begin(), indices.end());
    if (first < lowest) lowest = first, host = w;
  }
  return host;
}

}  // namespace kuiga::master
