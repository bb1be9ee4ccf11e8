#include "apps/kuiga/commands.hpp"

#include <malloc.h>

#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "spec/identity.hpp"
#include "sys/file.hpp"
#include "worker/ns/ns_runtime.hpp"

namespace kuiga::app {

namespace fs = std::filesystem;

static fs::path exeDir() {
  return fs::read_symlink("/proc/self/exe").parent_path();
}

std::string defaultInitPath() {
  return exeDir() / "kuiga-init";
}

std::string defaultGatePath() {
  return exeDir() / "kuiga-gate";
}

std::string defaultExample(const std::string& name) {
  for (const auto& p : {exeDir() / "examples" / name, exeDir() / ".." / "lib" / "kuiga" / name})
    if (fs::exists(p)) return fs::canonical(p);
  return "";
}

// glibc gives each thread that allocates an arena of its own, up to eight per core, and keeps
// what they free: the master's bulk operations run on many threads, and its memory grew with
// each 20,000-device run deleted (75 -> 148 MiB over eight runs) where two arenas hold it flat
// (61 -> 75 MiB), measured with `kuiga bench master --runs 8`.
void limitAllocatorArenas() {
  if (!std::getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, 2);
}

int runDemo(bench::InstancesBenchOptions opts) {
  std::cout << fmt::format(
      "Kuiga Box demo: {} devices running the periodic AUT (period {} ms) for {} s on the ns "
      "runtime, network {}\n",
      opts.count, opts.periodMs, opts.durationS, toString(opts.net));
  auto r = bench::runInstancesBench(
      opts, [](const std::string& line) { std::cout << "  " << line << std::endl; });
  if (!r) {
    std::cerr << "kuiga demo: " << r.error().message << "\n";
    return 1;
  }
  const auto& j = *r;
  std::cout << fmt::format(
      "Summary: all running after {} s; deadline jitter p50 {:.3f} ms, p99 {:.3f} ms, max {:.3f} "
      "ms over {} wakeups; leaked: {}\n",
      j["all_running_s"].is_null() ? std::string("-")
                                   : fmt::format("{:.2f}", j["all_running_s"].get<double>()),
      j["jitter_ms"]["p50"].get<double>(), j["jitter_ms"]["p99"].get<double>(),
      j["jitter_ms"]["max"].get<double>(), j["jitter_ms"]["samples"].get<size_t>(),
      j["leaked"].dump());
  bool clean = j["failed"].get<size_t>() == 0 && j["jitter_ms"]["samples"].get<size_t>() > 0;
  for (auto& [k, v] : j["leaked"].items()) clean &= v.get<size_t>() == 0;
  return clean ? 0 : 1;
}

// Prints a benchmark's figures as JSON (indented without --json), or why it could not run.
// Exits 1 when it could not run or lost anything, whatever its figures (the first reasons are
// in its progress lines): an instance that failed to create, start, run, stop or go, a check
// that failed, and anything left behind.
static int printBenchResult(const char* name, const Result<nlohmann::json>& r, bool json) {
  if (!r) {
    std::cerr << "kuiga bench " << name << ": " << r.error().message << "\n";
    return 1;
  }
  std::cout << r->dump(json ? -1 : 2) << std::endl;
  bool clean = r->value("failed", size_t{0}) == 0;
  if (auto leaked = r->find("leaked"); leaked != r->end())
    for (auto& [k, v] : leaked->items()) clean &= v.get<size_t>() == 0;
  return clean ? 0 : 1;
}

int runBench(const bench::InstancesBenchOptions& opts, bool json) {
  auto r = bench::runInstancesBench(opts, [json](const std::string& line) {
    (json ? std::cerr : std::cout) << line << std::endl;
  });
  return printBenchResult("instances", r, json);
}

// Runs a benchmark with its default AUT: progress to stdout (stderr with --json), then the
// figures as JSON; exits 1 when it could not run or an instance failed.
template <class Options, class Bench>
static int runBenchCommand(const char* name, const char* example, Options opts, bool json,
                           Bench bench) {
  opts.initPath = defaultInitPath();
  if (opts.app.empty()) opts.app = defaultExample(example);
  auto r = bench(opts, [json](const std::string& line) {
    (json ? std::cerr : std::cout) << line << std::endl;
  });
  return printBenchResult(name, r, json);
}

int runApiBench(bench::ApiBenchOptions opts, bool json) {
  return runBenchCommand("api", "periodic", std::move(opts), json, bench::runApiBench);
}

int runMasterBench(bench::MasterBenchOptions opts, bool json) {
  return runBenchCommand("master", "periodic", std::move(opts), json, bench::runMasterBench);
}

int runPlexerBench(bench::PlexerBenchOptions opts, bool json) {
  return runBenchCommand("plexer", "udp-sensor", std::move(opts), json, bench::runPlexerBench);
}

int runZepBench(bench::ZepBenchOptions opts, bool json) {
  return runBenchCommand("zep", "zep-node", std::move(opts), json, bench::runZepBench);
}

int runSeccompBench(const bench::SeccompBenchOptions& opts, bool json) {
  return printBenchResult("seccomp", bench::runSeccompBench(opts), json);
}

int runWakeupBench(bench::WakeupBenchOptions opts, bool json) {
  if (opts.app.empty()) opts.app = defaultExample("periodic");
  auto r = bench::runWakeupBench(opts, [json](const std::string& line) {
    (json ? std::cerr : std::cout) << line << std::endl;
  });
  return printBenchResult("wakeups", r, json);
}

static worker::EventSink printEvents() {
  return [](const std::vector<worker::InstanceEvent>& evs) {
    for (const auto& e : evs)
      spdlog::info("{} {}{}", displayName(e.id), toString(e.state),
                   e.reason.empty() ? "" : ": " + e.reason);
  };
}

int runWorker(const WorkerRunOptions& o) {
  auto net = parseNetMode(o.net);
  if (!net) return std::cerr << "kuiga worker run: " << net.error().message << "\n", 2;
  if (o.count == 0 || o.count > kMaxInstancesPerRun)
    return std::cerr << "kuiga worker run: --count must be 1 to " << kMaxInstancesPerRun << "\n", 2;
  fs::path app = fs::absolute(o.app);
  if (!fs::is_regular_file(app))
    return std::cerr << "kuiga worker run: no such AUT '" << o.app << "'\n", 2;
  // Block stop signals before any thread starts, so that sigwait() below gets them.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGINT);
  sigaddset(&stopSignals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

  std::vector<worker::InstanceSpec> specs;
  std::vector<InstanceId> ids;
  const int64_t startMs = worker::realtimeNs() / 1000000 + o.startInMs;
  for (uint32_t i = 0; i < o.count; ++i) {
    worker::InstanceSpec s;
    s.id = {o.run, i};
    s.appDir = app.parent_path();
    s.executable = app.filename();
    s.net = *net;
    s.isolation = parseIsolation(o.isolation).value();
    s.groupSize = o.groupSize;
    for (const auto& a : o.args) {
      const uint32_t groupSize = s.isolation == Isolation::Group ? s.groupSize : 0;
      auto x = expandTemplate(a, {s.id, o.count, "tap0", startMs, 0, 0, groupSize});
      if (!x) return std::cerr << "kuiga worker run: " << x.error().message << "\n", 2;
      s.args.push_back(*x);
    }
    specs.push_back(std::move(s));
    ids.push_back({o.run, i});
  }
  // Bad input is refused above, before anything is made on the machine.
  worker::ns::NsRuntimeConfig cfg;
  cfg.name = o.name;
  cfg.stateDir = fs::absolute(o.stateDir);
  cfg.initPath = defaultInitPath();
  auto rt = worker::ns::NsRuntime::open(cfg, printEvents());
  if (!rt) return std::cerr << "kuiga worker run: " << rt.error().message << "\n", 1;
  auto created = (*rt)->create(specs);
  auto started = (*rt)->start(ids);
  std::cout << fmt::format("running {} of {} instances; state in {}\n", started.ok, o.count,
                           cfg.stateDir)
            << std::flush;
  int sig = 0;
  sigwait(&stopSignals, &sig);
  spdlog::info("stopping on signal {}", sig);
  (void)(*rt)->stop(ids, std::chrono::seconds(5));
  auto r = (*rt)->destroyAll();
  if (!r) return std::cerr << "kuiga worker run: " << r.error().message << "\n", 1;
  return created.allOk() && started.allOk() ? 0 : 1;
}

int recoverWorker(const std::string& stateDir, const std::string& name, bool destroy) {
  worker::ns::NsRuntimeConfig cfg;
  cfg.name = name;
  cfg.stateDir = fs::absolute(stateDir);
  cfg.initPath = defaultInitPath();
  auto rt = worker::ns::NsRuntime::open(cfg, printEvents());
  if (!rt) return std::cerr << "kuiga worker recover: " << rt.error().message << "\n", 1;
  auto rep = (*rt)->recover();
  if (!rep) return std::cerr << "kuiga worker recover: " << rep.error().message << "\n", 1;
  std::cout << fmt::format("adopted {} instances, reaped {}\n", rep->adopted, rep->reaped);
  for (const auto& n : rep->notes) std::cout << "  " << n << "\n";
  if (destroy) {
    auto r = (*rt)->destroyAll();
    if (!r) return std::cerr << "kuiga worker recover: " << r.error().message << "\n", 1;
    std::cout << "removed every instance and the worker's namespaces, mounts and cgroups\n";
  }
  return 0;
}

}  // namespace kuiga::app
