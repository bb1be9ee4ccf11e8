// Churn: some of a running run's devices stopped and started again, as devices leave and
// rejoin a network (a scenario's timeline does this). A stop is the runtime's; a start of a
// terminated device creates it anew with the same identity (worker, addresses, EUI-64, log,
// which it appends to), because a runtime cannot start an instance whose init has ended.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "master/run_service.hpp"
#include "master/run_service_internal.hpp"
#include "spec/identity.hpp"

namespace kuiga::master {

namespace {

// The listed instances' records, each checked to be of the run (404 otherwise).
ApiResult<std::vector<InstanceRecord>> listed(Store& store, RunId id, uint32_t count,
                                              const std::vector<uint32_t>& indexes) {
  std::set<uint32_t> wanted(indexes.begin(), indexes.end());
  for (uint32_t k : wanted)
    if (k >= count)
      return apiFail(ApiError::notFound(fmt::format("no instance {} in run {}", k, id)));
  auto all = store.instances(id, "", 0, UINT32_MAX);
  if (!all) return apiFail(storeError(all.error()));
  std::vector<InstanceRecord> out;
  for (auto& r : *all)
    if (wanted.empty() || wanted.contains(r.id.index)) out.push_back(std::move(r));
  return out;
}

}  // namespace

ApiResult<RunService::Churn> RunService::churnTargets(RunId id,
                                                      const std::vector<uint32_t>& indexes) {
  Churn c;
  {
    std::lock_guard lock(mu_);
    auto mem = runMem(id);
    if (!mem) return apiFail(mem.error());
    if ((*mem)->state != RunState::Running)
      return apiFail(ApiError{409, "illegal_transition",
                              fmt::format("run {} is {}; its devices stop and start one by one "
                                          "while it runs",
                                          id, toString((*mem)->state))});
    if (!(*mem)->operation.empty())
      return apiFail(ApiError{409, "busy", "the run is busy: " + (*mem)->operation});
    c.spec = (*mem)->spec;
    c.lock = (*mem)->churn;
  }
  auto records = listed(store_, id, c.spec.count, indexes);
  if (!records) return apiFail(records.error());
  c.records = std::move(*records);
  return c;
}

ApiResult<uint32_t> RunService::stopInstances(RunId id, const std::vector<uint32_t>& indexes,
                                              std::chrono::milliseconds grace) {
  auto c = churnTargets(id, indexes);
  if (!c) return apiFail(c.error());
  std::map<std::string, std::vector<uint32_t>> byW;
  uint32_t n = 0;
  for (const auto& r : c->records)
    if (r.state == "running" || r.state == "booting") {
      byW[r.worker].push_back(r.id.index);
      ++n;
    }
  spawn([this, id, byW, grace, lock = c->lock] {
    std::lock_guard churn(*lock);
    if (!stillRunning(id)) return;
    for (const auto& [worker, idx] : byW) {
      rpc::Command cmd;
      cmd.mutable_stop()->set_grace_ms(static_cast<uint32_t>(grace.count()));
      for (uint32_t i : idx) *cmd.mutable_stop()->add_ids() = toRef({id, i});
      if (auto r = nodes_.call(worker, cmd, config_.commandTimeout); !r)
        spdlog::warn("run {}: stop devices on {}: {}", id, worker, r.error().message);
    }
  });
  spdlog::info("run {}: stopping {} devices", id, n);
  return n;
}

ApiResult<uint32_t> RunService::startInstances(RunId id, const std::vector<uint32_t>& indexes) {
  auto c = churnTargets(id, indexes);
  if (!c) return apiFail(c.error());
  // Booting ones only need their AUT started; terminated ones are made again first.
  std::map<std::string, std::vector<uint32_t>> fresh, again;
  uint32_t n = 0;
  for (const auto& r : c->records) {
    if (r.state == "booting")
      fresh[r.worker].push_back(r.id.index);
    else if (r.state == "terminated")
      again[r.worker].push_back(r.id.index);
    else
      continue;
    ++n;
  }
  spawn([this, id, fresh, again, spec = c->spec, lock = c->lock] {
    std::lock_guard churn(*lock);
    if (!stillRunning(id)) return;
    const auto [radioJson, zepJson] = cellSpecs(spec);
    for (const auto& [worker, idx] : again) {
      rpc::Command remove;
      for (uint32_t i : idx) *remove.mutable_remove()->add_ids() = toRef({id, i});
      const bool cell = opensCell(id, worker);
      rpc::Command create =
          createCommand(id, spec, idx, cell ? radioJson : "", cell ? zepJson : "");
      for (const auto* cmd : {&remove, &create})
        if (auto r = nodes_.call(worker, *cmd, config_.commandTimeout); !r) {
          spdlog::warn("run {}: restart devices on {}: {}", id, worker, r.error().message);
          break;
        }
    }
    std::map<std::string, std::vector<uint32_t>> toStart = fresh;
    for (const auto& [worker, idx] : again)
      toStart[worker].insert(toStart[worker].end(), idx.begin(), idx.end());
    for (const auto& [worker, idx] : toStart) {
      rpc::Command cmd;
      for (uint32_t i : idx) *cmd.mutable_start()->add_ids() = toRef({id, i});
      if (auto r = nodes_.call(worker, cmd, config_.commandTimeout); !r)
        spdlog::warn("run {}: start devices on {}: {}", id, worker, r.error().message);
    }
    evaluate(id);
  });
  spdlog::info("run {}: starting {} devices", id, n);
  return n;
}

bool RunService::stillRunning(RunId id) {
  std::lock_guard lock(mu_);
  auto it = runs_.find(id);
  return it != runs_.end() && it->second->state == RunState::Running &&
         it->second->operation.empty();
}

}  // namespace kuiga::master
