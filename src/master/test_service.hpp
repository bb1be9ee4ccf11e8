#pragma once
// Tests the master runs for its users (POST /api/v1/tests): the same scenarios `kuiga test`
// runs, checked when they come, kept with their AUT under DATA/tests/ID, run a few at a time
// through the API as their owner (api/local_api.hpp), their progress told as "test" events,
// and their results, JUnit file, report and evidence kept for download. A test running when
// the master stops is an error when it starts again (its run is left for its owner to delete).
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "master/api_error.hpp"
#include "master/auth/gate.hpp"
#include "master/store.hpp"
#include "scenario/scenario.hpp"

namespace kuiga::master {

class RunService;

struct TestSubmission {
  std::string scenario;           // the file's text (YAML)
  std::string fileName;           // as the client named it, for messages
  std::vector<std::string> sets;  // KEY=VALUE overrides
  std::string autPath;            // the uploaded AUT (spooled; copied here), "" when none
  std::string autName;            // its file name: the image's executable
};

class TestService {
 public:
  // `dir`: where tests keep their files. At most `parallel` tests run at once; the rest wait.
  TestService(Store& store, RunService& runs, std::string dir, unsigned parallel = 2);
  ~TestService();  // cancels what runs and waits for it to stop and delete its runs
  TestService(const TestService&) = delete;
  TestService& operator=(const TestService&) = delete;

  // How a test reaches the API as its owner: set by the HTTP API once its route table exists.
  using ApiFactory = std::function<std::unique_ptr<scenario::Api>(const Caller&)>;
  void setApi(ApiFactory f);

  // Checks the scenario (400 naming its place), keeps it and its AUT, and queues it.
  ApiResult<TestRecord> submit(const TestSubmission& sub, const Caller& who);
  ApiResult<TestRecord> test(uint64_t id);
  ApiResult<std::vector<TestRecord>> tests(const std::string& ownerFilter);
  ApiResult<std::string> owner(uint64_t id);
  // A queued test ends at once, a running one at its next step (its run stopped and deleted).
  ApiResult<TestRecord> cancel(uint64_t id);
  // Forgets a finished test and its files (409 while it is queued or runs).
  ApiResult<void> remove(uint64_t id);
  // The path of one of its files: NAME, or point-K/NAME of a sweep's point K (404 if none).
  ApiResult<std::string> file(uint64_t id, const std::string& name);

 private:
  struct Job;
  void startQueued();  // with mu_ held
  void runJob(std::shared_ptr<Job> job);
  void finish(Job& job, const std::vector<scenario::Report>& reports, const std::string& error);
  void announce(const TestRecord& t, nlohmann::json extra = nlohmann::json::object());
  std::string dirOf(uint64_t id) const { return dir_ + "/" + std::to_string(id); }

  Store& store_;
  RunService& runs_;
  std::string dir_;
  unsigned parallel_;
  ApiFactory api_;
  std::mutex mu_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::map<uint64_t, std::shared_ptr<Job>> active_;  // queued or running
  std::map<uint64_t, std::jthread> threads_;         // the running tests'
  std::vector<std::jthread> finished_;               // joined on the next start or at the end
  bool stopping_ = false;
};

}  // namespace kuiga::master
