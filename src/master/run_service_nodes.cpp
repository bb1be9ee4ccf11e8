// The master's side of its workers: registration and reconciliation, events, replies, loss.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/parallel.hpp"
#include "master/run_service.hpp"
#include "master/run_service_internal.hpp"
#include "master/views.hpp"

namespace kuiga::master {

bool RunService::onHeartbeat(const std::string& worker, const WorkerLink* link,
                             std::optional<uint64_t> zepUnplaceable) {
  return nodes_.touch(worker, link, zepUnplaceable);
}

RegistrationAnswer RunService::registerNode(const Registration& reg,
                                            std::shared_ptr<WorkerLink> link) {
  const std::string& name = reg.name;
  WorkerRecord rec;
  rec.name = name;
  rec.address = link->peer();
  rec.capacity = reg.plexer ? 0 : reg.capacity;
  rec.role = reg.plexer ? "plexer" : "worker";
  for (const auto& [k, v] : reg.labels) rec.labels[k] = v;
  rec.online = true;
  rec.lastSeenNs = nowNs();
  (void)store_.upsertWorker(rec);
  if (nodes_.online(name))
    spdlog::warn("worker {} reconnected; its previous stream is dropped", name);
  nodes_.open({name, rec.capacity, reg.underlay, reg.plexer, Clock::now(), 0}, std::move(link));
  spdlog::info("{} {} registered from {}: capacity {}, {} instances, {} cells", rec.role, name,
               rec.address, rec.capacity, reg.instances.size(), reg.cells.size());

  // Reconcile: what the worker runs wins over our records; what it runs that we no longer want
  // is removed; what we expected it to run and it does not is gone.
  RegistrationAnswer out;
  out.heartbeatMs = static_cast<uint32_t>(config_.heartbeat.count());
  out.clusterId = clusterId_;
  if (auto keep = store_.runsWithRecords()) out.keepRuns = *keep;
  std::vector<InstanceUpdate> ups;
  std::set<InstanceId> reported;
  std::set<RunId> touched;
  std::map<RunId, std::vector<uint32_t>> toStart;
  for (const auto& st : reg.instances) {
    const InstanceId id = st.id;
    reported.insert(id);
    auto rec2 = store_.instance(id);
    bool wanted = rec2 && *rec2 && (*rec2)->worker == name && (*rec2)->state != kDeleted;
    RunState rs = RunState::Deleted;
    {
      std::lock_guard lock(mu_);
      if (auto it = runs_.find(id.run); it != runs_.end()) rs = it->second->state;
    }
    if (!wanted || rs == RunState::Deleted) {
      out.remove.push_back(id);
      continue;
    }
    if ((*rec2)->state != st.state)
      ups.push_back({id, st.state, st.reason, st.timeNs ? st.timeNs : nowNs(), {}, {}});
    touched.insert(id.run);
    // Started while this worker was away (or the master restarted between create and start).
    if (rs == RunState::Running && st.state == "booting") toStart[id.run].push_back(id.index);
  }
  std::map<RunId, std::vector<uint32_t>> toCreate;
  if (auto mine = store_.instancesOnWorker(name)) {
    for (const auto& r : *mine) {
      if (reported.contains(r.id) || r.state == kDeleted) continue;
      RunState rs = RunState::Deleted;
      {
        std::lock_guard lock(mu_);
        if (auto it = runs_.find(r.id.run); it != runs_.end()) rs = it->second->state;
      }
      if (rs == RunState::Deleted) continue;
      if (r.state == "pending" && (rs == RunState::Pending || rs == RunState::Running)) {
        toCreate[r.id.run].push_back(r.id.index);  // never reached the worker: create it now
      } else if (r.state != "failed" && r.state != "terminated") {
        ups.push_back({r.id, "failed", "the worker restarted without it", nowNs(), {}, {}});
        touched.insert(r.id.run);
      }
    }
  }
  if (auto r = store_.updateInstances(ups); !r) spdlog::error("{}", r.error().message);
  for (auto& [run, idx] : toCreate) {
    bool running;
    {
      std::lock_guard lock(mu_);
      running = runs_.at(run)->state == RunState::Running;
    }
    std::map<std::string, std::vector<uint32_t>> byW{{name, idx}};
    spawn([this, run, byW, running] { createOn(run, byW, running); });
  }
  for (auto& [run, idx] : toStart) {
    std::map<std::string, std::vector<uint32_t>> byW{{name, idx}};
    spawn([this, run, byW] { bulk(run, "start", byW); });
  }
  for (RunId run : touched) evaluate(run);
  // Its runs' radio networks, and its place in them (its underlay address may be new).
  for (RunId run : touched)
    if (!toCreate.count(run)) spawn([this, run] { syncRadioPeers(run); });
  if (reg.plexer) adoptCells(name, reg.cells);
  return out;
}

bool RunService::onEvents(const std::string& worker, const WorkerLink* link,
                          const std::vector<InstanceStatus>& events) {
  if (!onHeartbeat(worker, link)) return false;
  std::vector<InstanceUpdate> ups;
  std::map<RunId, nlohmann::json> changes;
  std::map<RunId, std::array<int64_t, 3>> asked;  // create, start, stop request times
  {
    std::lock_guard lock(mu_);
    for (const auto& e : events)
      if (auto it = runs_.find(e.id.run); it != runs_.end())
        asked[e.id.run] = {it->second->createdNs, it->second->startedNs, it->second->stoppedNs};
  }
  for (const auto& e : events) {
    const InstanceId id = e.id;
    if (auto a = asked.find(id.run); a != asked.end()) {
      auto observe = [&](Metrics::Phase p, int64_t from) {
        if (from > 0 && e.timeNs >= from)
          metrics_.instance(p, static_cast<double>(e.timeNs - from) / 1e9);
      };
      if (e.state == "booting") observe(Metrics::Phase::Create, a->second[0]);
      if (e.state == "running") observe(Metrics::Phase::Start, a->second[1]);
      if (e.state == "terminated") observe(Metrics::Phase::Stop, a->second[2]);
    }
    ups.push_back({id, e.state, e.reason, e.timeNs, {}, worker});
    changes[id.run].push_back({{"index", id.index}, {"state", e.state}, {"reason", e.reason}});
  }
  if (auto r = store_.updateInstances(ups); !r) {
    spdlog::error("events from {}: {}", worker, r.error().message);
    return true;
  }
  for (auto& [run, list] : changes) {
    publish({"instances", {{"run", run}, {"changes", std::move(list)}}, {}});
    evaluate(run);
  }
  return true;
}

void RunService::onDisconnect(const std::string& worker, const WorkerLink* link) {
  markLost(worker, "its connection closed", link);
}

void RunService::dropWorker(const std::string& worker, const std::string& why) {
  if (auto link = nodes_.link(worker))
    markLost(worker, why, link.get());  // its stream ends with its next message
}

ApiResult<void> RunService::forgetWorker(const std::string& worker) {
  if (nodes_.online(worker))
    return apiFail(ApiError::conflict("worker " + worker +
                                      " is online: stop it first, or revoke it (--revoke)"));
  auto ws = store_.workers();
  if (!ws) return apiFail(storeError(ws.error()));
  if (std::none_of(ws->begin(), ws->end(), [&](const auto& w) { return w.name == worker; }))
    return apiFail(ApiError::notFound("no worker " + worker));
  if (auto live = store_.instancesOnWorker(worker); live && !live->empty())
    for (const auto& i : *live)
      if (i.state != kLost && i.state != kDeleted && i.state != "terminated" && i.state != "failed")
        return apiFail(ApiError::conflict(fmt::format(
            "worker {} still holds instances of run {}: delete the run first", worker, i.id.run)));
  if (auto r = store_.deleteWorker(worker); !r) return apiFail(storeError(r.error()));
  nodes_.forget(worker);
  spdlog::info("worker {} forgotten", worker);
  return {};
}

void RunService::beginShutdown() {
  shuttingDown_ = true;
}

void RunService::markLost(const std::string& worker, const std::string& why,
                          const WorkerLink* link) {
  if (shuttingDown_) return;
  // Marking lost and applying the policy are one step for recheck(), which repairs what a
  // master killed between the two left behind.
  std::lock_guard policyLock(policyMu_);
  // A node that registered again meanwhile (a new link) is not lost for its old stream.
  if (!nodes_.close(worker, link, why)) return;
  spdlog::warn("worker {} lost: {}", worker, why);
  (void)store_.setWorkerOnline(worker, false, nowNs());
  loseInstances(worker, why);
}

void RunService::loseInstances(const std::string& worker, const std::string& why) {
  auto mine = store_.instancesOnWorker(worker);
  if (!mine) return;
  std::vector<InstanceUpdate> ups;
  std::map<RunId, std::vector<uint32_t>> lost;
  int64_t t = nowNs();
  for (const auto& r : *mine) {
    // Instances that ended keep their end; only live ones are lost with their worker.
    if (r.state == kLost || r.state == kDeleted || r.state == "terminated" || r.state == "failed")
      continue;
    RunState rs = RunState::Deleted;
    {
      std::lock_guard lock(mu_);
      if (auto it = runs_.find(r.id.run); it != runs_.end()) rs = it->second->state;
    }
    if (rs == RunState::Deleted) continue;
    ups.push_back({r.id, std::string(kLost), "worker " + worker + " lost: " + why, t, {}, {}});
    lost[r.id.run].push_back(r.id.index);
  }
  if (auto r = store_.updateInstances(ups); !r) spdlog::error("{}", r.error().message);
  for (auto& [run, idx] : lost) {
    publish({"instances", {{"run", run}, {"lost", idx.size()}, {"worker", worker}}, {}});
    // The other workers forget its devices; a rescheduled run's createOn() tells them, with
    // the devices' new places.
    if (!applyPolicy(run, worker, idx)) spawn([this, run] { syncRadioPeers(run); });
  }
  loseCells(worker, why);
}

void RunService::loseCells(const std::string& node, const std::string& why) {
  std::vector<std::pair<RunId, FailurePolicy>> held;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, mem] : runs_)
      if (mem->cellHost == node && mem->state != RunState::Deleted && mem->state != RunState::Dirty)
        held.emplace_back(id, mem->spec.policy);
  }
  for (const auto& [id, policy] : held) {
    if (policy == FailurePolicy::Dirty) {
      setRunState(id, RunState::Dirty, fmt::format("plexer {} lost with its cell: {}", node, why));
      continue;
    }
    // Reopened elsewhere (syncRadioPeers() chooses again: the lost node is no session now).
    spawn([this, id] { syncRadioPeers(id); });
  }
}

