#include "bench/api_bench.hpp"

#include <unistd.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>

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

  master::ServerConfig sc;
  sc.dataDir = dir + "/master";
  sc.port = 0;
  auto server = master::Server::start(sc);
  if (!server) return fail(server.error());
  // The worker as kuiga up runs it, the Plexer's capture included.
  worker::WorkerNodeConfig wc;
  wc.master = (*server)->url();
  wc.name = name;
  wc.stateDir = dir + "/worker";
  wc.initPath = o.initPath;
  wc.capacity = o.count;
  auto node = worker::WorkerNode::start(wc);
  if (!node) return fail(node.error());

  client::ApiClient api((*server)->url());
  json out = {{"count", o.count}};
  auto finish = [&](Result<json> r) -> Result<json> {
    if (auto d = (*node)->destroy(); !d && r) r = fail(d.error());
    server->reset();
    if (temp) (void)sys::removeTree(dir);
    return r;
  };
  for (int i = 0; i < 200 && !(*node)->connected(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (!(*node)->connected()) return finish(failMsg("the worker did not register"));

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
  return finish(out);
}

}  // namespace kuiga::bench
