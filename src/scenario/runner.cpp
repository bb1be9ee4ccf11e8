// Running a scenario against a master through its REST API: create (uploading the AUT), start,
// follow the timeline, measure, evaluate, stop and delete. Times in the timeline and in the
// assertions are from the moment the test started the run, on this machine's clock (a log
// line's time is its worker's: keep the clocks in sync, as NTP does).
#include <time.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "scenario/scenario.hpp"
#include "scenario/station_server.hpp"

namespace kuiga::scenario {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

int64_t realtimeNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-11-27T22:33:17.123456Z" -> ns since the epoch; -1 if it is not one.
int64_t parseTime(const std::string& s) {
  struct tm tm {};
  int micro = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &micro) != 7)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1'000'000'000 + int64_t{micro} * 1000;
}

// The merged log, "<time> run-R/dev-N <line>" a line, into each device's lines, as it comes:
// the log of a large run is never held whole. (Our own format, split by hand.)
class LogReader {
 public:
  LogReader(int64_t startNs, Measured& m) : startNs_(startNs), m_(m) {}
  void feed(std::string_view data) {
    partial_.append(data);
    size_t from = 0;
    for (size_t nl; (nl = partial_.find('\n', from)) != std::string::npos; from = nl + 1)
      line(std::string_view(partial_).substr(from, nl - from));
    partial_.erase(0, from);
  }
  void end() {
    if (!partial_.empty()) line(partial_);
    partial_.clear();
  }

 private:
  void line(std::string_view l) {
    auto sp = l.find(' ');
    if (sp == std::string_view::npos) return;
    int64_t at = parseTime(std::string(l.substr(0, sp)));
    auto name = l.substr(sp + 1);
    auto dev = name.find("/dev-");
    if (at < 0 || !name.starts_with("run-") || dev == std::string_view::npos) return;
    uint32_t index = 0;
    size_t k = dev + 5;
    for (; k < name.size() && name[k] >= '0' && name[k] <= '9'; ++k)
      index = index * 10 + static_cast<uint32_t>(name[k] - '0');
    if (k == dev + 5) return;
    if (k < name.size() && name[k] == ' ') ++k;
    m_.logs[index].push_back(
        {static_cast<double>(at - startNs_) / 1e9, std::string(name.substr(k))});
  }
  int64_t startNs_;
  Measured& m_;
  std::string partial_;
};

class Test {
 public:
  Test(Api& api, const Scenario& s, const RunOptions& o) : api_(api), s_(s), o_(o) {}

  Result<Report> run();

 private:
  Result<int64_t> create();
  // The run as it was when `done` held. Waiting to create or start ends on a cancel; waiting
  // for the run to settle, stop or go does not.
  Result<json> waitFor(const std::function<bool(const json&)>& done, double seconds,
                       const std::string& what);
  VoidResult followTimeline();
  VoidResult act(const Action& a);
  VoidResult startServer(const Action& a);
  // An error when a base-station server ended before the test did.
  VoidResult serversUp() const;
  void stopServers();
  void sample();
  VoidResult sampleUntil(double t);
  void keepTails(const Measured& m);
  VoidResult measure(Measured& m);
  void keepEvidence();
  void finish();
  std::string path(const std::string& rest = {}) const {
    return fmt::format("/api/v1/runs/{}{}", rep_.run, rest);
  }

  Api& api_;
  const Scenario& s_;
  const RunOptions& o_;
  Report rep_;
  Clock::time_point started_;
  Clock::time_point nextSample_;
  int64_t startedNs_ = 0;
  std::vector<std::unique_ptr<StationServer>> servers_;
};

Result<int64_t> Test::create() {
  json spec = s_.spec;
  if (!s_.image.empty()) spec["image"] = s_.image;
  if (!spec.contains("name") && !s_.name.empty()) spec["name"] = s_.name;
  auto made = s_.app.empty() ? api_.request("POST", "/api/v1/runs", spec.dump())
                             : api_.upload("/api/v1/runs", s_.app, "aut", {{"spec", spec.dump()}});
  if (!made) return fail(made.error());
  // What the master refuses in the spec or the AUT is the scenario's fault.
  if (made->status == 400 || made->status == 404 || made->status == 413)
    return failMsg("the master refuses the scenario: " + errorText(*made));
  if (made->status != 201) {
    rep_.error = "create: " + errorText(*made);
    return int64_t{0};
  }
  return made->body.value("id", int64_t{0});
}