void RunService::adoptCells(const std::string& plexer, const std::vector<RunId>& cells) {
  for (RunId run : cells) {
    bool mine = false, learned = false;
    uint32_t moves = 0;
    {
      std::lock_guard lock(mu_);
      auto it = runs_.find(run);
      if (it != runs_.end() && it->second->state != RunState::Deleted &&
          it->second->state != RunState::Dirty &&
          (it->second->cellHost.empty() || it->second->cellHost == plexer)) {
        learned = it->second->cellHost.empty();
        it->second->cellHost = plexer;  // a master without the record learns where it is
        moves = it->second->cellMoves;
        mine = true;
      }
    }
    if (mine)
      (void)store_.setRunCell(run, plexer, moves,
                              learned ? "cell on " + plexer + " (from its registration)" : "",
                              nowNs());
    // Its cell is held elsewhere now, or the run is gone: the plexer closes it.
    spawn([this, run, plexer, mine] { mine ? syncRadioPeers(run) : closeCellOn(plexer, run); });
  }
}

bool RunService::applyPolicy(RunId id, const std::string& worker,
                             const std::vector<uint32_t>& lost) {
  RunState state;
  FailurePolicy policy;
  RunSpec spec;
  {
    std::lock_guard lock(mu_);
    auto it = runs_.find(id);
    if (it == runs_.end()) return false;
    state = it->second->state;
    policy = it->second->spec.policy;
    spec = it->second->spec;
  }
  if (state == RunState::Stopped || state == RunState::Dirty || state == RunState::Deleted)
    return false;
  if (policy == FailurePolicy::Dirty) {
    setRunState(id, RunState::Dirty,
                fmt::format("worker {} lost with {} of its instances", worker, lost.size()));
    return false;
  }
  auto slots = place(lost, spec, {worker});
  if (slots.empty()) {
    setRunState(id, RunState::Dirty,
                fmt::format("worker {} lost and no other worker has room for its {} instances",
                            worker, lost.size()));
    return false;
  }
  std::vector<InstanceUpdate> ups;
  std::map<std::string, std::vector<uint32_t>> byW;
  int64_t t = nowNs();
  for (size_t k = 0; k < lost.size(); ++k) {
    ups.push_back({{id, lost[k]}, "pending", "rescheduled from " + worker, t, slots[k], {}});
    byW[slots[k]].push_back(lost[k]);
  }
  if (auto r = store_.updateInstances(ups); !r) {
    spdlog::error("{}", r.error().message);
    return false;
  }
  spdlog::info("run {}: rescheduling {} instances of lost worker {}", id, lost.size(), worker);
  if (state == RunState::Ready) setRunState(id, RunState::Pending, "");
  {
    std::lock_guard lock(mu_);
    if (auto it = runs_.find(id); it != runs_.end() && it->second->operation.empty())
      it->second->operation = "create";
  }
  bool running = state == RunState::Running;
  spawn([this, id, byW, running] { createOn(id, byW, running); });
  return true;
}

