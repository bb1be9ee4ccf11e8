// What the master reads from the workers on demand, next to the instances: their records and
// history, consoles, logs, jitter samples, lease logs and captures. Nothing of it is copied to
// the master ahead of time.
#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "master/run_service.hpp"
#include "master/run_service_internal.hpp"
#include "master/views.hpp"
#include "spec/identity.hpp"
#include "worker/instance.hpp"

namespace kuiga::master {

ApiResult<std::vector<InstanceRecord>> RunService::instances(RunId id, const std::string& state,
                                                             uint32_t offset, uint32_t limit) {
  {
    std::lock_guard lock(mu_);
    if (auto m = runMem(id); !m) return apiFail(m.error());
  }
  if (!state.empty() && std::find(instanceStateNames().begin(), instanceStateNames().end(),
                                  state) == instanceStateNames().end())
    return apiFail(ApiError::badRequest("unknown instance state '" + state + "'"));
  auto r = store_.instances(id, state, offset, limit);
  if (!r) return apiFail(storeError(r.error()));
  return *r;
}

ApiResult<nlohmann::json> RunService::instance(InstanceId id) {
  auto r = store_.instance(id);
  if (!r) return apiFail(storeError(r.error()));
  if (!*r) return apiFail(ApiError::notFound("no instance " + displayName(id)));
  auto h = store_.history(id);
  if (!h) return apiFail(storeError(h.error()));
  auto j = toJson(**r);
  j["ipv4"] = ipv4Address(id);
  j["ipv6"] = ipv6Address(id);
  j["mac"] = macString(id);
  j["history"] = nlohmann::json::array();
  for (const auto& e : *h)
    j["history"].push_back({{"state", e.state},
                            {"reason", e.reason},
                            {"worker", e.worker},
                            {"time", isoTime(e.timeNs)}});
  return j;
}

ApiResult<nlohmann::json> RunService::runHistory(RunId id) {
  auto v = view(id);
  if (!v) return apiFail(v.error());
  auto h = store_.runHistory(id);
  if (!h) return apiFail(storeError(h.error()));
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : *h) {
    nlohmann::json j = {{"time", isoTime(e.timeNs)}, {"kind", e.kind}, {"detail", e.detail}};
    if (e.kind == "state") j["state"] = e.state;
    if (e.kind == "cell") j["host"] = e.host;
    events.push_back(std::move(j));
  }
  return nlohmann::json{{"run", id}, {"events", std::move(events)}};
}

ApiResult<uint32_t> RunService::consoleMany(RunId id, const std::string& line,
                                            const std::vector<uint32_t>& indexes, uint32_t rate) {
  auto v = view(id);
  if (!v) return apiFail(v.error());
  if (v->run.state != RunState::Running && v->run.state != RunState::Ready)
    return apiFail(ApiError{409, "illegal_transition",
                            fmt::format("run {} is {}; consoles take input while it runs", id,
                                        toString(v->run.state))});
  auto all = store_.instances(id, "", 0, UINT32_MAX);
  if (!all) return apiFail(storeError(all.error()));
  std::set<uint32_t> wanted(indexes.begin(), indexes.end());
  for (uint32_t k : wanted)
    if (k >= v->run.spec.count)
      return apiFail(ApiError::notFound(fmt::format("no instance {} in run {}", k, id)));
  std::vector<InstanceId> targets;
  for (const auto& r : *all)
    if ((wanted.empty() || wanted.contains(r.id.index)) &&
        (r.state == "running" || r.state == "booting"))
      targets.push_back(r.id);
  // Paced: a line to 10,000 shells at once would be 10,000 RPCs in a burst.
  spawn([this, targets, line, rate] {
    auto gap = std::chrono::microseconds(1'000'000 / std::max<uint32_t>(rate, 1));
    auto next = std::chrono::steady_clock::now();
    for (const auto& t : targets) {
      if (shuttingDown_) return;
      std::this_thread::sleep_until(next);
      next += gap;
      if (auto r = console(t, line); !r)
        spdlog::info("console of {}: {}", displayName(t), r.error().message);
    }
  });
  return static_cast<uint32_t>(targets.size());
}

ApiResult<void> RunService::console(InstanceId id, const std::string& line) {
  auto r = store_.instance(id);
  if (!r) return apiFail(storeError(r.error()));
  if (!*r) return apiFail(ApiError::notFound("no instance " + displayName(id)));
  if ((*r)->state != "running" && (*r)->state != "booting")
    return apiFail(ApiError{409, "illegal_transition",
                            displayName(id) + " is " + (*r)->state +
                                "; its console takes input "
                                "while booting or running"});
  rpc::Command cmd;
  *cmd.mutable_console()->mutable_id() = toRef(id);
  cmd.mutable_console()->set_line(line);
  auto rep = nodes_.call((*r)->worker, cmd, std::chrono::seconds(10));
  if (!rep) return apiFail(ApiError{502, "worker_unavailable", rep.error().message});
  if (!rep->ok()) return apiFail(ApiError{502, "worker_error", rep->error()});
  return {};
}

