// The runner against a master that keeps the real transition rules (spec's refuse()): a test
// cancelled while its run is still pending waits for the run to be created, then deletes it.
// Through the whole master the same race shows only now and then (TestsApiTest's cancel test);
// here the run stays pending as long as the test needs.
#include <gtest/gtest.h>

#include "scenario/scenario.hpp"
#include "spec/run_spec.hpp"

namespace kuiga::scenario {
namespace {

using json = nlohmann::json;

// One run, created pending; it becomes ready after `pendingGets` reads of it. Stop and delete
// go through refuse() as the master's do, and take effect at once.
class RuleBoundMaster : public Api {
 public:
  explicit RuleBoundMaster(int pendingGets) : pendingGets_(pendingGets) {}

  Result<Reply> request(const std::string& method, const std::string& path,
                        const std::string& = {}) override {
    calls.push_back(method + " " + path);
    if (method == "POST" && path == "/api/v1/runs") {
      state_ = RunState::Pending;
      return Reply{201, {{"id", 1}}, ""};
    }
    if (path != "/api/v1/runs/1" && path != "/api/v1/runs/1/stop")
      return Reply{404, {{"error", {{"code", "not_found"}, {"message", path}}}}, ""};
    if (method == "GET") {
      if (state_ == RunState::Pending && --pendingGets_ <= 0) state_ = RunState::Ready;
      return Reply{200, view(), ""};
    }
    const RunAction a = method == "DELETE" ? RunAction::Delete : RunAction::Stop;
    if (auto why = refuse(state_, a))
      return Reply{409, {{"error", {{"code", "illegal_transition"}, {"message", *why}}}}, ""};
    state_ = a == RunAction::Delete ? RunState::Deleted : RunState::Stopped;
    return Reply{202, view(), ""};
  }
  Result<Reply> upload(const std::string&, const std::string&, const std::string&,
                       const std::map<std::string, std::string>&) override {
    return failMsg("no uploads here");
  }
  VoidResult stream(const std::string&, const std::function<bool(std::string_view)>&) override {
    return failMsg("no logs here");
  }

  std::vector<std::string> calls;
  RunState state() const { return state_; }

 private:
  json view() const {
    return {{"id", 1},
            {"state", toString(state_)},
            {"count", 1},
            {"reason", ""},
            {"counts", {{"booting", 0}, {"running", 0}, {"terminated", 0}, {"failed", 0}}}};
  }
  int pendingGets_;
  RunState state_ = RunState::Deleted;
};

TEST(ScenarioRunner, ATestCancelledWhileItsRunIsPendingDeletesTheRunOnceItIsCreated) {
  auto s = parse("image: sha256:0\nrun: {count: 1}\nduration: 60s\nassert: [{no_failed: true}]\n",
                 "t.yaml");
  ASSERT_TRUE(s) << s.error().message;
  RuleBoundMaster master(5);
  RunOptions o;
  o.cancelled = [] { return true; };  // cancelled from the start
  auto r = run(master, *s, o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->run, 1u);
  EXPECT_EQ(r->error, "create: cancelled");
  EXPECT_EQ(toString(master.state()), "deleted");
  // No stop for a run that never ran, and no delete while it was pending.
  EXPECT_EQ(std::count(master.calls.begin(), master.calls.end(), "POST /api/v1/runs/1/stop"), 0);
  EXPECT_EQ(std::count(master.calls.begin(), master.calls.end(), "DELETE /api/v1/runs/1"), 1);
}

}  // namespace
}  // namespace kuiga::scenario
