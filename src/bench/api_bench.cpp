#include "bench/api_bench.hpp"

#include <unistd.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "bench/api_load.hpp"
#include "bench/system_probe.hpp"
#include "client/api_client.hpp"
#include "master/server.hpp"
#include "sys/file.hpp"
#include "worker/agent/worker_node.hpp"

namespace kuiga::bench {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

static double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

Result<json> runApiBench(const ApiBenchOptions& o,
                         const std::function<void(const std::string&)>& log) {
  const std::string name = o.name.empty() ? fmt::format("kbapi{}", ::getpid()) : o.name;
  const bool temp = o.dataDir.empty();
  const std::string dir = temp ? fmt::format("/tmp/kuiga-{}", name) : o.dataDir;
  KUIGA_TRY(sys::makeDirs(dir), "bench data directory");

  std::unique_ptr<master::Server> server;
  std::unique_ptr<worker::WorkerNode> node;
  std::string url = o.masterUrl;
  client::ClientConfig conf;
  if (url.empty()) {
    master::ServerConfig sc;
    sc.dataDir = dir + "/master";
    sc.port = 0;
    auto s = master::Server::start(sc);
    if (!s) return fail(s.error());
    server = std::move(*s);
    url = server->url();
    auto c = client::readConfig(server->clientConfigPath());
    if (!c) return fail(c.error());
    conf = *c;
    // The worker as kuiga up runs it, the Plexer's capture included.
    worker::WorkerNodeConfig wc;
    wc.master = url;
    wc.name = name;
    auto creds = server->issueNode(name);  // in this process, as kuiga up's worker
    if (!creds) return fail(creds.error());
    wc.credentials = worker::NodeCredentials{creds->keyPem, creds->certPem, creds->caPem};
    wc.stateDir = dir + "/worker";
    wc.initPath = o.initPath;
    wc.capacity = o.count + 1;  // one more for the runs the load creates and deletes
    auto n = worker::WorkerNode::start(wc);
    if (!n) return fail(n.error());
    node = std::move(*n);
  }

  if (!server) {
    auto c = client::resolveConfig({"", url, o.token});
    if (!c) return fail(c.error());
    conf = *c;
  }
  conf.master = url;
  client::ApiClient api(conf);
  json out = {{"count", o.count}};
  auto finish = [&](Result<json> r) -> Result<json> {
    if (node)
      if (auto d = node->destroy(); !d && r) r = fail(d.error());
    server.reset();
    if (temp) (void)sys::removeTree(dir);
    return r;
  };
  for (int i = 0; i < 200 && node && !node->connected(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (node && !node->connected()) return finish(failMsg("the worker did not register"));

  auto img = api.upload("/api/v1/images", o.app, "aut", {});
  if (!img) return finish(fail(img.error()));
  if (img->status != 201) return finish(fail(client::errorOf(*img)));

  auto waitRun = [&](int id, const std::function<bool(const json&)>& pred) -> Result<json> {
    for (;;) {
      auto r = api.get(fmt::format("/api/v1/runs/{}", id));
      if (!r) return r;
      if (pred(*r)) return r;
      if ((*r)["state"] == "dirty")
        return failMsg("the run is dirty: " + (*r)["reason"].get<std::string>());
      // Polling as a client would; each poll costs the master a count over the run's instances.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };
  auto t0 = Clock::now();
  json spec = {{"image", img->body["digest"]},
               {"count", o.count},
               {"args", "{start_ms} {period_ms}"},
               {"period_ms", 1000}};
  auto created = api.request("POST", "/api/v1/runs", spec.dump());
  if (!created) return finish(fail(created.error()));
  if (created->status != 201) return finish(fail(client::errorOf(*created)));
  out["create_request_ms"] = since(t0) * 1000;
  int id = created->body["id"];
  auto ready = waitRun(id, [](const json& r) { return r["state"] == "ready"; });
  if (!ready) return finish(fail(ready.error()));
  out["ready_s"] = since(t0);
  log(fmt::format("ready: {} instances created in {:.2f} s", o.count, since(t0)));
  if (auto s = api.post(fmt::format("/api/v1/runs/{}/start", id)); !s)
    return finish(fail(s.error()));
  uint32_t n = o.count;
  auto running = waitRun(id, [n](const json& r) { return r["counts"]["running"] == n; });
  if (!running) return finish(fail(running.error()));
  out["all_running_s"] = since(t0);
  log(fmt::format("all {} running {:.2f} s after POST /runs", o.count, since(t0)));
  std::this_thread::sleep_for(std::chrono::duration<double>(o.runningS));
  if (o.slowClients > 0 || o.sse > 0) {
    LoadOptions lo;
    lo.slowClients = o.slowClients;
    lo.sse = o.sse;
    lo.durationS = o.holdS;
    lo.image = img->body["digest"];
    auto held = holdAndMeasure(url, conf.token, id, lo, log);
    if (!held) return finish(fail(held.error()));
    log(fmt::format("ordinary requests while held: p50 {:.1f} ms, p99 {:.1f} ms, {} of {} failed",
                    (*held)["p50_ms"].get<double>(), (*held)["p99_ms"].get<double>(),
                    (*held)["failed"].get<uint64_t>(), (*held)["requests"].get<uint64_t>()));
    out["load"] = *held;
    out["failed"] = (*held)["failed"];
  }

  auto t1 = Clock::now();
  if (auto s = api.post(fmt::format("/api/v1/runs/{}/stop", id)); !s)
    return finish(fail(s.error()));
  auto stopped = waitRun(id, [](const json& r) { return r["state"] == "stopped"; });
  if (!stopped) return finish(fail(stopped.error()));
  out["stop_s"] = since(t1);
  auto t2 = Clock::now();
  if (auto s = api.del(fmt::format("/api/v1/runs/{}", id)); !s) return finish(fail(s.error()));
  auto deleted = waitRun(id, [](const json& r) { return r["state"] == "deleted"; });
  if (!deleted) return finish(fail(deleted.error()));
  out["delete_s"] = since(t2);
  log(fmt::format("stopped in {:.2f} s, deleted in {:.2f} s", out["stop_s"].get<double>(),
                  out["delete_s"].get<double>()));
  addMachine(out);
  return finish(out);
}

}  // namespace kuiga::bench
