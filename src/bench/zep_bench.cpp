#include "bench/zep_bench.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include "bench/bench_failures.hpp"
#include "bench/bench_hosts.hpp"
#include "bench/system_probe.hpp"
#include "plexer/plexer.hpp"
#include "sys/file.hpp"
#include "worker/net/radio_network.hpp"
#include "worker/ns/ns_runtime.hpp"

namespace kuiga::bench {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Waits until every node's log says `needle` (its last frame sent), for at most `seconds`
// from `t0`; how many did. Each pass reads only what the logs gained since the one before: at
// 50,000 nodes, reading each whole log every half second cost more CPU than the dispatcher.
size_t waitUntilLogged(const BenchHosts& hosts, const std::vector<InstanceId>& ids,
                       const std::string& needle, Clock::time_point t0, double seconds) {
  std::vector<uint64_t> scanned(ids.size(), 0);
  std::vector<bool> done(ids.size(), false);
  size_t finished = 0;
  while (finished < ids.size() && secondsSince(t0) < seconds) {
    for (size_t k = 0; k < ids.size(); ++k) {
      if (done[k]) continue;
      const std::string text = sys::readFile(hosts.logPath(ids[k]), scanned[k]).value_or("");
      if (text.find(needle) != std::string::npos) {
        done[k] = true;
        ++finished;
      } else if (text.size() >= needle.size()) {
        scanned[k] += text.size() - (needle.size() - 1);  // a needle cut in two is found next
      }
    }
    if (finished < ids.size()) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return finished;
}

}  // namespace

Result<nlohmann::json> runZepBench(const ZepBenchOptions& o, const BenchLog& log) {
  if (o.nodes < 2 || o.nodes > kMaxInstancesPerRun)
    return failMsg(fmt::format("--nodes must be 2 to {}", kMaxInstancesPerRun));
  if (!(o.rate > 0 && o.rate <= 1000)) return failMsg("--rate must be above 0 and at most 1000");
  if (!(o.durationS > 0 && o.durationS <= 3600)) return failMsg("--duration must be 0 to 3600 s");
  if (!(o.radius > 0 && o.radius <= 2)) return failMsg("--radius must be above 0 and at most 2");
  if (o.payloadBytes < 2 || o.payloadBytes > 100) return failMsg("--payload must be 2 to 100");
  if (o.channelQueue < 1 || o.channelQueue > 65536)
    return failMsg("--channel-queue must be 1 to 65536");
  if (o.isolation == "group" && o.workers > 1)
    return failMsg("--isolation group runs on one worker: the hosts would split its groups");
  if (::access(o.app.c_str(), X_OK) < 0) return failSys("zep-node '" + o.app + "'");

  const std::string name = o.name.empty() ? fmt::format("zbench{}", ::getpid()) : o.name;
  auto dirs = prepareBenchDirs(o.app, o.stateDir, name);
  if (!dirs) return fail(dirs.error());
  std::atomic<size_t> running{0};
  worker::ns::NsRuntimeConfig cfg;
  cfg.name = name;
  cfg.stateDir = dirs->stateDir;
  cfg.initPath = o.initPath;
  cfg.threads = o.threads;
  cfg.capacity = o.nodes;  // the node limits (pid_max, threads-max, inotify) it raises
  auto hosts = BenchHosts::open(o.workers, cfg, [&](const std::vector<worker::InstanceEvent>& evs) {
    for (const auto& e : evs) running += e.state == InstanceState::Running;
  });
  if (!hosts) return fail(hosts.error());
  auto& runtime = **hosts;
  // The run's one dispatcher, on worker 0; the other workers' nodes reach it through the run's
  // tunnel.
  auto zep = plexer::ZepDispatcher::start(runtime.runtime(0).radioNetnsFd(),
                                          dirs->stateDir + "/zep", plexer::zep::kPort);
  if (!zep) return fail(zep.error());
  const RunId run = 1;
  ZepSpec spec;
  spec.kind = ZepSpec::Kind::Random;
  spec.radius = o.radius;
  spec.seed = 1;
  spec.channelQueue = o.channelQueue;
  spec.acks = o.acks == "devices" ? ZepSpec::Acks::Devices : ZepSpec::Acks::Dispatcher;
  auto topology = plexer::topologyOf(spec, run, o.nodes, 1);
  if (!topology) return fail(topology.error());
  if (auto r = runtime.runtime(0).radioNetwork().openRun(run); !r) return fail(r.error());
  if (auto r = runtime.join(run, o.nodes); !r) return fail(r.error());
  const uint32_t groupSize = o.isolation == "group" ? o.groupSize : 0;
  if (auto r = (*zep)->addRun(run, spec, o.nodes, 1, groupSize); !r) return fail(r.error());

  const auto each = static_cast<uint64_t>(std::llround(o.rate * o.durationS));
  const auto intervalMs = static_cast<uint64_t>(std::llround(1000 / o.rate));
  std::vector<worker::InstanceSpec> specs(o.nodes);
  std::vector<InstanceId> ids(o.nodes);
  for (uint32_t i = 0; i < o.nodes; ++i) {
    ids[i] = {run, i};
    auto& s = specs[i];
    s.id = ids[i];
    s.appDir = dirs->appDir;
    s.executable = dirs->executable;
    // {zep}: in a group, each node binds its own port, by which the dispatcher knows it.
    TemplateContext ctx{.id = ids[i], .count = o.nodes, .groupSize = groupSize};
    s.args = {"-z", expandTemplate("{zep}", ctx).value(), "--eui64", eui64String(eui64(ids[i])),
              "--send", std::to_string(each), "--interval", std::to_string(intervalMs), "--bytes",
              std::to_string(o.payloadBytes),
              // Staggered (node i's first frame i * 7 ms after its start, modulo the interval):
              // the nodes do not all send in the same instant of every period.
              "--index", std::to_string(i)};
    if (o.hello) s.args.push_back("--hello");
    if (o.unicast)
      if (auto links = topology->linksFrom(i); !links.empty())
        s.args.insert(s.args.end(), {"--to", eui64String(eui64({run, links.front().to}))});
    s.net = NetMode::Veth;
    if (groupSize > 0) {
      s.isolation = Isolation::Group;
      s.groupSize = groupSize;
    }
  }
  nlohmann::json out = {
      {"workers", o.workers},      {"nodes", o.nodes},    {"rate", o.rate},
      {"duration_s", o.durationS}, {"radius", o.radius},  {"channel_queue", o.channelQueue},
      {"unicast", o.unicast},      {"acks", o.acks},      {"isolation", o.isolation},
      {"group_size", groupSize},   {"frames_each", each}, {"offered_fps", o.nodes * o.rate}};
  addMachine(out);

  auto t0 = Clock::now();
  auto created = runtime.create(specs);
  log(fmt::format("created {}/{} nodes in {:.1f} s", created.ok, o.nodes, secondsSince(t0)));
  const double cpu0 = threadCpuSeconds((*zep)->threadId());
  auto t1 = Clock::now();
  auto started = runtime.start(ids);
  while (running.load() < started.ok && secondsSince(t1) < 600)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  log(fmt::format("started {}/{} nodes in {:.1f} s", started.ok, o.nodes, secondsSince(t1)));
  // Every node says "done N" after its last frame; then the last copies leave the air.
  const size_t finished =
      waitUntilLogged(runtime, ids, fmt::format(" done {}\n", each), t1, o.durationS * 3 + 60);
  uint64_t said = 0, heard = 0, gaveUp = 0;
  const double window = secondsSince(t1);
  // Frames still waiting for the air go out before the counts are read.
  for (int i = 0; i < 600 && (*zep)->pending() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double cpu = threadCpuSeconds((*zep)->threadId()) - cpu0;
  for (const auto& id : ids) {
    auto text = sys::readFile(runtime.logPath(id));
    if (!text) continue;
    for (const char* sent : {" tx ", " retx "})  // a retry is a frame on the air too
      for (size_t at = 0; (at = text->find(sent, at)) != std::string::npos; ++at) ++said;
    for (size_t at = 0; (at = text->find(" rx ", at)) != std::string::npos; ++at) ++heard;
    for (size_t at = 0; (at = text->find(" noack ", at)) != std::string::npos; ++at) ++gaveUp;
  }
  auto report = (*zep)->report(run);
  if (!report) return failMsg("the ZEP run is gone");
  uint64_t onAir = 0, channel = 0, received = 0, lost = 0, unreachable = 0, sendErrors = 0,
           malformed = 0, acks = 0, retransmissions = 0, crossHost = 0, learnt = 0, delivering = 0;
  for (const auto& d : *report) {
    learnt += d.learnt;  // the dispatcher knows its address (and port): it can be reached
    delivering += d.counters.sent > 0;  // a frame of its own went on the air
    // Copies for a node on another worker than the dispatcher's cross the underlay.
    if (runtime.hostOf(d.index) != 0) crossHost += d.counters.received;
    acks += d.counters.acks;
    retransmissions += d.counters.retransmissions;
    onAir += d.counters.sent;
    channel += d.counters.droppedChannel;
    received += d.counters.received;
    lost += d.counters.lostOnLinks;
    unreachable += d.unreachable;
    sendErrors += d.sendErrors;
    malformed += d.malformed;
  }
  const uint64_t taken = onAir + channel;
  out["nodes_finished"] = finished;
  out["nodes_learnt"] = learnt;
  out["nodes_on_air"] = delivering;
  out["nodes_said_sent"] = said;
  out["dispatcher_took"] = taken;
  out["missed"] = said > taken ? said - taken : 0;  // lost before the dispatcher read them
  out["on_air"] = onAir;
  out["dropped_channel"] = channel;
  out["copies_delivered"] = received;
  out["deliveries_per_s"] = static_cast<double>(received) / window;
  out["cross_host_copies"] = crossHost;
  out["cross_host_share"] = received ? static_cast<double>(crossHost) / received : 0.0;
  out["copies_lost_on_links"] = lost;
  out["copies_unreachable"] = unreachable;
  out["copies_send_errors"] = sendErrors;
  out["nodes_logged_rx"] = heard;
  out["acked"] = acks;
  out["retransmissions"] = retransmissions;
  out["nodes_gave_up"] = gaveUp;  // frames unacked after every retry, as the nodes logged them
  out["links"] = topology->linkCount();
  out["malformed"] = malformed;
  out["unplaceable"] = (*zep)->unplaceable();
  out["window_s"] = window;
  out["channel_load"] = static_cast<double>(onAir) *
                        static_cast<double>(plexer::zep::airtimeNs(15 + o.payloadBytes + 2)) / 1e9 /
                        window;
  out["dispatcher_cpu_pct"] = 100.0 * cpu / window;
  FailureTally failures;
  failures.add(created, "create");
  failures.add(started, "start");
  failures.addNotRunning(runtime.list(), ids);
  failures.write(out, log);
  log(fmt::format(
      "nodes said {} sent; dispatcher took {} ({} on the air, {} channel drops), "
      "delivered {} copies ({} logged by the nodes), dispatcher {:.1f}% of a CPU",
      said, taken, onAir, channel, received, heard, out["dispatcher_cpu_pct"].get<double>()));

  (void)runtime.stop(ids, std::chrono::seconds(2));
  auto removed = runtime.remove(ids);
  zep->reset();
  auto destroyed = runtime.destroyAll();
  hosts->reset();
  if (!destroyed) log("cleanup: " + destroyed.error().message);
  return out;
}

}  // namespace kuiga::bench