Result<json> Test::waitFor(const std::function<bool(const json&)>& done, double seconds,
                           const std::string& what) {
  const bool cancellable = what == "create" || what == "start";
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    auto r = api_.get(path());
    if (!r) return fail(r.error().context(what));
    if (what == "create" || what == "start") {
      uint64_t through = 0;
      for (const char* k : {"booting", "running", "terminated", "failed"})
        if (what == "create" || std::string_view(k) != "booting")
          through += (*r)["counts"].value(k, uint64_t{0});
      o_.bar(what, through, (*r).value("count", uint64_t{0}));
    }
    if (done(*r)) return *r;
    if ((*r)["state"] == "dirty")
      return failMsg(fmt::format("{}: the run is dirty: {}", what, (*r).value("reason", "")));
    if (Clock::now() > until) return failMsg(fmt::format("{}: not done in {:g} s", what, seconds));
    if (cancellable && o_.cancelled()) return failMsg(what + ": cancelled");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// The run's counts and radio counters now, for the report's charts over time.
void Test::sample() {
  auto run = api_.get(path());
  if (!run) return;
  json s = {{"t", std::chrono::duration<double>(Clock::now() - started_).count()},
            {"counts", (*run)["counts"]}};
  if (auto radio = api_.get(path("/radio"))) s["radio"] = *radio;
  rep_.samples.push_back(std::move(s));
}

// Samples the run once a second until `t` seconds after the start, watching the servers.
VoidResult Test::sampleUntil(double t) {
  const auto until =
      started_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(t));
  while (Clock::now() < until) {
    if (o_.cancelled()) return failMsg("cancelled");
    if (Clock::now() >= nextSample_) {
      sample();
      if (auto up = serversUp(); !up) return up;
      nextSample_ += std::chrono::seconds(1);
    }
    // Woken at least every 200 ms to notice a cancel.
    std::this_thread::sleep_until(
        std::min({until, nextSample_, Clock::now() + std::chrono::milliseconds(200)}));
  }
  return {};
}

VoidResult Test::serversUp() const {
  for (const auto& s : servers_)
    if (auto end = s->ended()) {
      std::string tail = s->tail();
      while (!tail.empty() && tail.back() == '\n') tail.pop_back();
      return failMsg(fmt::format("the base-station server \"{}\" {} before the test ended{}{}",
                                 s->command(), *end, tail.empty() ? "" : ": ", tail));
    }
  return {};
}

VoidResult Test::startServer(const Action& a) {
  if (!o_.servers)
    return failMsg(
        "base-station servers run only in an admin's tests on the master (they run "
        "as the master's user there), or with kuiga test on the plexer's host");
  std::string log;
  if (!o_.outDir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o_.outDir, ec);
    log = fmt::format("{}/server-{}.log", o_.outDir, servers_.size() + 1);
  }
  std::string dir = o_.serverDir;
  if (dir.empty() && !s_.file.empty())
    dir = std::filesystem::absolute(s_.file).parent_path().string();
  auto s = StationServer::start(a.command, a.netns, dir, log);
  if (!s) return fail(s.error());
  servers_.push_back(std::move(*s));
  return {};
}

VoidResult Test::act(const Action& a) {
  switch (a.kind) {
    case Action::Kind::Console: {
      json body = {{"line", a.console}};
      if (!a.devices.all) body["instances"] = a.devices.indexes;
      return api_.post(path("/console"), body).map([](const json&) {});
    }
    case Action::Kind::Stop:
    case Action::Kind::Start: {
      json body = json::object();
      if (!a.devices.all) body["instances"] = a.devices.indexes;
      if (a.kind == Action::Kind::Stop) body["grace_ms"] = std::llround(a.graceSeconds * 1000);
      const char* what = a.kind == Action::Kind::Stop ? "/instances/stop" : "/instances/start";
      return api_.post(path(what), body).map([](const json&) {});
    }
    case Action::Kind::Server:
      return startServer(a);
  }
  return {};
}

