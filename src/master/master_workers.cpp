// The master's side of its workers: registration and reconciliation, events, replies, loss.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/parallel.hpp"
#include "master/master.hpp"
#include "master/master_internal.hpp"
#include "master/views.hpp"

namespace kuiga::master {

Result<rpc::Reply> Master::call(const std::string& worker, rpc::Command cmd,
                                std::chrono::milliseconds timeout) {
  std::future<Result<rpc::Reply>> fut;
  uint64_t req;
  std::shared_ptr<WorkerLink> link;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(worker);
    if (it == sessions_.end()) return failMsg("worker " + worker + " is not connected");
    req = nextRequest_++;
    fut = it->second->pending[req].get_future();
    link = it->second->link;
  }
  cmd.set_request(req);
  rpc::MasterMessage msg;
  *msg.mutable_command() = std::move(cmd);
  if (!link->send(msg)) {
    std::lock_guard lock(mu_);
    if (auto it = sessions_.find(worker); it != sessions_.end()) it->second->pending.erase(req);
    return failMsg("worker " + worker + " is not connected");
  }
  if (fut.wait_for(timeout) != std::future_status::ready) {
    std::lock_guard lock(mu_);
    if (auto it = sessions_.find(worker); it != sessions_.end()) it->second->pending.erase(req);
    return failMsg(fmt::format("worker {} did not answer within {} ms", worker, timeout.count()));
  }
  return fut.get();
}

void Master::onReply(const std::string& worker, const rpc::Reply& reply) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(worker);
  if (it == sessions_.end()) return;
  auto p = it->second->pending.find(reply.request());
  if (p == it->second->pending.end()) return;  // timed out already
  p->second.set_value(reply);
  it->second->pending.erase(p);
}

bool Master::onHeartbeat(const std::string& worker, const WorkerLink* link,
                         const rpc::Heartbeat* beat) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(worker);
  if (it == sessions_.end() || it->second->link.get() != link) return false;
  it->second->lastSeen = Clock::now();
  if (beat) it->second->zepUnplaceable = beat->zep_unplaceable();
  return true;
}