ApiResult<std::vector<LogChunk>> RunService::readLogs(const std::vector<LogCursor>& cursors,
                                                      uint32_t maxBytesEach) {
  std::map<std::string, rpc::Command> perWorker;
  for (const auto& c : cursors) {
    auto r = store_.instance(c.id);
    if (!r) return apiFail(storeError(r.error()));
    if (!*r) return apiFail(ApiError::notFound("no instance " + displayName(c.id)));
    auto& cmd = perWorker[(*r)->worker];
    auto* cur = cmd.mutable_read_log()->add_cursors();
    *cur->mutable_id() = toRef(c.id);
    cur->set_offset(c.offset);
    cmd.mutable_read_log()->set_max_bytes_each(maxBytesEach);
  }
  std::vector<LogChunk> out;
  std::string unavailable;
  for (auto& [w, cmd] : perWorker) {
    auto rep = nodes_.call(w, cmd, std::chrono::seconds(30));
    if (!rep) {
      unavailable = w + ": " + rep.error().message;
      continue;  // that worker's logs are out of reach for now; the others still count
    }
    for (const auto& ch : rep->logs())
      if (!ch.missing()) out.push_back({fromRef(ch.id()), ch.data(), ch.offset()});
  }
  if (out.empty() && !unavailable.empty())
    return apiFail(ApiError{502, "worker_unavailable", "logs unavailable: " + unavailable});
  return out;
}

ApiResult<JitterReport> RunService::jitter(RunId id) {
  auto v = view(id);
  if (!v) return apiFail(v.error());
  const auto& spec = v->run.spec;
  if (spec.periodMs == 0)
    return apiFail(ApiError::badRequest(
        "the run has no period_ms: jitter is measured for timed AUTs (set period_ms)"));
  JitterReport rep;
  std::vector<double> all;
  for (const auto& [w, idx] : byWorker(id, true)) {
    rpc::Command cmd;
    cmd.mutable_jitter()->set_period_ms(spec.periodMs);
    for (uint32_t i : idx) *cmd.mutable_jitter()->add_ids() = toRef({id, i});
    auto r = nodes_.call(w, cmd, std::chrono::seconds(60));
    if (!r) return apiFail(ApiError{502, "worker_unavailable", w + ": " + r.error().message});
    size_t pos = 0;
    for (int k = 0; k < r->sample_counts_size() && k < static_cast<int>(idx.size()); ++k) {
      std::vector<double> s(r->samples().begin() + pos,
                            r->samples().begin() + pos + r->sample_counts(k));
      pos += r->sample_counts(k);
      all.insert(all.end(), s.begin(), s.end());
      rep.perInstance[idx[k]] = summarize(s);
    }
  }
  rep.run = summarize(all);
  return rep;
}

ApiResult<std::string> RunService::leases(RunId id) {
  auto workers = pcapWorkers(id);
  if (!workers) return apiFail(workers.error());
  std::string out;
  constexpr size_t kMax = 64u << 20;  // a lease log is small; a runaway one is cut here
  for (const auto& w : *workers) {
    for (uint64_t offset = 0; out.size() < kMax;) {
      rpc::Command cmd;
      cmd.mutable_read_leases()->set_run(id);
      cmd.mutable_read_leases()->set_offset(offset);
      cmd.mutable_read_leases()->set_max_bytes(4u << 20);
      auto r = nodes_.call(w, cmd, std::chrono::seconds(30));
      if (!r) return apiFail(ApiError{502, "worker_unavailable", w + ": " + r.error().message});
      if (!r->ok()) return apiFail(ApiError{502, "worker_error", w + ": " + r->error()});
      out += r->text();
      offset += r->text().size();
      if (r->text_end() || r->text().empty()) break;
    }
  }
  return out;
}

ApiResult<std::vector<std::string>> RunService::pcapWorkers(RunId id) {
  {
    std::lock_guard lock(mu_);
    if (auto m = runMem(id); !m) return apiFail(m.error());
  }
  std::vector<std::string> out;
  for (const auto& [w, idx] : byWorker(id, false)) out.push_back(w);
  // The run's cell, its lease log and its ZEP capture may be on a plexer of their own.
  if (auto plexer = cellPlexer(id); !plexer.empty()) out.push_back(plexer);
  return out;
}

ApiResult<std::pair<std::string, bool>> RunService::readPcap(const std::string& worker, RunId id,
                                                             uint64_t offset, uint32_t maxBytes,
                                                             std::optional<uint32_t> instance) {
  rpc::Command cmd;
  cmd.mutable_read_pcap()->set_run(id);
  if (instance) {
    cmd.mutable_read_pcap()->set_one_instance(true);
    cmd.mutable_read_pcap()->set_index(*instance);
  }
  cmd.mutable_read_pcap()->set_offset(offset);
  cmd.mutable_read_pcap()->set_max_bytes(maxBytes);
  auto r = nodes_.call(worker, cmd, std::chrono::seconds(60));
  if (!r) return apiFail(ApiError{502, "worker_unavailable", worker + ": " + r.error().message});
  if (!r->ok()) return apiFail(ApiError{502, "worker_error", worker + ": " + r->error()});
  return std::make_pair(r->pcap(), r->pcap_end());
}

}  // namespace kuiga::master
