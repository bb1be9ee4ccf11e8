#include "master/run_service.hpp"

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <queue>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "master/admission.hpp"
#include "master/run_service_internal.hpp"
#include "master/scheduler.hpp"
#include "master/views.hpp"
#include "spec/identity.hpp"
#include "worker/instance.hpp"

namespace kuiga::master {

int64_t nowNs() {
  return worker::realtimeNs();
}

rpc::InstanceRef toRef(InstanceId id) {
  rpc::InstanceRef r;
  r.set_run(id.run);
  r.set_index(id.index);
  return r;
}

InstanceId fromRef(const rpc::InstanceRef& r) {
  return {r.run(), r.index()};
}

// A full disk is the operator's to mend, not a fault of ours: 507, saying where.
ApiError storeError(const Error& e) {
  if (e.code == ENOSPC || e.code == EDQUOT) return {507, "insufficient_storage", e.message};
  return ApiError::internal(e.message);
}

static std::string newClusterId() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
}

RunService::RunService(Store& store, MasterConfig config) : store_(store), config_(config) {
  auto cid = store_.clusterId(&newClusterId);
  clusterId_ = cid ? *cid : newClusterId();
  if (!cid)
    spdlog::error("{} (this process uses {} until it can keep one)", cid.error().message,
                  clusterId_);
  // Runs survive restarts: reload them, and mark every live instance of an offline worker as
  // unconfirmed until its worker reconnects and says what it runs.
  if (auto runs = store_.runs()) {
    for (auto& r : *runs) {
      auto mem = std::make_unique<RunMem>();
      mem->state = r.state;
      mem->spec = r.spec;
      mem->owner = r.owner;
      if (auto img = store_.image(r.spec.image); img && *img)
        if (auto m = imagestore::Manifest::fromJson((*img)->manifest)) mem->manifest = *m;
      runs_[r.id] = std::move(mem);
    }
  }
  // Where the cells are: a restarted master keeps them there while their hosts come back.
  if (auto cells = store_.runCells())
    for (const auto& [id, cell] : *cells)
      if (auto it = runs_.find(id); it != runs_.end())
        std::tie(it->second->cellHost, it->second->cellMoves) = cell;
  if (auto ws = store_.workers())
    for (const auto& w : *ws) {
      if (w.online) (void)store_.setWorkerOnline(w.name, false, nowNs());
      if (w.role == "plexer") nodes_.rememberRole(w.name, true);
    }
  monitor_ = std::jthread([this](std::stop_token st) { monitor(st); });
}

RunService::~RunService() {
  monitor_.request_stop();
  if (monitor_.joinable()) monitor_.join();
  std::vector<Task> tasks;
  {
    std::lock_guard lock(tasksMu_);
    stopping_ = true;
    tasks.swap(tasks_);
  }
  nodes_.failAll("master shutting down");  // so that background operations end
  tasks.clear();                           // joins
}

void RunService::spawn(std::function<void()> fn) {
  std::lock_guard lock(tasksMu_);
  if (stopping_) return;
  // Join finished tasks (a finished thread keeps its stack until joined).
  std::erase_if(tasks_, [](Task& t) { return t.done->load(); });
  auto done = std::make_shared<std::atomic<bool>>(false);
  tasks_.push_back({done, std::jthread([fn = std::move(fn), done] {
                      fn();
                      *done = true;
                    })});
}

// ---- runs ----

ApiResult<RunService::RunMem*> RunService::runMem(RunId id) {
  auto it = runs_.find(id);
  if (it == runs_.end()) return apiFail(ApiError::notFound(fmt::format("no run {}", id)));
  return it->second.get();
}

ApiResult<RunView> RunService::view(RunId id) {
  auto rec = store_.run(id);
  if (!rec) return apiFail(storeError(rec.error()));
  if (!*rec) return apiFail(ApiError::notFound(fmt::format("no run {}", id)));
  auto counts = store_.countByState(id);
  if (!counts) return apiFail(storeError(counts.error()));
  RunView v{**rec, *counts, {}, {}, 0};
  std::string op;
  {
    std::lock_guard lock(mu_);
    if (auto it = runs_.find(id); it != runs_.end()) {
      op = it->second->operation;
      v.cellWorker = it->second->cellHost;
      v.cellMoves = it->second->cellMoves;
    }
  }
  if (!op.empty()) {
    auto n = [&](std::initializer_list<std::string_view> states) {
      uint64_t s = 0;
      for (auto st : states)
        if (auto it = counts->find(std::string(st)); it != counts->end()) s += it->second;
      return s;
    };
    v.progress.operation = op;
    v.progress.total = v.run.spec.count;
    if (op == "create")
      v.progress.done = n({"booting", "running", "failed", "terminated"});
    else if (op == "start")
      v.progress.done = n({"running", "failed", "terminated"});
    else if (op == "stop")
      v.progress.done = n({"terminated", "failed", "lost"});
    else
      v.progress.done = n({"deleted"});
  }
  return v;
}