VoidResult Test::followTimeline() {
  nextSample_ = started_;
  for (const auto& a : s_.timeline) {
    if (a.kind == Action::Kind::Server && a.atSeconds == 0) continue;  // up before the start
    if (auto on = sampleUntil(a.atSeconds); !on) return on;
    if (auto done = act(a); !done)
      return fail(done.error().context(fmt::format("{} at {:g} s", a.text(), a.atSeconds)));
    o_.progress(fmt::format("{:7.2f} s  {}", a.atSeconds, a.text()));
  }
  if (auto on = sampleUntil(s_.durationSeconds); !on) return on;
  sample();
  return serversUp();
}

void Test::stopServers() {
  for (auto& s : servers_) {
    s->stop();
    rep_.servers.emplace_back(s->command(), s->tail());
  }
  servers_.clear();
}

VoidResult Test::measure(Measured& m) {
  m.count = s_.spec.value("count", 0u);
  // A run that went dirty (a worker lost, with the dirty policy) did not run the test.
  auto run = api_.get(path());
  if (!run) return fail(run.error().context("the run"));
  if ((*run)["state"] == "dirty")
    return failMsg("the run went dirty: " + (*run).value("reason", std::string()));
  for (uint32_t offset = 0; offset < m.count; offset += 10000) {
    auto page = api_.get(path(fmt::format("/instances?offset={}&limit=10000", offset)));
    if (!page) return fail(page.error().context("instances"));
    for (const auto& i : (*page)["items"]) {
      uint32_t index = i["index"];
      m.states[index] = i.value("state", "");
      if (!i.value("reason", "").empty()) m.reasons[index] = i["reason"];
    }
  }
  LogReader logs(startedNs_, m);
  KUIGA_TRY(api_.stream(path("/logs"),
                        [&logs](std::string_view d) {
                          logs.feed(d);
                          return true;
                        }),
            "logs");
  logs.end();
  // A run without timed wakeups has no jitter, and one without a radio no counters: the
  // assertions that need them say so.
  if (auto j = api_.get(path("/jitter"))) m.jitter = *j;
  rep_.jitter = m.jitter;
  if (auto r = api_.get(path("/radio"))) m.radio = *r;
  return {};
}

