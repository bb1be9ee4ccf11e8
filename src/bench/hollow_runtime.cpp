#include "bench/hollow_runtime.hpp"

namespace kuiga::bench {

worker::BulkResult HollowRuntime::move(std::span<const InstanceId> ids,
                                       std::initializer_list<InstanceState> through) {
  worker::BulkResult r;
  std::vector<worker::InstanceEvent> evs;
  {
    std::lock_guard lock(mu_);
    for (const auto& id : ids) {
      for (auto s : through) {
        states_[id] = s;
        evs.push_back({id, s, worker::realtimeNs(), {}});
      }
      ++r.ok;
    }
  }
  if (sink_) sink_(evs);
  return r;
}

worker::BulkResult HollowRuntime::create(std::span<const worker::InstanceSpec> specs,
                                         const worker::Progress&) {
  std::vector<InstanceId> ids;
  for (const auto& s : specs) ids.push_back(s.id);
  return move(ids, {InstanceState::Pending, InstanceState::Prolog, InstanceState::Booting});
}

worker::BulkResult HollowRuntime::start(std::span<const InstanceId> ids, const worker::Progress&) {
  return move(ids, {InstanceState::Running});
}

worker::BulkResult HollowRuntime::stop(std::span<const InstanceId> ids, std::chrono::milliseconds,
                                       const worker::Progress&) {
  return move(ids, {InstanceState::ShuttingDown, InstanceState::Terminated});
}

worker::BulkResult HollowRuntime::remove(std::span<const InstanceId> ids, const worker::Progress&) {
  worker::BulkResult r;
  std::lock_guard lock(mu_);
  for (const auto& id : ids) states_.erase(id), ++r.ok;
  return r;
}

std::optional<worker::InstanceStatus> HollowRuntime::status(InstanceId id) const {
  std::lock_guard lock(mu_);
  auto it = states_.find(id);
  if (it == states_.end()) return std::nullopt;
  return worker::InstanceStatus{id, it->second, {}, -1, {}};
}

std::vector<worker::InstanceStatus> HollowRuntime::list() const {
  std::lock_guard lock(mu_);
  std::vector<worker::InstanceStatus> out;
  for (const auto& [id, s] : states_) out.push_back({id, s, {}, -1, {}});
  return out;
}

}  // namespace kuiga::bench