ApiResult<RunView> RunService::run(RunId id) {
  return view(id);
}

ApiResult<std::string> RunService::runOwner(RunId id) {
  std::lock_guard lock(mu_);
  auto mem = runMem(id);
  if (!mem) return apiFail(mem.error());
  return (*mem)->owner;
}

ApiResult<std::vector<RunView>> RunService::runs() {
  auto rs = store_.runs();
  if (!rs) return apiFail(storeError(rs.error()));
  std::vector<RunView> out;
  for (const auto& r : *rs) {
    auto v = view(r.id);
    if (!v) return apiFail(v.error());
    out.push_back(std::move(*v));
  }
  return out;
}

ApiResult<std::pair<std::vector<RunView>, uint64_t>> RunService::runs(const RunQuery& q) {
  if (!q.state.empty() && !parseRunState(q.state))
    return apiFail(ApiError::badRequest(fmt::format(
        "unknown run state '{}' (pending, ready, running, stopped, deleted, dirty)", q.state)));
  auto page = store_.runs(q);
  if (!page) return apiFail(storeError(page.error()));
  std::vector<RunView> out;
  for (const auto& r : page->first) {
    auto v = view(r.id);
    if (!v) return apiFail(v.error());
    out.push_back(std::move(*v));
  }
  return std::make_pair(std::move(out), page->second);
}

std::vector<NodeRoom> RunService::rooms(const std::set<std::string>& exclude) {
  std::vector<NodeRoom> out;
  auto load = store_.loadPerWorker();
  if (!load) return out;
  for (const auto& n : nodes_.all())
    if (!exclude.contains(n.name)) out.push_back({n.name, n.capacity, (*load)[n.name]});
  return out;
}

std::vector<std::string> RunService::place(const std::vector<uint32_t>& indices,
                                           const RunSpec& spec,
                                           const std::set<std::string>& exclude) {
  const uint32_t groupSize = spec.isolation == Isolation::Group ? spec.groupSize : 1;
  return placeGroups(indices, groupSize, rooms(exclude));
}

uint64_t RunService::freeCapacity() {
  return freeRoom(rooms());
}

ApiResult<RunView> RunService::createRun(RunSpec requested, const std::string& owner) {
  auto img = store_.image(requested.image);
  if (!img) return apiFail(storeError(img.error()));
  if (!*img) return apiFail(ApiError::notFound("no image " + requested.image + "; upload the AUT"));
  auto manifest = imagestore::Manifest::fromJson((*img)->manifest);
  if (!manifest) return apiFail(ApiError::internal(manifest.error().message));
  auto admitted = admit(std::move(requested), *manifest, nowNs() / 1000000);
  if (!admitted) return apiFail(admitted.error());
  RunSpec spec = std::move(*admitted);
  // Refuse up front what cannot fit, before anything is recorded or created.
  std::vector<uint32_t> indices(spec.count);
  std::iota(indices.begin(), indices.end(), 0u);
  auto slots = place(indices, spec);
  if (slots.empty()) {
    uint64_t free = freeCapacity();
    size_t online = nodes_.count();
    const std::string groups =
        spec.isolation == Isolation::Group
            ? fmt::format(" in groups of {}, each on one worker,", spec.groupSize)
            : "";
    return apiFail(ApiError{409, "insufficient_capacity",
                            fmt::format("the run needs {} instances{} but the cluster has room "
                                        "for {} more ({} workers online)",
                                        spec.count, groups, free, online)});
  }
  auto id = store_.insertRun(spec, owner, nowNs());
  if (!id) return apiFail(storeError(id.error()));
  std::vector<std::pair<uint32_t, std::string>> placed;
  std::map<std::string, std::vector<uint32_t>> byW;
  for (uint32_t i = 0; i < spec.count; ++i) {
    placed.emplace_back(i, slots[i]);
    byW[slots[i]].push_back(i);
  }
  if (auto r = store_.insertInstances(*id, placed, nowNs()); !r) {
    // Nothing half-made stays: the run is forgotten, or (if even that cannot be written) kept
    // as a dirty run the user can delete.
    if (!store_.deleteRun(*id)) {
      (void)store_.setRunState(*id, RunState::Dirty, "could not record instances", nowNs());
      std::lock_guard lock(mu_);
      auto mem = std::make_unique<RunMem>();
      mem->spec = spec;
      mem->owner = owner;
      mem->manifest = *manifest;
      mem->state = RunState::Dirty;
      runs_[*id] = std::move(mem);
    }
    return apiFail(
        storeError(r.error().context(fmt::format("record the run's {} instances", spec.count))));
  }
  {
    std::lock_guard lock(mu_);
    auto mem = std::make_unique<RunMem>();
    mem->spec = spec;
    mem->owner = owner;
    mem->manifest = *manifest;
    mem->operation = "create";
    mem->createdNs = nowNs();
    runs_[*id] = std::move(mem);
  }
  spdlog::info("run {}: {} instances of {} placed on {} workers", *id, spec.count, spec.image,
               byW.size());
  if (!spec.seccomp)
    spdlog::warn("run {}: its instances run without the seccomp filter, as its spec asks", *id);
  RunId rid = *id;
  spawn([this, rid, byW] { createOn(rid, byW, false); });
  auto v = view(rid);
  if (v) publish({"run", toJson(*v), v->run.owner});
  return v;
}

