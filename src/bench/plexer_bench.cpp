#include "bench/plexer_bench.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "bench/bench_failures.hpp"
#include "bench/bench_hosts.hpp"
#include "bench/system_probe.hpp"
#include "plexer/plexer.hpp"
#include "sys/file.hpp"
#include "worker/ns/ns_runtime.hpp"

namespace kuiga::bench {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// Ethernet, IPv4 and UDP headers in front of the payload.
constexpr uint32_t kHeaderBytes = 14 + 20 + 8;

int64_t nowMs() {
  return worker::realtimeNs() / 1'000'000;
}

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

Result<nlohmann::json> runPlexerBench(const PlexerBenchOptions& o, const BenchLog& log) {
  if (o.senders == 0 || o.senders > kMaxInstancesPerRun)
    return failMsg(fmt::format("--senders must be 1 to {}", kMaxInstancesPerRun));
  if (!(o.rate > 0 && o.rate <= 100000))
    return failMsg("--rate must be above 0 and at most 100000");
  if (o.frameBytes < 60 || o.frameBytes > 1514)
    return failMsg("--frame-bytes must be 60 to 1514 (an Ethernet frame on a 1500-byte MTU)");
  if (!(o.durationS > 0 && o.durationS <= 3600)) return failMsg("--duration must be 0 to 3600 s");
  if (::access(o.app.c_str(), X_OK) < 0) return failSys("sender '" + o.app + "'");

  const std::string name = o.name.empty() ? fmt::format("pbench{}", ::getpid()) : o.name;
  auto dirs = prepareBenchDirs(o.app, o.stateDir, name);
  if (!dirs) return fail(dirs.error());
  const std::string stateDir = dirs->stateDir, appDir = dirs->appDir, exe = dirs->executable;

  std::atomic<size_t> running{0};
  worker::ns::NsRuntimeConfig cfg;
  cfg.name = name;
  cfg.stateDir = stateDir;
  cfg.initPath = o.initPath;
  cfg.threads = o.threads;
  auto hosts = BenchHosts::open(o.workers, cfg, [&](const std::vector<worker::InstanceEvent>& evs) {
    for (const auto& e : evs) running += e.state == InstanceState::Running;
  });
  if (!hosts) return fail(hosts.error());
  auto& runtime = **hosts;
  // The Plexer's capture on each worker, where the frames are.
  std::vector<std::unique_ptr<plexer::RunCapture>> captures;
  for (size_t k = 0; k < runtime.size(); ++k) {
    auto c = plexer::RunCapture::start(runtime.runtime(k).radioNetnsFd(),
                                       fmt::format("{}/pcap{}", stateDir, k));
    if (!c) return fail(c.error());
    captures.push_back(std::move(*c));
  }
  auto captureOf = [&](const InstanceId& id) -> plexer::RunCapture& {
    return *captures[runtime.hostOf(id.index)];
  };

  const RunId run = 1;
  // Over several workers, one radio network whose gateway is on worker 0: the others' frames
  // cross the underlay in the run's VXLAN tunnel.
  if (auto j = runtime.join(run, o.senders); !j) return fail(j.error());
  // All senders begin together once all run (creating and starting take about 11 ms per
  // instance here), each at its own phase of the period: a steady load, not start-up noise
  // and not bursts in lockstep.
  const int64_t startMs = nowMs() + 5000 + int64_t{o.senders} * 15;
  std::vector<worker::InstanceSpec> specs(o.senders);
  std::vector<InstanceId> ids(o.senders);
  for (uint32_t i = 0; i < o.senders; ++i) {
    ids[i] = {run, i};
    auto& s = specs[i];
    s.id = ids[i];
    s.appDir = appDir;
    s.executable = exe;
    // To the run's gateway address, which nobody holds here: the frames cross the sender's
    // port (where they are captured) to the core bridge (worker 0's, through the tunnel from
    // the others), and end in the radio namespace.
    s.args = {"flood",
              gatewayIpv4(run),
              "9",
              fmt::format("{}", o.rate),
              fmt::format("{}", o.durationS),
              std::to_string(o.frameBytes - kHeaderBytes),
              std::to_string(startMs),
              fmt::format("{:.6f}", static_cast<double>(i) / o.senders)};
    s.net = NetMode::Veth;
  }
  nlohmann::json out = {{"workers", o.workers},
                        {"senders", o.senders},
                        {"rate", o.rate},
                        {"frame_bytes", o.frameBytes},
                        {"duration_s", o.durationS},
                        {"offered_fps", o.senders * o.rate}};
  addMachine(out);

  auto t0 = Clock::now();
  auto created = runtime.create(specs);
  for (const auto& id : ids) (void)captureOf(id).addInstance(id);
  log(fmt::format("created {}/{} senders in {:.1f} s{}", created.ok, o.senders, secondsSince(t0),
                  created.failed.empty() ? ""
                                         : fmt::format(" (first failure, {}: {})",
                                                       displayName(created.failed[0].first),
                                                       created.failed[0].second.message)));
  auto t1 = Clock::now();
  auto started = runtime.start(ids);
  while (running.load() < started.ok && secondsSince(t1) < 600)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  log(fmt::format("started {}/{} senders in {:.1f} s", started.ok, o.senders, secondsSince(t1)));
  if (nowMs() > startMs) {
    out["late_ms"] = nowMs() - startMs;
    log(fmt::format("warning: sending began {} ms before all senders ran", nowMs() - startMs));
  }
  while (nowMs() < startMs) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // The capture threads' CPU, and the whole machine's, from the first frame to the last.
  auto captureCpu = [&] {
    double s = 0;
    for (const auto& c : captures) s += threadCpuSeconds(c->threadId());
    return s;
  };
  const double cpu0 = captureCpu();
  const uint64_t busy0 = busyCpuMicros();
  auto crossed0 = runtime.tunnelReceived(run);
  if (!crossed0) return fail(crossed0.error());
  auto t2 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.durationS));
  // A sender that could not keep its rate (the machine is saturated) sends on until it has
  // sent its share, then logs "sent N failed M": wait for every one of them, so that the
  // kernel's counts and the capture's are read when both are final.
  uint64_t said = 0, saidFailed = 0;
  std::vector<bool> done(ids.size(), false);
  size_t finished = 0;
  const double patience = o.durationS * 10 + 30;
  while (finished < ids.size() && secondsSince(t2) < patience) {
    for (size_t k = 0; k < ids.size(); ++k) {
      if (done[k]) continue;
      auto text = sys::readFile(runtime.logPath(ids[k]));
      auto at = text ? text->rfind(" sent ") : std::string::npos;
      unsigned long long n = 0, f = 0;
      if (at == std::string::npos ||
          std::sscanf(text->c_str() + at, " sent %llu failed %llu", &n, &f) != 2)
        continue;
      done[k] = true;
      ++finished;
      said += n;
      saidFailed += f;
    }
    if (finished < ids.size()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const double window = secondsSince(t2);
  const double cpu = captureCpu() - cpu0;
  const double busy = static_cast<double>(busyCpuMicros() - busy0) / 1e6;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the last frames reach the ring
  auto crossed1 = runtime.tunnelReceived(run);
  if (!crossed1) return fail(crossed1.error());
  out["senders_finished"] = finished;
  out["senders_said_sent"] = said;
  out["senders_said_failed"] = saidFailed;
  uint64_t sent = 0, captured = 0, missed = 0, ringDrops = 0;
  for (const auto& c : captures) {
    auto devices = c->report(run);
    if (!devices) return fail(devices.error());
    for (const auto& d : *devices) {
      sent += d.kernelSentFrames;
      captured += d.captured.sentFrames;
      missed += d.missedFrames;
    }
    ringDrops += c->stats().ringDrops;
  }
  out["sent"] = sent;
  out["captured"] = captured;
  out["missed"] = missed;
  out["missed_ratio"] = sent ? static_cast<double>(missed) / static_cast<double>(sent) : 0.0;
  out["ring_drops"] = ringDrops;
  out["capture_cpu_pct"] = 100.0 * cpu / window;
  // Frames that reached worker 0 through the tunnel: the senders' on the other workers.
  out["cross_worker_delivered"] = *crossed1 - *crossed0;
  // All the machine's busy CPU time (senders, kernel, capture) per frame sent: the same load on
  // one worker and on several gives what the VXLAN path costs a frame.
  out["machine_cpu_s"] = busy;
  out["machine_cpu_us_per_frame"] = sent ? busy * 1e6 / static_cast<double>(sent) : 0.0;
  out["window_s"] = window;
  out["achieved_fps"] = static_cast<double>(sent) / window;
  FailureTally failures;
  failures.add(created, "create");
  failures.add(started, "start");
  failures.addNotRunning(runtime.list(), ids, true);  // senders end when done
  failures.write(out, log);
  log(fmt::format(
      "sent {} frames, captured {}, missed {} ({:.4f}%), ring drops {}, capture "
      "threads {:.1f}% of a CPU, {} crossed workers, {:.2f} us of CPU per frame",
      sent, captured, missed, out["missed_ratio"].get<double>() * 100, ringDrops,
      out["capture_cpu_pct"].get<double>(), out["cross_worker_delivered"].get<uint64_t>(),
      out["machine_cpu_us_per_frame"].get<double>()));

  auto t3 = Clock::now();
  (void)runtime.stop(ids, std::chrono::seconds(2));
  for (const auto& id : ids) captureOf(id).removeInstance(id);
  auto removed = runtime.remove(ids);
  log(fmt::format("removed {}/{} senders in {:.1f} s", removed.ok, o.senders, secondsSince(t3)));
  captures.clear();
  auto destroyed = runtime.destroyAll();
  hosts->reset();
  if (!destroyed) log("cleanup: " + destroyed.error().message);
  return out;
}

}  // namespace kuiga::bench