void RunService::recheck() {
  std::lock_guard policyLock(policyMu_);
  std::vector<RunId> active;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, mem] : runs_)
      if ((mem->state == RunState::Pending || mem->state == RunState::Ready ||
           mem->state == RunState::Running) &&
          mem->operation.empty())
        active.push_back(id);
  }
  // Workers that held live instances when the master started and never came back.
  if (Clock::now() - started_ > 2 * config_.lostAfter) {
    if (auto ws = store_.workers()) {
      for (const auto& w : *ws) {
        if (nodes_.online(w.name) || nodes_.givenUp(w.name)) continue;
        auto mine = store_.instancesOnWorker(w.name);
        bool live = false;
        if (mine)
          for (const auto& r : *mine)
            live |= r.state != kLost && r.state != "terminated" && r.state != "failed";
        {
          // A plexer holds cells, not instances.
          std::lock_guard lock(mu_);
          for (const auto& [id, mem] : runs_)
            live |= mem->cellHost == w.name && mem->state != RunState::Deleted &&
                    mem->state != RunState::Dirty;
        }
        if (!live) continue;
        spdlog::warn("{} {} lost: it did not reconnect after the master started", w.role, w.name);
        nodes_.giveUp(w.name);
        loseInstances(w.name, "it did not reconnect after the master started");
      }
    }
  }
  for (RunId id : active) {
    // Lost instances whose worker is still away and that were never rescheduled (the master
    // died in between, or no worker had room then): apply the policy now.
    auto lost = store_.instances(id, std::string(kLost));
    std::map<std::string, std::vector<uint32_t>> byW;
    if (lost)
      for (const auto& r : *lost) byW[r.worker].push_back(r.id.index);
    for (auto& [w, idx] : byW) {
      if (!nodes_.online(w)) applyPolicy(id, w, idx);
    }
    evaluate(id);
  }
}

