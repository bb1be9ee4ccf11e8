#include "master/views.hpp"

#include <ctime>

#include <fmt/format.h>

namespace kuiga::master {

std::string isoTime(int64_t ns) {
  if (ns <= 0) return "";
  time_t s = static_cast<time_t>(ns / 1000000000);
  tm t{};
  gmtime_r(&s, &t);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(ns / 1000000 % 1000));
}

nlohmann::json toJson(const RunView& v) {
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& name : instanceStateNames()) {
    auto it = v.counts.find(name);
    counts[name] = it == v.counts.end() ? 0 : it->second;
  }
  nlohmann::json j = {
      {"id", v.run.id},
      {"name", v.run.spec.name.empty() ? fmt::format("run-{}", v.run.id) : v.run.spec.name},
      {"state", toString(v.run.state)},
      {"reason", v.run.reason},
      {"owner", v.run.owner},
      {"count", v.run.spec.count},
      {"spec", v.run.spec.toJson()},
      {"counts", counts},
      {"logs", v.run.logs.empty()     ? "available"
               : v.run.logs == "kept" ? "kept"
                                      : "removed"},
      {"created", isoTime(v.run.createdNs)},
      {"updated", isoTime(v.run.updatedNs)}};
  if (v.cellWorker.empty())
    j["cell"] = nullptr;
  else
    j["cell"] = {{"worker", v.cellWorker}, {"moves", v.cellMoves}};
  if (v.progress.operation.empty())
    j["progress"] = nullptr;
  else
    j["progress"] = {{"operation", v.progress.operation},
                     {"done", v.progress.done},
                     {"total", v.progress.total}};
  return j;
}

nlohmann::json toJson(const InstanceRecord& r) {
  return {{"run", r.id.run},           {"index", r.id.index},
          {"name", displayName(r.id)}, {"hostname", hostname(r.id)},
          {"worker", r.worker},        {"state", r.state},
          {"reason", r.reason},        {"updated", isoTime(r.updatedNs)}};
}

nlohmann::json toJson(const WorkerView& w) {
  return {{"name", w.record.name},
          {"role", w.record.role},
          {"address", w.record.address},
          {"capacity", w.record.capacity},
          {"load", w.load},
          {"free", w.record.capacity > w.load ? w.record.capacity - w.load : 0},
          {"labels", w.record.labels},
          {"online", w.record.online},
          {"health", w.record.online ? "healthy" : "lost"},
          {"heartbeat_age_ms",
           w.heartbeatAgeMs < 0 ? nlohmann::json(nullptr) : nlohmann::json(w.heartbeatAgeMs)},
          {"last_seen", isoTime(w.record.lastSeenNs)},
          {"zep_unplaceable_datagrams", w.zepUnplaceable}};
}

nlohmann::json toJson(const ImageRecord& i) {
  return {{"digest", i.digest},
          {"name", i.name},
          {"profile", i.profile},
          {"manifest", i.manifest},
          {"created", isoTime(i.createdNs)}};
}

nlohmann::json toJson(const JitterStats& s) {
  return {{"samples", s.samples}, {"min", s.min}, {"p25", s.p25}, {"p50", s.p50},  {"p75", s.p75},
          {"p95", s.p95},         {"p99", s.p99}, {"max", s.max}, {"mean", s.mean}};
}

}  // namespace kuiga::master