rpc::Registered Master::registerWorker(const rpc::Register& reg, std::shared_ptr<WorkerLink> link) {
  const std::string& name = reg.name();
  WorkerRecord rec;
  rec.name = name;
  rec.address = link->peer();
  rec.capacity = reg.role() == "plexer" ? 0 : reg.capacity();
  rec.role = reg.role() == "plexer" ? "plexer" : "worker";
  for (const auto& [k, v] : reg.labels()) rec.labels[k] = v;
  rec.online = true;
  rec.lastSeenNs = nowNs();
  (void)store_.upsertWorker(rec);
  std::shared_ptr<Session> old;
  {
    std::lock_guard lock(mu_);
    auto s = std::make_shared<Session>();
    s->name = name;
    s->link = std::move(link);
    s->capacity = rec.capacity;
    s->plexer = rec.role == "plexer";
    if (s->plexer)
      plexers_.insert(name);
    else
      plexers_.erase(name);
    s->underlay = reg.underlay_address();
    s->lastSeen = Clock::now();
    if (auto it = sessions_.find(name); it != sessions_.end()) old = it->second;
    sessions_[name] = s;
    givenUp_.erase(name);
  }
  if (old) {
    spdlog::warn("worker {} reconnected; its previous stream is dropped", name);
    std::lock_guard lock(mu_);
    for (auto& [id, p] : old->pending) p.set_value(failMsg("worker " + name + " reconnected"));
  }
  spdlog::info("{} {} registered from {}: capacity {}, {} instances, {} cells", rec.role, name,
               rec.address, rec.capacity, reg.instances_size(), reg.cells_size());

  // Reconcile: what the worker runs wins over our records; what it runs that we no longer want
  // is removed; what we expected it to run and it does not is gone.
  rpc::Registered out;
  out.set_heartbeat_ms(static_cast<uint32_t>(config_.heartbeat.count()));
  out.set_cluster_id(clusterId_);
  if (auto keep = store_.runsWithRecords())
    for (RunId r : *keep) out.add_keep_runs(r);
  std::vector<InstanceUpdate> ups;
  std::set<InstanceId> reported;
  std::set<RunId> touched;
  std::map<RunId, std::vector<uint32_t>> toStart;
  for (const auto& st : reg.instances()) {
    InstanceId id = fromRef(st.id());
    reported.insert(id);
    auto rec2 = store_.instance(id);
    bool wanted = rec2 && *rec2 && (*rec2)->worker == name && (*rec2)->state != kDeleted;
    RunState rs = RunState::Deleted;
    {
      std::lock_guard lock(mu_);
      if (auto it = runs_.find(id.run); it != runs_.end()) rs = it->second->state;
    }
    if (!wanted || rs == RunState::Deleted) {
      *out.add_remove() = st.id();
      continue;
    }
    if ((*rec2)->state != st.state())
      ups.push_back({id, st.state(), st.reason(), st.time_ns() ? st.time_ns() : nowNs(), {}, {}});
    touched.insert(id.run);
    // Started while this worker was away (or the master restarted between create and start).
    if (rs == RunState::Running && st.state() == "booting") toStart[id.run].push_back(id.index);
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
  if (rec.role == "plexer") adoptCells(name, reg);
  return out;
}

bool Master::onEvents(const std::string& worker, const WorkerLink* link,
                      const rpc::EventBatch& batch) {
  if (!onHeartbeat(worker, link)) return false;
  std::vector<InstanceUpdate> ups;
  std::map<RunId, nlohmann::json> changes;
  std::map<RunId, std::array<int64_t, 3>> asked;  // create, start, stop request times
  {
    std::lock_guard lock(mu_);
    for (const auto& e : batch.events())
      if (auto it = runs_.find(e.id().run()); it != runs_.end())
        asked[e.id().run()] = {it->second->createdNs, it->second->startedNs, it->second->stoppedNs};
  }
  for (const auto& e : batch.events()) {
    InstanceId id = fromRef(e.id());
    if (auto a = asked.find(id.run); a != asked.end()) {
      auto observe = [&](Metrics::Phase p, int64_t from) {
        if (from > 0 && e.time_ns() >= from)
          metrics_.instance(p, static_cast<double>(e.time_ns() - from) / 1e9);
      };
      if (e.state() == "booting") observe(Metrics::Phase::Create, a->second[0]);
      if (e.state() == "running") observe(Metrics::Phase::Start, a->second[1]);
      if (e.state() == "terminated") observe(Metrics::Phase::Stop, a->second[2]);
    }
    ups.push_back({id, e.state(), e.reason(), e.time_ns(), {}, worker});
    changes[id.run].push_back({{"index", id.index}, {"state", e.state()}, {"reason", e.reason()}});
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

void Master::onDisconnect(const std::string& worker, const WorkerLink* link) {
  markLost(worker, "its connection closed", link);
}

void Master::dropWorker(const std::string& worker, const std::string& why) {
  const WorkerLink* link = nullptr;
  {
    std::lock_guard lock(mu_);
    if (auto it = sessions_.find(worker); it != sessions_.end()) link = it->second->link.get();
  }
  if (link) markLost(worker, why, link);  // its stream ends with its next message
}

ApiResult<void> Master::forgetWorker(const std::string& worker) {
  {
    std::lock_guard lock(mu_);
    if (sessions_.contains(worker))
      return apiFail(ApiError::conflict("worker " + worker +
                                        " is online: stop it first, or revoke it (--revoke)"));
  }
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
  {
    std::lock_guard lock(mu_);
    plexers_.erase(worker);
  }
  spdlog::info("worker {} forgotten", worker);
  return {};
}

void Master::beginShutdown() {
  shuttingDown_ = true;
}

void Master::markLost(const std::string& worker, const std::string& why, const WorkerLink* link) {
  if (shuttingDown_) return;
  // Marking lost and applying the policy are one step for recheck(), which repairs what a
  // master killed between the two left behind.
  std::lock_guard policyLock(policyMu_);
  std::shared_ptr<Session> s;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(worker);
    // Checked under the lock that erases it: a worker that registered again meanwhile (a new
    // stream, a new link) is not lost for what became of its old stream.
    if (it == sessions_.end() || it->second->link.get() != link) return;
    s = it->second;
    sessions_.erase(it);
    givenUp_.insert(worker);  // a plexer's cells are chosen again, not waited for
    for (auto& [id, p] : s->pending) p.set_value(failMsg("worker " + worker + " lost: " + why));
    s->pending.clear();
  }
  spdlog::warn("worker {} lost: {}", worker, why);
  (void)store_.setWorkerOnline(worker, false, nowNs());
  loseInstances(worker, why);
}

void Master::loseInstances(const std::string& worker, const std::string& why) {
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

void Master::loseCells(const std::string& node, const std::string& why) {
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

void Master::adoptCells(const std::string& plexer, const rpc::Register& reg) {
  for (RunId run : reg.cells()) {
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

bool Master::applyPolicy(RunId id, const std::string& worker, const std::vector<uint32_t>& lost) {
  RunState state;
  FailurePolicy policy;
  {
    std::lock_guard lock(mu_);
    auto it = runs_.find(id);
    if (it == runs_.end()) return false;
    state = it->second->state;
    policy = it->second->spec.policy;
  }
  if (state == RunState::Stopped || state == RunState::Dirty || state == RunState::Deleted)
    return false;
  if (policy == FailurePolicy::Dirty) {
    setRunState(id, RunState::Dirty,
                fmt::format("worker {} lost with {} of its instances", worker, lost.size()));
    return false;
  }
  auto slots = place(static_cast<uint32_t>(lost.size()), {worker});
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

void Master::recheck() {
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
        {
          std::lock_guard lock(mu_);
          if (sessions_.contains(w.name) || givenUp_.contains(w.name)) continue;
        }
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
        {
          std::lock_guard lock(mu_);
          givenUp_.insert(w.name);
        }
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
      bool online;
      {
        std::lock_guard lock(mu_);
        online = sessions_.contains(w);
      }
      if (!online) applyPolicy(id, w, idx);
    }
    evaluate(id);
  }
}

void Master::monitor(std::stop_token st) {
  auto lastRecheck = Clock::now();
  while (!st.stop_requested()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if (Clock::now() - lastRecheck > config_.lostAfter) {
      recheck();
      lastRecheck = Clock::now();
    }
    // Each with its link, held: no new link can take its address before markLost() compares.
    std::vector<std::pair<std::string, std::shared_ptr<WorkerLink>>> silent;
    {
      std::lock_guard lock(mu_);
      auto now = Clock::now();
      for (const auto& [name, s] : sessions_)
        if (now - s->lastSeen > config_.lostAfter) silent.emplace_back(name, s->link);
    }
    for (const auto& [w, link] : silent)
      markLost(w, fmt::format("no heartbeat for {} ms", config_.lostAfter.count()), link.get());
  }
}

std::string Master::metricsText() {
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

ApiResult<std::vector<WorkerView>> Master::workers() {
  auto ws = store_.workers();
  if (!ws) return apiFail(ApiError::internal(ws.error().message));
  auto load = store_.loadPerWorker();
  if (!load) return apiFail(ApiError::internal(load.error().message));
  std::vector<WorkerView> out;
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  for (auto& w : *ws) {
    WorkerView v{w, (*load)[w.name], -1, 0};
    if (auto it = sessions_.find(w.name); it != sessions_.end()) {
      v.record.online = true;
      v.heartbeatAgeMs =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second->lastSeen).count();
      v.zepUnplaceable = it->second->zepUnplaceable;
    } else {
      v.record.online = false;
    }
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace kuiga::master