rpc::Command createCommand(RunId id, const RunSpec& spec, const std::vector<uint32_t>& indexes,
                           const std::string& radioJson, const std::string& zepJson) {
  rpc::Command cmd;
  auto* c = cmd.mutable_create();
  c->set_run(id);
  c->set_image(spec.image);
  c->set_net(std::string(toString(spec.net.value_or(NetMode::Veth))));
  c->set_memory_bytes(spec.limits.memoryBytes);
  c->set_disk_mb(spec.limits.diskMb);
  c->set_seccomp_unconfined(!spec.seccomp);
  c->set_pids(spec.limits.pids);
  c->set_group(spec.isolation == Isolation::Group);
  c->set_group_size(spec.groupSize);
  c->set_cpu_milli(spec.limits.cpuMilli);
  // Set for the worker holding the run's cell: the others' devices reach it over the radio
  // network.
  c->set_radio(radioJson);
  c->set_zep(zepJson);
  c->set_run_count(spec.count);
  for (const auto& a : spec.args) c->add_args(a);
  c->set_start_ms(spec.startMs);
  c->set_period_ms(spec.periodMs);
  c->set_seed(spec.seed);
  for (uint32_t i : indexes) c->add_instances()->set_index(i);
  return cmd;
}

void RunService::createOn(RunId id, const std::map<std::string, std::vector<uint32_t>>& byW,
                          bool thenStart) {
  syncRadioPeers(id);  // before the devices come up: they hear the others' from the start
  RunSpec spec;
  {
    std::lock_guard lock(mu_);
    spec = runs_.at(id)->spec;
  }
  const auto [radioJson, zepJson] = cellSpecs(spec);
  std::vector<std::jthread> perWorker;
  for (const auto& [workerName, indexes] : byW) {
    const bool cell = opensCell(id, workerName);
    perWorker.emplace_back([this, id, spec, workerName = workerName, indexes = indexes, thenStart,
                            cell, radioJson, zepJson] {
      for (size_t from = 0; from < indexes.size(); from += config_.createChunk) {
        size_t to = std::min(indexes.size(), from + config_.createChunk);
        std::vector<uint32_t> chunk(indexes.begin() + static_cast<ptrdiff_t>(from),
                                    indexes.begin() + static_cast<ptrdiff_t>(to));
        rpc::Command cmd =
            createCommand(id, spec, chunk, cell ? radioJson : "", cell ? zepJson : "");
        auto r = nodes_.call(workerName, cmd, config_.commandTimeout);
        if (!r) {
          spdlog::warn("run {}: create on {}: {}", id, workerName, r.error().message);
          return;  // the worker is gone; losing it applies the run's policy
        }
      }
      if (thenStart) {
        rpc::Command cmd;
        for (uint32_t i : indexes) *cmd.mutable_start()->add_ids() = toRef({id, i});
        if (auto r = nodes_.call(workerName, cmd, config_.commandTimeout); !r)
          spdlog::warn("run {}: start on {}: {}", id, workerName, r.error().message);
      }
    });
  }
  perWorker.clear();  // joins
  {
    std::lock_guard lock(mu_);
    auto& mem = *runs_.at(id);
    if (mem.operation == "create") mem.operation.clear();
  }
  evaluate(id);
}

std::map<std::string, std::vector<uint32_t>> RunService::byWorker(RunId id, bool liveOnly) {
  std::map<std::string, std::vector<uint32_t>> out;
  auto all = store_.instances(id);
  if (!all) return out;
  for (const auto& r : *all) {
    if (liveOnly && (r.state == kLost || r.state == kDeleted)) continue;
    out[r.worker].push_back(r.id.index);
  }
  return out;
}

