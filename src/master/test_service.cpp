#include "master/test_service.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "master/run_service.hpp"
#include "master/run_service_internal.hpp"

namespace kuiga::master {

namespace fs = std::filesystem;

struct TestService::Job {
  TestRecord record;
  Caller caller;
  std::vector<scenario::Scenario> points;
  std::atomic<bool> cancelled{false};
};

TestService::TestService(Store& store, RunService& runs, std::string dir, unsigned parallel)
    : store_(store), runs_(runs), dir_(std::move(dir)), parallel_(std::max(parallel, 1u)) {
  // What was queued or running when the master stopped did not run to its end.
  if (auto all = store_.tests("", UINT32_MAX))
    for (auto& t : *all)
      if (t.state == "queued" || t.state == "running") {
        t.state = "error";
        t.error = "the master stopped during the test; its run, if it made one, is left to delete";
        t.finishedNs = nowNs();
        (void)store_.updateTest(t);
      }
}

TestService::~TestService() {
  std::map<uint64_t, std::jthread> threads;
  std::vector<std::jthread> finished;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [id, job] : active_) job->cancelled = true;
    threads.swap(threads_);
    finished.swap(finished_);
  }
  // (jthreads join as they go.)
}

void TestService::setApi(ApiFactory f) {
  std::lock_guard lock(mu_);
  api_ = std::move(f);
}

void TestService::announce(const TestRecord& t, nlohmann::json extra) {
  extra["test"] = t.id;
  extra["state"] = t.state;
  runs_.publish({"test", std::move(extra), t.owner});
}

ApiResult<TestRecord> TestService::submit(const TestSubmission& sub, const Caller& who) {
  {
    std::vector<std::jthread> done;  // the threads of tests that ended, joined here
    std::lock_guard lock(mu_);
    done.swap(finished_);
  }
  const std::string name = sub.fileName.empty() ? "scenario.yaml" : sub.fileName;
  auto points = scenario::parsePoints(sub.scenario, name, sub.sets);
  if (!points) return apiFail(ApiError::badRequest(points.error().message));
  const auto& first = points->front();
  if (!first.app.empty() && sub.autPath.empty())
    return apiFail(ApiError::badRequest(
        "the scenario names its AUT by 'app': upload that file as the part 'aut'"));
  if (!first.image.empty() && !sub.autPath.empty())
    return apiFail(ApiError::badRequest("the scenario names an image: upload no AUT"));
  for (const auto& a : first.timeline)
    if (a.kind == scenario::Action::Kind::Server && !who.admin())
      return apiFail(ApiError{403, "forbidden",
                              fmt::format("{}:{}:{}: a base-station server runs a command on the "
                                          "master's host: only an admin's tests may have one",
                                          name, a.place.line, a.place.column)});
  TestRecord t;
  t.owner = who.user;
  t.name = first.name.empty() ? name : first.name;
  t.createdNs = nowNs();
  auto id = store_.insertTest(t);
  if (!id) return apiFail(storeError(id.error()));
  t.id = *id;
  // Its files: the scenario, the AUT under its own name, and the output.
  const std::string dir = dirOf(t.id);
  std::error_code ec;
  fs::create_directories(dir + "/aut", ec);
  if (!ec) {
    std::ofstream out(dir + "/scenario.yaml");
    if (!(out << sub.scenario) || !out.flush())
      ec = std::error_code(errno ? errno : EIO, std::generic_category());
  }
  std::string aut;
  if (!ec && !sub.autPath.empty()) {
    aut = dir + "/aut/" + (sub.autName.empty() ? "aut" : fs::path(sub.autName).filename().string());
    fs::copy_file(sub.autPath, aut, fs::copy_options::overwrite_existing, ec);
  }
  if (ec) {
    const Error why{"keep the test's files in " + dir + ": " + ec.message(), ec.value()};
    (void)store_.deleteTest(t.id);
    std::error_code ignored;
    fs::remove_all(dir, ignored);
    return apiFail(storeError(why));  // a full disk: 507
  }
  auto job = std::make_shared<Job>();
  job->record = t;
  job->caller = who;
  job->points = std::move(*points);
  for (auto& p : job->points) {
    if (!aut.empty()) p.app = aut;
    p.file = name;  // as its owner named it, in the results
  }
  {
    std::lock_guard lock(mu_);
    if (stopping_) return apiFail(ApiError{503, "unavailable", "the master is stopping"});
    queue_.push_back(job);
    active_[t.id] = job;
    startQueued();
  }
  spdlog::info("test {} ({}) of {}: {} point(s)", t.id, t.name, t.owner, job->points.size());
  announce(t);
  return t;
}

void TestService::startQueued() {
  while (!stopping_ && threads_.size() < parallel_ && !queue_.empty() && api_) {
    auto job = queue_.front();
    queue_.pop_front();
    threads_[job->record.id] = std::jthread([this, job] { runJob(job); });
  }
}