// The run's evidence beside the results: its logs (a file per device) and its frames.
void Test::keepEvidence() {
  if (o_.outDir.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(o_.outDir, ec);
  for (const auto& [rest, file] :
       {std::pair<std::string, std::string>{"/logs?format=tar.gz", "logs.tar.gz"},
        {"/pcap", "run.pcapng"}}) {
    auto got = api_.request("GET", path(rest));
    if (!got || got->status != 200) continue;  // a run with no radio has no frames
    std::ofstream(o_.outDir + "/" + file, std::ios::binary | std::ios::trunc) << got->text;
  }
}

// The log tails of the report's worst devices: those that failed an assertion, then those with
// the worst jitter.
void Test::keepTails(const Measured& m) {
  constexpr size_t kDevices = 10, kLines = 10;
  std::vector<uint32_t> worst;
  for (const auto& o : rep_.outcomes)
    for (const auto& [index, what] : o.evidence) worst.push_back(index);
  if (m.jitter.is_object() && m.jitter.contains("instances")) {
    std::vector<std::pair<double, uint32_t>> byP99;
    for (const auto& i : m.jitter["instances"])
      byP99.emplace_back(i.value("p99", 0.0), i.value("index", 0u));
    std::sort(byP99.rbegin(), byP99.rend());
    for (const auto& [p99, index] : byP99) worst.push_back(index);
  }
  for (uint32_t index : worst) {
    if (rep_.tails.size() >= kDevices) break;
    if (rep_.tails.count(index)) continue;
    std::string text;
    if (auto it = m.logs.find(index); it != m.logs.end()) {
      const auto& lines = it->second;
      for (size_t k = lines.size() > kLines ? lines.size() - kLines : 0; k < lines.size(); ++k)
        text += fmt::format("{:.3f}s {}\n", lines[k].atSeconds, lines[k].text);
    }
    rep_.tails[index] = text.empty() ? "(no output)" : text;
  }
}

void Test::finish() {
  if (rep_.run == 0) return;
  // A run that could not run to its end may have lost the worker that holds its logs and
  // frames: asking for them would wait on it. Its results still say what happened.
  if (rep_.error.empty()) keepEvidence();
  auto note = [this](const std::string& e) {
    if (rep_.error.empty()) rep_.error = e;
  };
  // A test cancelled while its devices were being created waits for them: the master neither
  // stops nor deletes a pending run.
  auto settled = waitFor([](const json& r) { return r["state"] != "pending"; }, 600, "settle");
  if (!settled) return note(settled.error().message);
  if ((*settled)["state"] == "running" || (*settled)["state"] == "dirty") {
    if (auto stopped = api_.post(path("/stop")); !stopped)
      note("stop: " + stopped.error().message);
    else if (auto down =
                 waitFor([](const json& r) { return r["state"] == "stopped"; }, 120, "stop");
             !down)
      note(down.error().message);
  }
  if (o_.keep) {
    o_.progress(fmt::format("run {} kept", rep_.run));
    return;
  }
  // The master deletes in the background: the test ends once the run is gone, so that what
  // runs next (another test, a sweep's next point) finds its room free.
  if (auto gone = api_.del(path()); !gone)
    note("delete: " + gone.error().message);
  else if (auto deleted =
               waitFor([](const json& r) { return r["state"] == "deleted"; }, 120, "delete");
           !deleted)
    note(deleted.error().message);
}

Result<Report> Test::run() {
  rep_.scenario = &s_;
  const auto t0 = Clock::now();
  auto id = create();
  if (!id) return fail(id.error());
  rep_.run = *id;
  if (rep_.run > 0) {
    o_.progress(fmt::format("run {}: {} devices", rep_.run, s_.spec.value("count", 0)));
    const uint64_t n = s_.spec.value("count", 0u);
    VoidResult went = waitFor([](const json& r) { return r["state"] != "pending"; }, 600, "create")
                          .map([](const json&) {});
    // Servers at 0 s come up before the devices, which find them from their first frame.
    for (const auto& a : s_.timeline)
      if (went && a.kind == Action::Kind::Server && a.atSeconds == 0) {
        went = startServer(a);
        if (went) o_.progress(fmt::format("   0.00 s  {}", a.text()));
      }
    if (went)
      if (auto st = api_.post(path("/start")); !st) went = fail(st.error().context("start"));
    started_ = Clock::now();
    startedNs_ = realtimeNs();
    if (went)
      went = waitFor(
                 [n](const json& r) {
                   uint64_t up = 0;
                   for (const char* k : {"running", "terminated", "failed"})
                     up += r["counts"][k].get<uint64_t>();
                   return up >= n;
                 },
                 600, "start")
                 .map([](const json&) {});
    if (went) o_.progress(fmt::format("running; the test lasts {:g} s", s_.durationSeconds));
    if (went) went = followTimeline();
    Measured m;
    if (went) went = measure(m);
    if (went) rep_.outcomes = evaluate(s_, m);
    if (went) keepTails(m);
    if (!went) rep_.error = went.error().message;
    stopServers();
    finish();
  }
  rep_.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!o_.outDir.empty()) KUIGA_TRY(writeReport(rep_, o_.outDir), "kuiga test");
  return rep_;
}

}  // namespace

Result<Report> run(Api& api, const Scenario& s, const RunOptions& o) {
  return Test(api, s, o).run();
}

Result<std::vector<Report>> runPoints(Api& api, const std::vector<Scenario>& points,
                                      const RunOptions& o) {
  const bool sweep = !points.empty() && !points.front().point.empty();
  std::vector<Report> reports;
  for (size_t i = 0; i < points.size(); ++i) {
    const auto& s = points[i];
    RunOptions po = o;
    if (!o.outDir.empty())
      po.outDir = sweep ? fmt::format("{}/point-{}", o.outDir, i + 1) : o.outDir;
    if (sweep)
      po.progress = [&o, &s](const std::string& line) { o.progress("[" + s.point + "] " + line); };
    auto r = run(api, s, po);
    if (!r) return fail(sweep ? r.error().context(s.point) : r.error());
    reports.push_back(std::move(*r));
    if (o.cancelled()) break;  // the points after it are not run
  }
  // Files that cannot be written (a full disk) make the test an error, not a bad scenario.
  if (sweep && !o.outDir.empty())
    if (auto w = writeSweep(reports, o.outDir);
        !w && !reports.empty() && reports.back().error.empty())
      reports.back().error = w.error().message;
  return reports;
}

}  // namespace kuiga::scenario