void RunService::monitor(std::stop_token st) {
  auto lastRecheck = Clock::now();
  while (!st.stop_requested()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if (Clock::now() - lastRecheck > config_.lostAfter) {
      recheck();
      lastRecheck = Clock::now();
    }
    // Each with its link, held: no new link can take its address before markLost() compares.
    for (const auto& [w, link] : nodes_.silent(config_.lostAfter))
      markLost(w, fmt::format("no heartbeat for {} ms", config_.lostAfter.count()), link.get());
  }
}

std::string RunService::metricsText() {
  Metrics::Gauges g;
  std::vector<RunId> live;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, mem] : runs_) {
      ++g.runsByState[std::string(toString(mem->state))];
      if (mem->state != RunState::Deleted) live.push_back(id);
    }
  }
  for (const auto& s : instanceStateNames()) g.instancesByState[s] = 0;
  for (RunId id : live)
    if (auto counts = store_.countByState(id))
      for (const auto& [state, n] : *counts) g.instancesByState[state] += n;
  if (auto ws = workers())
    for (const auto& w : *ws)
      g.workers.push_back(
          {w.record.name, w.record.online, w.record.capacity, w.load, w.zepUnplaceable});
  // The Plexer's counters of every live run whose devices are on a radio network (asked of its
  // workers; a run without one has no devices there). Up to eight runs are asked at once, so
  // that runs on different workers are answered side by side (a worker answers its queries one
  // after another) and one slow worker does not hold up the others' runs.
  std::vector<std::optional<Metrics::Gauges::Radio>> radios(live.size());
  parallelFor(live.size(), 8, [&](size_t i) {
    const RunId id = live[i];
    auto r = radio(id);
    if (!r || ((*r)["devices"].empty() && (*r)["cells"].empty())) return;
    Metrics::Gauges::Radio s;
    s.run = id;
    auto u = [&](const char* k) { return (*r).value(k, uint64_t{0}); };
    s.sent = u("sent_frames");
    s.delivered = u("delivered_frames");
    s.missed = u("missed_frames");
    s.ringDrops = u("ring_drops");
    s.toStation = u("to_station_frames");
    s.uplink = u("uplink_frames");
    s.downlink = u("downlink_frames");
    s.queued = u("queued_frames");
    for (const auto& c : (*r)["cells"]) s.leases += c.value("leases", uint64_t{0});
    for (const auto& [cause, n] : (*r)["dropped"].items()) s.dropped[cause] = n.get<uint64_t>();
    if ((*r)["zep"].is_object())
      for (const auto& [k, n] : (*r)["zep"].items()) s.zep[k] = n.get<uint64_t>();
    radios[i] = std::move(s);
  });
  for (auto& s : radios)
    if (s) g.radios.push_back(std::move(*s));
  return metrics_.render(g);
}

ApiResult<std::vector<WorkerView>> RunService::workers() {
  auto ws = store_.workers();
  if (!ws) return apiFail(ApiError::internal(ws.error().message));
  auto load = store_.loadPerWorker();
  if (!load) return apiFail(ApiError::internal(load.error().message));
  std::vector<WorkerView> out;
  auto now = Clock::now();
  for (auto& w : *ws) {
    WorkerView v{w, (*load)[w.name], -1, 0};
    if (auto n = nodes_.find(w.name)) {
      v.record.online = true;
      v.heartbeatAgeMs =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - n->lastSeen).count();
      v.zepUnplaceable = n->zepUnplaceable;
    } else {
      v.record.online = false;
    }
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace kuiga::master
