// The radio: the run's capture as pcapng, the Plexer's counters and the UE lease log.
#include <fmt/format.h>

#include "master/api/api_common.hpp"

namespace kuiga::master::api {

namespace {

// Each worker's part of a capture is a complete pcapng section (its files are too), so their
// concatenation is one pcapng file with an interface per device.
class PcapSource final : public http::Source {
 public:
  PcapSource(RunService& m, RunId run, std::optional<uint32_t> instance,
             std::vector<std::string> workers, size_t worker, uint64_t offset, std::string first)
      : m_(m),
        run_(run),
        instance_(instance),
        workers_(std::move(workers)),
        worker_(worker),
        offset_(offset),
        first_(std::move(first)) {}
  Pull pull(std::string& out) override {
    if (!first_.empty()) {
      out = std::move(first_);
      first_.clear();
      return more();
    }
    while (worker_ < workers_.size()) {
      auto r = m_.readPcap(workers_[worker_], run_, offset_, 1u << 20, instance_);
      if (r && !r->first.empty()) {
        offset_ += r->first.size();
        // A worker's part ends where its capture ended when it was read: frames captured
        // later belong to the next download, so a busy run's download still ends.
        if (r->second) ++worker_, offset_ = 0;
        out = std::move(r->first);
        return more();
      }
      ++worker_;  // this worker's part is complete (or out of reach): the next one
      offset_ = 0;
    }
    return done();
  }

 private:
  RunService& m_;
  RunId run_;
  std::optional<uint32_t> instance_;
  std::vector<std::string> workers_;
  size_t worker_;
  uint64_t offset_;
  std::string first_;
};

http::Response pcap(RunService& m, const http::Request& req) {
  auto id = runIdOf(req);
  if (!id) return replyError(id.error());
  auto workers = m.pcapWorkers(*id);
  if (!workers) return replyError(workers.error());
  std::optional<uint32_t> instance;
  if (req.has("instance")) {
    auto k = number(req.arg("instance"), UINT32_MAX);
    if (!k) return replyError(ApiError::badRequest("'instance' must be an instance index"));
    instance = static_cast<uint32_t>(*k);
    if (auto inst = m.instance({*id, *instance}); !inst) return replyError(inst.error());
  }
  // The first bytes are read here, to answer 404 or 502 rather than an empty 200.
  std::string unreachable, first;
  size_t w = 0;
  uint64_t offset = 0;
  for (; w < workers->size(); ++w) {
    auto r = m.readPcap((*workers)[w], *id, 0, 1u << 20, instance);
    if (!r) {
      unreachable = r.error().message;
      continue;
    }
    if (r->first.empty()) continue;
    first = std::move(r->first);
    offset = first.size();
    if (r->second) ++w, offset = 0;  // that worker's part was all of it
    break;
  }
  if (first.empty()) {
    if (!unreachable.empty())
      return replyError({502, "worker_unavailable", "capture unavailable: " + unreachable});
    return replyError(ApiError::notFound(
        fmt::format("no frames captured for run {} (its devices have no radio network, or have "
                    "not sent anything yet)",
                    *id)));
  }
  http::Response res;
  res.type = "application/vnd.tcpdump.pcap";
  res.source =
      std::make_shared<PcapSource>(m, *id, instance, *workers, w, offset, std::move(first));
  res.headers.emplace_back(
      "Content-Disposition",
      fmt::format("attachment; filename=\"{}.pcapng\"",
                  instance ? hostname({*id, *instance}) : fmt::format("run-{}", *id)));
  return res;
}

}  // namespace

Routes radioRoutes(Context& c) {
  using namespace doc;
  RunService& m = c.runs;
  Routes r;
  r.push_back({"GET", "/api/v1/runs/{id}/pcap", Role::User, Scope::Run,
               op("Every frame of the run's devices as pcapng, one interface per device",
                  with({{"200", raw("application/vnd.tcpdump.pcap")}}, {404, 502}),
                  {{"parameters", {runId(), param("instance", "query", "integer", false)}}}),
               [&m](http::Request& req, const Caller&) { return pcap(m, req); }});
  r.push_back({"GET", "/api/v1/runs/{id}/radio/leases", Role::User, Scope::Run,
               op("The run's UE lease log, one line per grant or release: "
                  "\"TIME grant|release ue=K device=run-R/dev-NNNN\"",
                  with({{"200", raw("text/plain")}}, {404, 502}), {{"parameters", {runId()}}}),
               [&m](http::Request& req, const Caller&) {
                 auto id = runIdOf(req);
                 if (!id) return replyError(id.error());
                 auto text = m.leases(*id);
                 if (!text) return replyError(text.error());
                 return http::Response::text(200, "text/plain; charset=utf-8", std::move(*text));
               }});
  r.push_back(
      {"GET", "/api/v1/runs/{id}/radio", Role::User, Scope::Run,
       op("What the Plexer counted: per device the capture (sent, delivered, missed) "
          "and the forwarding path (to the base station, forwarded, back, dropped by "
          "cause); per worker the run's cell (UEs, leases, queue, airtime)",
          with({{"200", ok("radio", {{"type", "object"}})}}, {404}), {{"parameters", {runId()}}}),
       [&m](http::Request& req, const Caller&) {
         auto id = runIdOf(req);
         if (!id) return replyError(id.error());
         return answer(m.radio(*id), 200, [](const json& j) { return j; });
       }});
  return r;
}

}  // namespace kuiga::master::api
