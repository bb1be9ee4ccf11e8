#include "bench/instances_bench.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "bench/bench_failures.hpp"
#include "bench/floor.hpp"
#include "bench/system_probe.hpp"
#include "common/jitter.hpp"
#include "sys/file.hpp"
#include "sys/mount.hpp"
#include "worker/docker/docker_runtime.hpp"
#include "worker/ns/ns_runtime.hpp"

namespace kuiga::bench {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int64_t nowMs() {
  return worker::realtimeNs() / 1000000;
}

std::string stateSummary(const worker::Runtime& rt) {
  size_t counts[kInstanceStateCount] = {};
  for (const auto& s : rt.list()) ++counts[static_cast<size_t>(s.state)];
  std::string out;
  for (size_t i = 0; i < kInstanceStateCount; ++i)
    if (counts[i])
      out += fmt::format("{}{} {}", out.empty() ? "" : ", ", counts[i],
                         toString(static_cast<InstanceState>(i)));
  return out.empty() ? "no instances" : out;
}

std::string firstError(const worker::BulkResult& r) {
  if (r.failed.empty()) return "";
  return fmt::format(" ({} failed, first {}: {})", r.failed.size(), displayName(r.failed[0].first),
                     r.failed[0].second.message);
}

}  // namespace

BenchDirs::BenchDirs(BenchDirs&& o) noexcept
    : stateDir(std::move(o.stateDir)),
      appDir(std::move(o.appDir)),
      executable(std::move(o.executable)),
      temporary(std::exchange(o.temporary, false)) {}

BenchDirs::~BenchDirs() {
  if (temporary && !stateDir.empty()) (void)sys::removeTree(stateDir);
}

Result<BenchDirs> prepareBenchDirs(const std::string& app, const std::string& stateDir,
                                   const std::string& name) {
  BenchDirs d;
  d.temporary = stateDir.empty();
  d.stateDir = d.temporary ? fmt::format("/tmp/kuiga-{}", name) : stateDir;
  d.appDir = d.stateDir + "/app";
  KUIGA_TRY(sys::makeDirs(d.appDir, 0755), "bench");
  d.executable = fs::path(app).filename();
  const std::string to = d.appDir + "/" + d.executable;
  std::error_code ec;
  fs::copy_file(app, to, fs::copy_options::overwrite_existing, ec);
  if (ec) return failMsg("copy AUT: " + ec.message());
  ::chmod(to.c_str(), 0755);
  return d;
}

namespace {

void addFloor(nlohmann::json& out, const Floor& floor, double overhead, double autKernelSide,
              const BenchLog& log) {
  const double floorKib =
      floor.initNamespacesKib + floor.vethKib + floor.autProcessKib + autKernelSide;
  out["floor"] = {{"init_namespaces_kib", floor.initNamespacesKib},
                  {"veth_kib", floor.vethKib},
                  {"aut_process_kib", floor.autProcessKib},
                  {"aut_kernel_kib", autKernelSide},
                  {"copies", floor.copies}};
  out["floor_kib"] = floorKib;
  out["above_floor_kib"] = overhead - floorKib;
  log(
      fmt::format("memory: {:.0f} KiB per instance beyond the AUT's own, of which the kernel's "
                  "floor is {:.0f} (init and namespaces {:.0f}, veth {:.0f}, the AUT's process "
                  "{:.0f}, its page tables and stacks {:.0f}): {:.0f} above it",
                  overhead, floorKib, floor.initNamespacesKib, floor.vethKib, floor.autProcessKib,
                  autKernelSide, overhead - floorKib));
}

}  // namespace