void RunService::bulk(RunId id, const std::string& op,
                      const std::map<std::string, std::vector<uint32_t>>& byW) {
  std::vector<std::jthread> perWorker;
  for (const auto& [workerName, indexes] : byW) {
    perWorker.emplace_back([this, id, op, workerName = workerName, indexes = indexes] {
      rpc::Command cmd;
      rpc::InstanceIds* ids = op == "start"  ? cmd.mutable_start()
                              : op == "stop" ? cmd.mutable_stop()
                                             : cmd.mutable_remove();
      ids->set_grace_ms(5000);
      for (uint32_t i : indexes) *ids->add_ids() = toRef({id, i});
      auto r = nodes_.call(workerName, cmd, config_.commandTimeout);
      if (!r) spdlog::warn("run {}: {} on {}: {}", id, op, workerName, r.error().message);
    });
  }
  perWorker.clear();
}

ApiResult<RunView> RunService::startRun(RunId id) {
  {
    std::lock_guard lock(mu_);
    auto mem = runMem(id);
    if (!mem) return apiFail(mem.error());
    if (auto why = refuse((*mem)->state, RunAction::Start))
      return apiFail(ApiError{409, "illegal_transition", *why});
    if (!(*mem)->operation.empty())
      return apiFail(ApiError{409, "busy", "the run is busy: " + (*mem)->operation});
    (*mem)->operation = "start";
    (*mem)->startedNs = nowNs();
  }
  setRunState(id, RunState::Running);
  spawn([this, id] {
    bulk(id, "start", byWorker(id, true));
    {
      std::lock_guard lock(mu_);
      runs_.at(id)->operation.clear();
    }
    evaluate(id);
  });
  return view(id);
}

ApiResult<RunView> RunService::stopRun(RunId id) {
  std::shared_ptr<std::mutex> churn;
  {
    std::lock_guard lock(mu_);
    auto mem = runMem(id);
    if (!mem) return apiFail(mem.error());
    if (auto why = refuse((*mem)->state, RunAction::Stop))
      return apiFail(ApiError{409, "illegal_transition", *why});
    if ((*mem)->operation == "stop" || (*mem)->operation == "delete")
      return apiFail(ApiError{409, "busy", "the run is busy: " + (*mem)->operation});
    (*mem)->operation = "stop";
    (*mem)->stoppedNs = nowNs();
    churn = (*mem)->churn;
  }
  spawn([this, id, churn] {
    std::lock_guard hold(*churn);  // devices being started again come up first
    bulk(id, "stop", byWorker(id, true));
    {
      std::lock_guard lock(mu_);
      runs_.at(id)->operation.clear();
    }
    setRunState(id, RunState::Stopped);
  });
  return view(id);
}

ApiResult<RunView> RunService::deleteRun(RunId id, bool keepLogs) {
  std::shared_ptr<std::mutex> churn;
  {
    std::lock_guard lock(mu_);
    auto mem = runMem(id);
    if (!mem) return apiFail(mem.error());
    if (auto why = refuse((*mem)->state, RunAction::Delete))
      return apiFail(ApiError{409, "illegal_transition", *why});
    if ((*mem)->operation == "delete")
      return apiFail(ApiError{409, "busy", "the run is already being deleted"});
    (*mem)->operation = "delete";
    churn = (*mem)->churn;
  }
  spawn([this, id, keepLogs, churn] {
    std::lock_guard hold(*churn);
    auto byW = byWorker(id, false);
    bulk(id, "remove", byW);
    // Instances of an offline worker are deleted here too; when it reconnects and reports
    // them, it is told to remove them.
    std::vector<InstanceUpdate> ups;
    int64_t t = nowNs();
    for (const auto& [w, idx] : byW)
      for (uint32_t i : idx)
        ups.push_back({{id, i}, std::string(kDeleted), "", t, std::nullopt, std::nullopt});
    if (auto r = store_.updateInstances(ups); !r)
      spdlog::error("run {}: {}", id, r.error().message);
    // Recorded before the workers are told: a worker away now purges at its next registration.
    if (auto r = store_.setRunLogs(id, keepLogs ? "kept" : "purged"); !r)
      spdlog::error("run {}: {}", id, r.error().message);
    // A plexer holding the run's cell holds no instance: it is told apart.
    if (auto plexer = cellPlexer(id); !plexer.empty()) {
      if (keepLogs)
        closeCellOn(plexer, id);
      else
        byW[plexer];
    }
    if (!keepLogs) purgeOnWorkers(id, byW);
    {
      std::lock_guard lock(mu_);
      runs_.at(id)->operation.clear();
    }
    setRunState(id, RunState::Deleted);
  });
  return view(id);
}