void TestService::runJob(std::shared_ptr<Job> job) {
  job->record.state = "running";
  (void)store_.updateTest(job->record);
  announce(job->record);
  std::unique_ptr<scenario::Api> api;
  {
    std::lock_guard lock(mu_);
    api = api_(job->caller);
  }
  scenario::RunOptions o;
  o.outDir = dirOf(job->record.id) + "/out";
  o.cancelled = [job] { return job->cancelled.load(); };
  o.servers = job->caller.admin();
  o.serverDir = dirOf(job->record.id);  // its servers run beside its scenario
  const TestRecord rec = job->record;
  o.progress = [this, rec](const std::string& line) { announce(rec, {{"line", line}}); };
  o.bar = [this, rec](const std::string& phase, uint64_t done, uint64_t total) {
    announce(rec, {{"phase", phase}, {"done", done}, {"total", total}});
  };
  auto reports = scenario::runPoints(*api, job->points, o);
  finish(*job, reports ? *reports : std::vector<scenario::Report>{},
         reports ? std::string() : reports.error().message);
  std::lock_guard lock(mu_);
  active_.erase(job->record.id);
  if (auto it = threads_.find(job->record.id); it != threads_.end()) {
    finished_.push_back(std::move(it->second));  // joined by the next submit, or at the end
    threads_.erase(it);
  }
  startQueued();
}

void TestService::finish(Job& job, const std::vector<scenario::Report>& reports,
                         const std::string& error) {
  TestRecord& t = job.record;
  nlohmann::json points = nlohmann::json::array();
  for (const auto& r : reports) {
    size_t passed = 0;
    for (const auto& o : r.outcomes) passed += o.verdict == scenario::Verdict::Passed;
    points.push_back({{"point", r.scenario->point},
                      {"verdict", scenario::toString(r.verdict())},
                      {"run", r.run},
                      {"passed", passed},
                      {"assertions", r.outcomes.size()},
                      {"error", r.error}});
  }
  t.summary = {{"points", points}, {"sweep", !job.points.front().point.empty()}};
  if (!error.empty()) {
    // The master refused a point's scenario: as `kuiga test` says, a bad scenario.
    t.state = "error";
    t.error = "bad scenario: " + error;
  } else {
    t.state = scenario::toString(scenario::worst(reports));
    for (const auto& r : reports)
      if (!r.error.empty()) {
        t.error = r.error;
        break;
      }
  }
  {
    std::lock_guard lock(mu_);
    if (stopping_ && t.state == "error")
      t.error =
          "the master stopped during the test; its run was stopped and deleted (" + t.error + ")";
  }
  t.finishedNs = nowNs();
  if (auto r = store_.updateTest(t); !r) spdlog::error("test {}: {}", t.id, r.error().message);
  spdlog::info("test {}: {}{}", t.id, t.state, t.error.empty() ? "" : " (" + t.error + ")");
  announce(t, {{"error", t.error}});
}

ApiResult<TestRecord> TestService::test(uint64_t id) {
  auto t = store_.test(id);
  if (!t) return apiFail(storeError(t.error()));
  if (!*t) return apiFail(ApiError::notFound(fmt::format("no test {}", id)));
  return **t;
}

ApiResult<std::vector<TestRecord>> TestService::tests(const std::string& ownerFilter) {
  auto all = store_.tests(ownerFilter, 200);
  if (!all) return apiFail(storeError(all.error()));
  return *all;
}

ApiResult<std::string> TestService::owner(uint64_t id) {
  auto t = test(id);
  if (!t) return apiFail(t.error());
  return t->owner;
}

ApiResult<TestRecord> TestService::cancel(uint64_t id) {
  std::shared_ptr<Job> queued;
  {
    std::lock_guard lock(mu_);
    auto it = active_.find(id);
    if (it == active_.end()) {
      auto t = test(id);
      if (!t) return apiFail(t.error());
      return apiFail(ApiError::conflict(fmt::format("test {} is {}: it has ended", id, t->state)));
    }
    it->second->cancelled = true;
    auto q = std::find(queue_.begin(), queue_.end(), it->second);
    if (q != queue_.end()) {
      queued = *q;
      queue_.erase(q);
      active_.erase(it);
    }
  }
  if (queued) {
    queued->record.state = "error";
    queued->record.error = "cancelled before it started";
    queued->record.finishedNs = nowNs();
    (void)store_.updateTest(queued->record);
    announce(queued->record, {{"error", queued->record.error}});
  }
  return test(id);
}

ApiResult<void> TestService::remove(uint64_t id) {
  auto t = test(id);
  if (!t) return apiFail(t.error());
  if (t->state == "queued" || t->state == "running")
    return apiFail(ApiError::conflict(fmt::format("test {} is {}: cancel it first", id, t->state)));
  if (auto r = store_.deleteTest(id); !r) return apiFail(storeError(r.error()));
  std::error_code ec;
  fs::remove_all(dirOf(id), ec);
  return {};
}

ApiResult<std::string> TestService::file(uint64_t id, const std::string& name) {
  // Only what a test writes: no path of the client's choosing.
  static const std::regex ok(
      R"((point-[0-9]{1,6}/)?(report\.html|results\.json|junit\.xml|sweep\.csv|logs\.tar\.gz|run\.pcapng|server-[0-9]{1,3}\.log))");
  if (name != "scenario.yaml" && !std::regex_match(name, ok))
    return apiFail(ApiError::notFound("no file " + name + " of a test"));
  auto t = test(id);
  if (!t) return apiFail(t.error());
  std::string path = dirOf(id) + (name == "scenario.yaml" ? "/" : "/out/") + name;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    return apiFail(ApiError::notFound(fmt::format("test {} has no {} ({})", id, name, t->state)));
  return path;
}

}  // namespace kuiga::master