Result<nlohmann::json> runInstancesBench(const InstancesBenchOptions& o, const BenchLog& log) {
  if (o.count == 0 || o.count > kMaxInstancesPerRun)
    return failMsg(fmt::format("--count must be 1 to {}", kMaxInstancesPerRun));
  if (o.periodMs == 0) return failMsg("--period must be at least 1 ms");
  if (::access(o.app.c_str(), X_OK) < 0) return failSys("AUT '" + o.app + "'");

  const std::string name = o.name.empty() ? fmt::format("bench{}", ::getpid()) : o.name;
  auto dirs = prepareBenchDirs(o.app, o.stateDir, name);
  if (!dirs) return fail(dirs.error());
  const std::string stateDir = dirs->stateDir, appDir = dirs->appDir, exe = dirs->executable;

  // The kernel's floor first, with copies of its pieces, which are gone again before the
  // baseline. (Measured after the run instead, it waited a minute: the kernel holds some of a
  // run's dead namespaces about 60 s.) As many copies as the run has instances by default (at
  // least 300: fewer drown in the noise): a copy costs the kernel more the more it holds
  // (docs/performance.md, "The floor at the run's scale"), so fewer copies would understate
  // what the run's instances cost the kernel and count the difference as Kuiga's.
  std::optional<Floor> floor;
  // The floor is an isolated instance's (its namespaces, veth and init): a group's device has
  // none of those of its own.
  if (o.runtime == "ns" && o.floor && o.isolation == Isolation::Instance) {
    const auto from = Clock::now();
    // The AUT's copies wait for a start an hour away, with the run's period.
    const AutCommand aut{appDir + "/" + exe,
                         {exe, std::to_string(nowMs() + 3'600'000), std::to_string(o.periodMs)}};
    const size_t copies = o.floorCopies ? o.floorCopies : std::max<size_t>(o.count, 300);
    auto f = measureFloor(o.initPath, copies, o.net != NetMode::None, aut, log);
    if (!f) return fail(f.error());
    floor = *f;
    log(fmt::format("floor measured with {} copies of each piece in {:.1f} s", floor->copies,
                    secondsSince(from)));
  }
  // Namespaces of earlier runs (and the floor's copies) are torn down asynchronously by the
  // kernel, under the rtnl lock that creating instances takes too: wait until it is done, and
  // until memory use holds still, before taking the baseline and the time.
  auto teardown = waitForNamespaceTeardown(std::chrono::seconds(600));
  if (!teardown) return fail(teardown.error());
  if (*teardown >= 1)
    log(fmt::format("waited {:.1f} s for the kernel to tear down earlier network namespaces",
                    *teardown));
  const uint64_t memBefore = settledMemoryKiB(std::chrono::milliseconds(500), 2048);
  const auto infoBefore = memInfo();

  std::atomic<int64_t> lastRunningNs{0};
  std::atomic<size_t> runningEvents{0};
  worker::ns::NsRuntimeConfig cfg;
  cfg.name = name;
  cfg.capacity = o.count;
  cfg.stateDir = stateDir;
  cfg.initPath = o.initPath;
  cfg.threads = o.threads;
  cfg.zygote = o.zygote;
  auto sink = [&](const std::vector<worker::InstanceEvent>& evs) {
    for (const auto& e : evs)
      if (e.state == InstanceState::Running) {
        ++runningEvents;
        int64_t cur = lastRunningNs.load();
        while (e.timeNs > cur && !lastRunningNs.compare_exchange_weak(cur, e.timeNs)) {
        }
      }
  };
  std::unique_ptr<worker::Runtime> owned;
  worker::ns::NsRuntime* ns = nullptr;
  worker::docker::DockerRuntime* docker = nullptr;
  if (o.runtime == "docker") {
    worker::docker::DockerRuntimeConfig dc;
    dc.name = name;
    dc.stateDir = stateDir;
    dc.socket = o.dockerSocket;
    dc.gatePath = o.gatePath;
    if (o.threads) dc.threads = o.threads;
    auto rt = worker::docker::DockerRuntime::open(dc, sink);
    if (!rt) return fail(rt.error());
    docker = rt->get();
    owned = std::move(*rt);
  } else if (o.runtime == "ns") {
    auto rt = worker::ns::NsRuntime::open(cfg, sink);
    if (!rt) return fail(rt.error());
    ns = rt->get();
    owned = std::move(*rt);
  } else {
    return failMsg("unknown runtime '" + o.runtime + "' (ns or docker)");
  }
  auto& runtime = *owned;

  // Every instance must be running before the common start time; allow for the creation rate
  // seen on slow machines (about 100/s for isolated ns instances, 250/s for devices of groups,
  // half of what this machine does) and two seconds of margin. Docker creates containers about
  // a hundred times slower, so there each instance keeps its own start time (START_MS 0: when
  // it is started) rather than making everything wait for the slowest case.
  const int64_t perInstanceMs = o.isolation == Isolation::Group ? 4 : 10;
  const int64_t startMs =
      docker ? 0 : nowMs() + 2000 + static_cast<int64_t>(o.count) * perInstanceMs;
  std::vector<worker::InstanceSpec> specs(o.count);
  std::vector<InstanceId> ids(o.count);
  for (uint32_t i = 0; i < o.count; ++i) {
    ids[i] = {o.run, i};
    auto& s = specs[i];
    s.id = ids[i];
    s.appDir = appDir;
    s.executable = exe;
    int64_t myStart = startMs + static_cast<int64_t>(o.spreadMs) * i / o.count;
    s.args = {std::to_string(myStart), std::to_string(o.periodMs)};
    s.net = o.net;
    s.isolation = o.isolation;
    s.groupSize = o.groupSize;
    s.limits = o.limits;
    s.limits.memoryBytes = o.memoryLimitMiB << 20;
  }

  nlohmann::json out;
  out["count"] = o.count;
  out["runtime"] = o.runtime;
  if (docker)
    out["engine"] = docker->engine().engineName() + " " + docker->engine().engineVersion();
  out["net"] = toString(o.net);
  out["isolation"] = toString(o.isolation);
  if (o.runtime == "ns" && o.isolation == Isolation::Instance) out["zygote"] = o.zygote;
  if (o.isolation == Isolation::Group) out["group_size"] = o.groupSize;
  out["period_ms"] = o.periodMs;
  out["memory_limit_mib"] = o.memoryLimitMiB;
  out["pids_limit"] = o.limits.pids;
  out["spread_ms"] = o.spreadMs;
  if (ns) out["cgroup"] = ns->cgroupLayout().version == sys::cgroup::Version::V2 ? "v2" : "v1";
  addMachine(out);

  BystanderCpu others;
  nlohmann::json othersCpu, workerCpu;  // beside the benchmark, and the worker's own
  double selfCpu = selfCpuSeconds();
  auto workerLap = [&] {
    const double now = selfCpuSeconds();
    return now - std::exchange(selfCpu, now);
  };
  auto t0 = Clock::now();
  const int64_t t0Ns = worker::realtimeNs();
  auto created = runtime.create(specs);
  double createS = secondsSince(t0);
  othersCpu["create"] = others.lap().seconds;
  workerCpu["create"] = workerLap();
  log(fmt::format("created {}/{} in {:.2f} s{}: {}", created.ok, o.count, createS,
                  firstError(created), stateSummary(runtime)));
  auto t1 = Clock::now();
  auto started = runtime.start(ids);
  double startS = secondsSince(t1);
  othersCpu["start"] = others.lap().seconds;
  workerCpu["start"] = workerLap();
  log(fmt::format("started {}/{} in {:.2f} s{}: {}", started.ok, o.count, startS,
                  firstError(started), stateSummary(runtime)));
  out["teardown_wait_s"] = *teardown;
  out["create_per_s"] = created.ok / createS;
  out["start_per_s"] = started.ok / startS;
  out["all_running_s"] = runningEvents.load() == o.count
                             ? nlohmann::json((lastRunningNs.load() - t0Ns) / 1e9)
                             : nlohmann::json(nullptr);
  FailureTally failures;
  failures.add(created, "create");
  failures.add(started, "start");
  if (!docker && nowMs() > startMs)
    log(fmt::format("warning: the common start time passed {} ms before all instances ran",
                    nowMs() - startMs));

  // Run: until the start time, then through the spread, then for the duration.
  const int64_t runFrom = docker ? nowMs() : startMs;
  const int64_t steadyFrom = std::max(nowMs(), runFrom + o.spreadMs) + 500;
  const int64_t endMs = runFrom + o.spreadMs + static_cast<int64_t>(o.durationS * 1000);
  while (nowMs() < steadyFrom) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  (void)others.lap();
  (void)workerLap();
  const uint64_t cpu0 = busyCpuMicros();
  const int64_t cpuFromMs = nowMs();
  uint64_t memRunning = 0, autPss = 0;
  double autKernel = 0;
  size_t autCount = 0;
  bool measuredMem = false;
  // Memory is read once the run's end has passed, the devices still running: reading the
  // PSS of 50,000 processes takes seconds of CPU, which inside the run would delay the very
  // wakeups the jitter counts, and count as theirs in the CPU per wakeup.
  auto measureMemory = [&] {
    measuredMem = true;
    memRunning = memoryInUseKiB();
    const auto infoRunning = memInfo();
    nlohmann::json breakdown;
    for (const char* key : {"SUnreclaim", "SReclaimable", "PageTables", "KernelStack", "Percpu",
                            "AnonPages", "Shmem"})
      breakdown[key] =
          (static_cast<double>(infoRunning.at(key)) - static_cast<double>(infoBefore.at(key))) /
          o.count;
    out["mem_breakdown_kib_per_instance"] = breakdown;
    // The AUTs are the children of the inits: one each for isolated instances, a group's
    // devices for a group's.
    std::set<pid_t> inits;
    for (const auto& st : runtime.list())
      if (st.pid > 0) inits.insert(st.pid);
    for (pid_t init : inits) {
      auto kids = sys::readFile(fmt::format("/proc/{}/task/{}/children", init, init));
      if (!kids) continue;
      std::istringstream in(*kids);
      for (pid_t aut; in >> aut;)
        if (aut > 0) autPss += pssKiB(aut), autKernel += autKernelKib(aut), ++autCount;
    }
    out["aut_kernel_kib"] = autCount ? autKernel / static_cast<double>(autCount) : 0.0;
    log(fmt::format("running: {}", stateSummary(runtime)));
    failures.addNotRunning(runtime.list(), ids);
  };
  while (nowMs() < endMs) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const double cpuWindowMs = static_cast<double>(nowMs() - cpuFromMs);
  const uint64_t cpuUs = busyCpuMicros() - cpu0;
  const auto steadyOthers = others.lap();
  othersCpu["steady"] = steadyOthers.seconds;
  workerCpu["steady"] = workerLap();
  measureMemory();
  const double wakeups = o.count * cpuWindowMs / o.periodMs;
  out["cpu_us_per_wakeup"] = wakeups > 0 ? cpuUs / wakeups : 0.0;
  // Without what processes beside the benchmark used meanwhile (BystanderCpu).
  const double oursUs = std::max(0.0, static_cast<double>(cpuUs) - steadyOthers.seconds * 1e6);
  out["cpu_us_per_wakeup_without_others"] = wakeups > 0 ? oursUs / wakeups : 0.0;
  out["others_cpu_s"] = othersCpu;
  out["worker_cpu_s"] = workerCpu;
  log(
      fmt::format("CPU of the worker (this process): {:.1f} s while creating, {:.1f} s while "
                  "starting, {:.1f} s in the steady window",
                  workerCpu["create"].get<double>(), workerCpu["start"].get<double>(),
                  workerCpu["steady"].get<double>()));
  out["others_cpu_top"] = steadyOthers.top;
  log(fmt::format(
      "CPU of processes beside the benchmark: {:.1f} s while creating, {:.1f} s "
      "while starting, {:.1f} s in the {:.1f} s steady window (most: {})",
      othersCpu["create"].get<double>(), othersCpu["start"].get<double>(), steadyOthers.seconds,
      cpuWindowMs / 1000, steadyOthers.top.empty() ? "none" : steadyOthers.top));
  if (measuredMem && autCount) {
    double perInstance =
        (static_cast<double>(memRunning) - static_cast<double>(memBefore)) / o.count;
    out["aut_pss_kib"] = static_cast<double>(autPss) / autCount;
    const double overhead = perInstance - static_cast<double>(autPss) / autCount;
    out["mem_overhead_kib_per_instance"] = overhead;
    if (floor) addFloor(out, *floor, overhead, autKernel / static_cast<double>(autCount), log);
  }

  auto t2 = Clock::now();
  auto stopped = runtime.stop(ids, std::chrono::seconds(5));
  log(fmt::format("stopped {}/{} in {:.2f} s{}: {}", stopped.ok, o.count, secondsSince(t2),
                  firstError(stopped), stateSummary(runtime)));
  failures.add(stopped, "stop");
  std::vector<double> samples;
  // The wakeups of the run, up to the stop: those after it wait for a CPU the stop is using.
  for (const auto& id : ids)
    (void)jitterFromLog(runtime.logPath(id), o.periodMs, samples, static_cast<double>(endMs));
  auto js = summarize(samples);
  out["jitter_ms"] = {{"p50", js.p50}, {"p95", js.p95},   {"p99", js.p99},
                      {"max", js.max}, {"mean", js.mean}, {"samples", js.samples}};
  log(fmt::format(
      "jitter over {} wakeups: p50 {:.3f} ms, p95 {:.3f} ms, p99 {:.3f} ms, max {:.3f} ms",
      js.samples, js.p50, js.p95, js.p99, js.max));

  auto t3 = Clock::now();
  auto removed = runtime.remove(ids);
  double removeS = secondsSince(t3);
  out["delete_per_s"] = removed.ok / removeS;
  log(fmt::format("deleted {}/{} in {:.2f} s{}", removed.ok, o.count, removeS,
                  firstError(removed)));
  failures.add(removed, "delete");

  // Namespaces are torn down asynchronously by the kernel; give it a moment before counting.
  auto radioLinks = [&] {
    auto l = ns ? ns->radioLinks() : docker->radioLinks();
    return l ? l->size() : 0;
  };
  size_t links = 0;
  for (int i = 0; i < 200 && (links = radioLinks()) > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  size_t cgroups = 0, containers = 0;
  // Every group below the worker's own, instances' and groups' alike, but the one it keeps for
  // the instances without a group of their own (processes left there are counted below).
  if (ns)
    if (auto below = sys::cgroup::listChildren(ns->cgroupLayout(), "kuiga/" + name))
      cgroups = std::count_if(below->begin(), below->end(), [](const std::string& g) {
        return g != worker::ns::NsRuntime::kSharedCgroup;
      });
  if (docker) {
    nlohmann::json filters = {{"label", {"kuiga.worker=" + name}}};
    auto left = docker->engine().call(
        "GET", "/containers/json?all=1&filters=" + worker::docker::queryEscape(filters.dump()));
    containers = left && left->status == 200 ? left->json().size() : 0;
  }
  // Only this worker's: its inits name its run directory; the namespaces are those they hold,
  // and its radio network's pin once the worker is gone.
  const std::string runDir = ns ? "/run/kuiga/" + name + "/" : "";
  ProcessCount left = ns ? processesNaming(runDir) : ProcessCount{};
  auto destroyed = ns ? ns->destroyAll() : docker->destroyAll();
  owned.reset();
  size_t netns = left.netns;
  for (int i = 0; i < 100 && netns > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    netns = ns ? processesNaming(runDir).netns : 0;
  }
  if (sys::isMountPoint(stateDir + "/radio.netns")) ++netns;
  size_t procs = left.processes;
  failures.write(out, log);
  out["leaked"] = {{"netns", netns}, {"links", links}, {"cgroups", cgroups}, {"processes", procs}};
  if (docker) out["leaked"]["containers"] = containers;
  if (!destroyed) log("cleanup: " + destroyed.error().message);
  return out;
}

}  // namespace kuiga::bench
