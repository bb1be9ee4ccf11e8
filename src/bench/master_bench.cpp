#include "bench/master_bench.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "bench/hollow_runtime.hpp"
#include "bench/system_probe.hpp"
#include "client/api_client.hpp"
#include "sys/file.hpp"
#include "sys/process.hpp"
#include "worker/agent/agent.hpp"

namespace kuiga::bench {

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

uint64_t rssKiB(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  for (std::string key; in >> key;) {
    if (key == "VmRSS:") {
      uint64_t v = 0;
      in >> v;
      return v;
    }
    std::getline(in, key);
  }
  return 0;
}

struct Hollow {
  worker::EventQueue events;
  std::unique_ptr<HollowRuntime> runtime;
  std::unique_ptr<worker::MasterLink> link;
  std::unique_ptr<worker::LinkBlobSource> blobs;
  std::unique_ptr<worker::Agent> agent;
  std::jthread thread;
};

// Starts `kuiga master` on a free port; returns the child and its API's URL.
Result<std::pair<sys::Child, std::string>> startMaster(const std::string& dataDir) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) return failSys("pipe");
  sys::UniqueFd r(p[0]), w(p[1]);
  sys::SpawnOptions so;
  so.path = "/proc/self/exe";
  so.argv = {"kuiga", "master", "--data", dataDir, "--port", "0", "--rpc", "127.0.0.1:0"};
  // Its client config stays in its data directory: the user's own is not the bench's to write.
  so.env = {"PATH=/usr/bin:/bin", "XDG_CONFIG_HOME=" + dataDir + "/xdg"};
  // The C library's allocator settings, when the bench is asked to compare them.
  for (const char* k : {"MALLOC_ARENA_MAX", "MALLOC_TRIM_THRESHOLD_"})
    if (const char* v = std::getenv(k)) so.env.push_back(std::string(k) + "=" + v);
  int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  so.fds = {{w.get(), 1}, {devnull, 2}};
  auto child = sys::spawn(so);
  ::close(devnull);
  if (!child) return fail(child.error().context("start kuiga master"));
  w.reset();
  std::string out;
  char buf[512];
  auto until = Clock::now() + std::chrono::seconds(20);
  while (out.find("/api/v1/") == std::string::npos && Clock::now() < until) {
    ssize_t n = ::read(r.get(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  auto at = out.find("http://");
  auto end = out.find("/api/v1/");
  if (at == std::string::npos || end == std::string::npos)
    return failMsg("kuiga master did not say where its API is: " + out);
  return std::make_pair(std::move(*child), out.substr(at, end - at));
}

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

Result<json> waitFor(client::ApiClient& api, const std::string& path,
                     const std::function<bool(const json&)>& pred, double seconds) {
  auto until = Clock::now() + std::chrono::duration<double>(seconds);
  Result<json> last = failMsg("timed out waiting on " + path);
  while (Clock::now() < until) {
    last = api.get(path);
    if (last && pred(*last)) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return last ? failMsg("timed out waiting on " + path + ": " + last->dump().substr(0, 300)) : last;
}

// One run of `count` devices created, started, stopped and deleted; its figures go to `out`
// (when given). Returns the master's RSS in KiB once the run is deleted.
Result<uint64_t> oneRun(client::ApiClient& api, const std::string& image, uint32_t count, pid_t pid,
                        uint64_t before, json* out,
                        const std::function<void(const std::string&)>& log) {
  json fig;
  auto t0 = Clock::now();
  auto created = api.request("POST", "/api/v1/runs",
                             json{{"image", image},
                                  {"count", count},
                                  {"args", "{start_ms} {period_ms}"},
                                  {"period_ms", 1000}}
                                 .dump());
  if (!created || created->status != 201)
    return fail(created ? client::errorOf(*created) : created.error());
  fig["create_request_ms"] = since(t0) * 1000;
  const std::string run = fmt::format("/api/v1/runs/{}", created->body["id"].get<int>());
  auto ready = waitFor(
      api, run, [](const json& r) { return r["state"] == "ready"; }, 600);
  if (!ready) return fail(ready.error());
  fig["ready_s"] = since(t0);
  fig["master_rss_kib_ready"] = rssKiB(pid);
  fig["master_pss_kib_ready"] = pssKiB(pid);
  if (auto s = api.post(run + "/start"); !s) return fail(s.error());
  auto running = waitFor(
      api, run, [&](const json& r) { return r["counts"]["running"].get<uint32_t>() == count; },
      600);
  if (!running) return fail(running.error());
  fig["all_running_s"] = since(t0);
  fig["master_rss_kib_running"] = rssKiB(pid);
  const uint64_t peak = std::max(fig["master_rss_kib_ready"].get<uint64_t>(),
                                 fig["master_rss_kib_running"].get<uint64_t>());
  fig["master_bytes_per_instance"] = (peak > before ? peak - before : 0) * 1024 / count;
  log(fmt::format("{} devices ready in {:.1f} s, running in {:.1f} s; master RSS {} -> {} KiB",
                  count, fig["ready_s"].get<double>(), fig["all_running_s"].get<double>(), before,
                  peak));
  if (auto s = api.post(run + "/stop"); !s) return fail(s.error());
  if (auto st = waitFor(
          api, run, [](const json& r) { return r["state"] == "stopped"; }, 600);
      !st)
    return fail(st.error());
  if (auto d = api.del(run); !d) return fail(d.error());
  if (auto st = waitFor(
          api, run, [](const json& r) { return r["state"] == "deleted"; }, 600);
      !st)
    return fail(st.error());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  if (out) out->update(fig);
  return rssKiB(pid);
}

}  // namespace

Result<json> runMasterBench(const MasterBenchOptions& o,
                            const std::function<void(const std::string&)>& log) {
  if (o.count == 0 || o.count > kMaxInstancesPerRun || o.workers == 0 || o.workers > 64)
    return failMsg(
        fmt::format("--count must be 1 to {} and --workers 1 to 64", kMaxInstancesPerRun));
  const std::string dir = fmt::format("/tmp/kuiga-kbmaster{}", ::getpid());
  KUIGA_TRY(sys::makePrivateDir(dir), "bench directory");
  auto cleanup = [&](Result<json> r) {
    (void)sys::removeTree(dir);
    return r;
  };
  auto master = startMaster(dir + "/data");
  if (!master) return cleanup(fail(master.error()));
  const pid_t pid = master->first.pid();
  const std::string url = master->second;
  auto conf = client::readConfig(dir + "/data/kuiga.conf");
  if (!conf) return cleanup(fail(conf.error()));
  client::ApiClient api(url, conf->token);
  // The hollow workers enroll as real ones do.
  auto join = api.post("/api/v1/tokens", {{"name", "bench"}, {"role", "join"}});
  if (!join) return cleanup(fail(join.error()));
  std::vector<std::unique_ptr<Hollow>> hollow;
  for (uint32_t k = 0; k < o.workers; ++k) {
    auto h = std::make_unique<Hollow>();
    h->runtime = std::make_unique<HollowRuntime>(h->events.sink());
    worker::AgentConfig ac;
    ac.name = fmt::format("hollow{}", k);
    h->link = std::make_unique<worker::MasterLink>(worker::MasterLinkConfig{
        url, ac.name, fmt::format("{}/w{}", dir, k), (*join)["token"], {}, std::nullopt});
    h->blobs = std::make_unique<worker::LinkBlobSource>(*h->link);
    ac.capacity = o.count / o.workers + 1;
    ac.cacheDir = fmt::format("{}/w{}/images", dir, k);
    ac.runtimeName = "hollow";
    h->agent = std::make_unique<worker::Agent>(ac, *h->link, *h->runtime, h->events, *h->blobs);
    h->thread = std::jthread([a = h->agent.get()](std::stop_token st) { a->run(st); });
    hollow.push_back(std::move(h));
  }
  auto all = waitFor(
      api, "/api/v1/workers",
      [&](const json& ws) {
        size_t online = 0;
        for (const auto& w : ws) online += w.value("online", false);
        return online == o.workers;
      },
      30);
  if (!all) return cleanup(fail(all.error()));
  json out = {{"count", o.count}, {"workers", o.workers}};
  std::this_thread::sleep_for(std::chrono::seconds(1));
  out["master_rss_kib_idle"] = rssKiB(pid);
  auto img = api.upload("/api/v1/images", o.app, "aut", {});
  if (!img || img->status != 201) return cleanup(fail(img ? client::errorOf(*img) : img.error()));
  const uint64_t before = rssKiB(pid);
  json afterDelete = json::array();
  for (uint32_t round = 0; round < o.runs; ++round) {
    auto r =
        oneRun(api, img->body["digest"], o.count, pid, before, round == 0 ? &out : nullptr, log);
    if (!r) return cleanup(fail(r.error()));
    afterDelete.push_back(*r);
  }
  out["master_rss_kib_deleted"] = afterDelete;
  uint64_t dbBytes = 0;
  for (const char* f : {"/data/state.db", "/data/state.db-wal"}) {
    std::error_code ec;
    auto n = std::filesystem::file_size(dir + f, ec);
    if (!ec) dbBytes += n;
  }
  out["state_db_bytes"] = dbBytes;
  for (auto& h : hollow) h->thread.request_stop();
  hollow.clear();
  (void)master->first.signal(SIGTERM);
  (void)master->first.wait();
  addMachine(out);
  return cleanup(out);
}

}  // namespace kuiga::bench