ApiResult<RunView> RunService::purgeLogs(RunId id) {
  auto v = view(id);
  if (!v) return apiFail(v.error());
  if (v->run.state != RunState::Deleted || v->run.logs != "kept")
    return apiFail(ApiError{409, "illegal_transition",
                            v->run.state != RunState::Deleted
                                ? fmt::format("run {} is {}: its logs go when it is deleted", id,
                                              toString(v->run.state))
                                : fmt::format("run {}'s logs were removed with it", id)});
  if (auto r = store_.setRunLogs(id, "purged"); !r) return apiFail(storeError(r.error()));
  auto byW = byWorker(id, false);
  if (auto plexer = cellPlexer(id); !plexer.empty()) byW[plexer];
  spawn([this, id, byW] { purgeOnWorkers(id, byW); });
  return view(id);
}

void RunService::purgeOnWorkers(RunId id, const std::map<std::string, std::vector<uint32_t>>& byW) {
  for (const auto& [w, idx] : byW) {
    rpc::Command cmd;
    cmd.mutable_purge()->set_run(id);
    if (auto r = nodes_.call(w, cmd, config_.commandTimeout); !r)
      spdlog::info("run {}: purge on {}: {} (it purges when it registers again)", id, w,
                   r.error().message);
  }
}

void RunService::setRunState(RunId id, RunState s, const std::string& reason) {
  {
    std::lock_guard lock(mu_);
    auto it = runs_.find(id);
    if (it == runs_.end() || it->second->state == s) return;
    // Deleted is final, and dirty only ends in deleted.
    if (it->second->state == RunState::Deleted) return;
    if (it->second->state == RunState::Dirty && s != RunState::Deleted) return;
    it->second->state = s;
  }
  if (auto r = store_.setRunState(id, s, reason, nowNs()); !r)
    spdlog::error("run {}: {}", id, r.error().message);
  spdlog::info("run {}: {}{}", id, toString(s), reason.empty() ? "" : " (" + reason + ")");
  if (auto v = view(id)) publish({"run", toJson(*v), v->run.owner});
}

void RunService::evaluate(RunId id) {
  RunState state;
  RunSpec spec;
  std::string op;
  {
    std::lock_guard lock(mu_);
    auto it = runs_.find(id);
    if (it == runs_.end()) return;
    state = it->second->state;
    spec = it->second->spec;
    op = it->second->operation;
  }
  if (state != RunState::Pending && state != RunState::Ready && state != RunState::Running) return;
  auto counts = store_.countByState(id);
  if (!counts) return;
  auto n = [&](std::string_view s) {
    auto it = counts->find(std::string(s));
    return it == counts->end() ? 0 : it->second;
  };
  if (n("failed") > 0) {
    auto f = store_.instances(id, "failed", 0, 1);
    std::string why = f && !f->empty()
                          ? displayName(f->front().id) + " failed: " + f->front().reason
                          : "an instance failed";
    if (n("failed") > 1) why += fmt::format(" (and {} more)", n("failed") - 1);
    setRunState(id, RunState::Dirty, why);
    return;
  }
  if (n(kLost) > 0 && spec.policy == FailurePolicy::Dirty) {
    setRunState(id, RunState::Dirty, fmt::format("{} instances lost with their worker", n(kLost)));
    return;
  }
  if (state == RunState::Pending && op.empty() && n("booting") == spec.count)
    setRunState(id, RunState::Ready);
}

// ---- events ----

uint64_t RunService::subscribe(EventSubscriber s) {
  std::lock_guard lock(subMu_);
  subscribers_[nextSubscriber_] = std::move(s);
  return nextSubscriber_++;
}

void RunService::unsubscribe(uint64_t id) {
  std::lock_guard lock(subMu_);
  subscribers_.erase(id);
}

void RunService::publish(MasterEvent ev) {
  if (ev.owner.empty() && ev.data.contains("run") && ev.data["run"].is_number_unsigned()) {
    std::lock_guard lock(mu_);
    if (auto it = runs_.find(ev.data["run"].get<RunId>()); it != runs_.end())
      ev.owner = it->second->owner;
  } else if (ev.owner.empty() && ev.data.contains("owner") && ev.data["owner"].is_string()) {
    ev.owner = ev.data["owner"].get<std::string>();
  }
  std::lock_guard lock(subMu_);
  for (auto& [id, s] : subscribers_) s(ev);
}

}  // namespace kuiga::master
