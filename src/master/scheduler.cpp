#include "master/scheduler.hpp"

#include <algorithm>
#include <queue>

namespace kuiga::master {

std::vector<std::string> placeInstances(uint32_t count, const std::vector<NodeRoom>& nodes) {
  using Slot = std::pair<int64_t, std::string>;
  std::priority_queue<Slot> free;
  for (const auto& n : nodes) {
    int64_t f = static_cast<int64_t>(n.capacity) - static_cast<int64_t>(n.load);
    if (f > 0) free.push({f, n.name});
  }
  std::vector<std::string> out;
  out.reserve(count);
  while (out.size() < count && !free.empty()) {
    auto [f, name] = free.top();
    free.pop();
    out.push_back(name);
    if (f > 1) free.push({f - 1, name});
  }
  if (out.size() < count) out.clear();
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
