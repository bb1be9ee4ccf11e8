#include "bench/wakeup_bench.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>
#include <vector>

#include "bench/system_probe.hpp"
#include "common/jitter.hpp"
#include "spec/identity.hpp"
#include "sys/file.hpp"
#include "sys/process.hpp"
#include "worker/instance.hpp"

namespace kuiga::bench {

using Clock = std::chrono::steady_clock;

namespace {

int64_t nowMs() {
  return worker::realtimeNs() / 1000000;
}

void sleepUntilMs(int64_t ms) {
  while (nowMs() < ms) std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

struct Copies {
  std::vector<sys::Child> children;  // destroying one kills and reaps it
  std::vector<std::string> logs;     // the output of children[i]
  std::vector<uint32_t> indexes;     // children[i] is copy indexes[i]
  std::vector<std::string> failures;
};

// Starts copy `i` of the AUT, its output to `log`.
Result<sys::Child> spawnCopy(const WakeupBenchOptions& o, const std::string& aut,
                             const std::string& log, int64_t startMs, uint32_t i) {
  auto out = sys::openFile(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (!out) return fail(out.error());
  const int64_t myStart = startMs + static_cast<int64_t>(o.spreadMs) * i / o.count;
  sys::SpawnOptions so;
  so.path = aut;
  so.argv = {std::filesystem::path(aut).filename(), std::to_string(myStart),
             std::to_string(o.periodMs)};
  so.namespaces = o.netns ? CLONE_NEWNET : 0;
  so.fds = {{out->get(), STDOUT_FILENO}};
  so.newSession = true;            // an autogroup each, as each isolated instance has
  so.parentDeathSignal = SIGKILL;  // none outlives a benchmark that was killed
  return sys::spawn(so);
}

Copies spawnCopies(const WakeupBenchOptions& o, const BenchDirs& dirs, int64_t startMs) {
  const std::string aut = dirs.appDir + "/" + dirs.executable;
  Copies c;
  c.children.reserve(o.count);
  c.logs.reserve(o.count);
  for (uint32_t i = 0; i < o.count; ++i) {
    std::string log = fmt::format("{}/{}.log", dirs.stateDir, i);
    auto child = spawnCopy(o, aut, log, startMs, i);
    if (!child) {
      c.failures.push_back(fmt::format("copy {}: spawn: {}", i, child.error().message));
      continue;
    }
    c.children.push_back(std::move(*child));
    c.logs.push_back(std::move(log));
    c.indexes.push_back(i);
  }
  return c;
}

// Copies that ended before the end of the window (none should: the AUT runs until killed).
void addEnded(Copies& c) {
  for (size_t i = 0; i < c.children.size(); ++i) {
    auto ended = c.children[i].tryWait();
    if (!ended)
      c.failures.push_back(fmt::format("copy {}: wait: {}", c.indexes[i], ended.error().message));
    else if (*ended)
      c.failures.push_back(
          fmt::format("copy {}: ended ({}) before the end of the window: an AUT "
                      "of this benchmark runs until it is killed",
                      c.indexes[i], (*ended)->describe()));
  }
}

struct Window {
  double ms = 0;
  uint64_t cpuUs = 0;  // busy CPU time of the whole machine
  BystanderCpu::Lap others;
};

// As the instances benchmark does: the CPU of a window from half a second after the last start
// (`spreadEndMs`) to `endMs`.
Window measureWindow(int64_t spreadEndMs, int64_t endMs, BystanderCpu& others) {
  sleepUntilMs(std::max(nowMs(), spreadEndMs) + 500);
  (void)others.lap();
  const uint64_t cpu0 = busyCpuMicros();
  const int64_t fromMs = nowMs();
  sleepUntilMs(endMs);
  Window w;
  w.ms = static_cast<double>(nowMs() - fromMs);
  w.cpuUs = busyCpuMicros() - cpu0;
  w.others = others.lap();
  return w;
}

// The jitter of every copy's wakeups up to `endMs`.
void addJitter(Copies& c, uint32_t periodMs, int64_t endMs, nlohmann::json& out,
               const BenchLog& log) {
  std::vector<double> samples;
  for (const auto& path : c.logs)
    if (auto r = jitterFromLog(path, periodMs, samples, static_cast<double>(endMs)); !r)
      c.failures.push_back(fmt::format("{}: {}", path, r.error().message));
  const auto js = summarize(samples);
  out["jitter_ms"] = {{"p50", js.p50}, {"p95", js.p95},   {"p99", js.p99},
                      {"max", js.max}, {"mean", js.mean}, {"samples", js.samples}};
  log(fmt::format(
      "jitter over {} wakeups: p50 {:.3f} ms, p95 {:.3f} ms, p99 {:.3f} ms, max {:.3f} ms",
      js.samples, js.p50, js.p95, js.p99, js.max));
}

// The network namespaces the copies are in: as many as copies with `netns`, else one.
size_t distinctNetns(const Copies& c) {
  std::set<ino_t> seen;
  for (const auto& child : c.children) {
    struct stat st {};
    if (::stat(fmt::format("/proc/{}/ns/net", child.pid()).c_str(), &st) == 0)
      seen.insert(st.st_ino);
  }
  return seen.size();
}

void writeFailures(const Copies& c, nlohmann::json& out, const BenchLog& log) {
  out["failed"] = c.failures.size();
  auto& first = out["first_failures"] = nlohmann::json::array();
  for (size_t i = 0; i < c.failures.size() && i < 5; ++i) first.push_back(c.failures[i]);
  if (c.failures.empty()) return;
  log(fmt::format("{} cop(ies) failed; the first:", c.failures.size()));
  for (const auto& line : first) log("  " + line.get<std::string>());
}

// Room for the copies: a pidfd each (raising the soft limit of open files as far as the hard
// one goes, and no further) and a process each under kernel.pid_max; else a clear error before
// any copy is made, not thousands of failed spawns.
VoidResult checkRoom(uint32_t count) {
  const rlim_t fds = rlim_t{count} + 64;  // and the benchmark's own
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) < 0) return failSys("getrlimit");
  if (rl.rlim_cur < fds) {
    const rlimit raised{std::min(fds, rl.rlim_max), rl.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur < fds)
    return failMsg(fmt::format(
        "--count {} needs {} open files (a pidfd for each copy), and RLIMIT_NOFILE allows {}",
        count, fds, rl.rlim_cur));
  auto pidMax = sys::readFile("/proc/sys/kernel/pid_max");
  if (pidMax && std::strtoul(pidMax->c_str(), nullptr, 10) < count + 1000ul)
    return failMsg(fmt::format("--count {} needs more processes than kernel.pid_max ({}) allows",
                               count, std::strtoul(pidMax->c_str(), nullptr, 10)));
  return {};
}

}  // namespace

Result<nlohmann::json> runWakeupBench(const WakeupBenchOptions& o, const BenchLog& log) {
  if (o.count == 0 || o.count > kMaxInstancesPerRun)
    return failMsg(fmt::format("--count must be 1 to {}", kMaxInstancesPerRun));
  if (o.periodMs == 0) return failMsg("--period must be at least 1 ms");
  if (o.durationS <= 0) return failMsg("--duration must be more than 0 s");
  if (::access(o.app.c_str(), X_OK) < 0) return failSys("AUT '" + o.app + "'");
  if (auto room = checkRoom(o.count); !room) return fail(room.error());
  // /tmp/kuiga-wakeupsPID, gone on every way out, with its own copy of the AUT that every copy
  // runs, as every instance of a run runs its image's.
  auto dirs = prepareBenchDirs(o.app, "", fmt::format("wakeups{}", ::getpid()));
  if (!dirs) return fail(dirs.error());
  // As the instances benchmark does: not while the kernel tears down an earlier run's
  // namespaces, under the rtnl lock that making new ones takes too.
  auto teardown = waitForNamespaceTeardown(std::chrono::seconds(600));
  if (!teardown) return fail(teardown.error());

  nlohmann::json out;
  out["count"] = o.count;
  out["netns"] = o.netns;
  out["period_ms"] = o.periodMs;
  out["spread_ms"] = o.spreadMs;
  addMachine(out);
  // Every copy must be waiting before the common start; a copy in a network namespace of its
  // own takes about as long to make as an isolated instance (10 ms on slow machines).
  const int64_t perCopyMs = o.netns ? 10 : 3;
  const int64_t startMs = nowMs() + 2000 + static_cast<int64_t>(o.count) * perCopyMs;
  const int64_t endMs = startMs + o.spreadMs + static_cast<int64_t>(o.durationS * 1000);
  BystanderCpu others;  // the copies started after it: not counted as others
  const auto t0 = Clock::now();
  Copies copies = spawnCopies(o, *dirs, startMs);
  const double spawnS = std::chrono::duration<double>(Clock::now() - t0).count();
  nlohmann::json othersCpu;
  othersCpu["spawn"] = others.lap().seconds;
  out["spawn_s"] = spawnS;
  out["spawn_per_s"] = static_cast<double>(copies.children.size()) / spawnS;
  log(fmt::format("spawned {}/{} copies in {:.2f} s", copies.children.size(), o.count, spawnS));
  if (nowMs() > startMs)
    log(fmt::format("warning: the common start time passed {} ms before all copies waited",
                    nowMs() - startMs));

  const Window w = measureWindow(startMs + o.spreadMs, endMs, others);
  othersCpu["steady"] = w.others.seconds;
  addEnded(copies);
  out["copies_netns"] = distinctNetns(copies);
  copies.children.clear();  // SIGKILL and reap

  const double wakeups = static_cast<double>(o.count) * w.ms / o.periodMs;
  const double oursUs = std::max(0.0, static_cast<double>(w.cpuUs) - w.others.seconds * 1e6);
  out["cpu_us_per_wakeup"] = wakeups > 0 ? static_cast<double>(w.cpuUs) / wakeups : 0.0;
  out["cpu_us_per_wakeup_without_others"] = wakeups > 0 ? oursUs / wakeups : 0.0;
  out["others_cpu_s"] = othersCpu;
  out["others_cpu_top"] = w.others.top;
  log(
      fmt::format("CPU in the {:.1f} s steady window: {:.0f} µs per wakeup, of which processes "
                  "beside the benchmark {:.1f} s (most: {})",
                  w.ms / 1000, out["cpu_us_per_wakeup"].get<double>(), w.others.seconds,
                  w.others.top.empty() ? "none" : w.others.top));
  addJitter(copies, o.periodMs, endMs, out, log);
  writeFailures(copies, out, log);
  if (o.netns) {
    // Their namespaces go after them, asynchronously: gone before the next benchmark.
    auto waited = waitForNamespaceTeardown(std::chrono::seconds(600));
    if (!waited) return fail(waited.error());
    out["teardown_s"] = *waited;
  }
  return out;
}

}  // namespace kuiga::bench
