// What workers keep of runs besides their instances (logs, captures), and for whom: a deleted
// run's records go with it unless kept, and a worker never mixes in another master's.
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/master/api_fixture.hpp"

namespace kuiga::test {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

class RunRecordsTest : public ApiTest {
 protected:
  std::string logOf(FakeWorker& w, int run, int index) {
    return fmt::format("{}/logs/r{}-i{}.log", w.stateDir(), run, index);
  }
  int status(const std::string& method, const std::string& path) {
    return call(method, path).first;
  }
};

TEST_F(RunRecordsTest, ADeletedRunsLogsGoWithItUnlessKept) {
  auto& w = *workers_[0];
  int gone = createRun({{"count", 2}})["id"];
  int kept = createRun({{"count", 2}})["id"];
  waitRun(gone, "ready");
  waitRun(kept, "ready");
  ASSERT_TRUE(fs::exists(logOf(w, gone, 1)));

  ASSERT_TRUE(api().del(fmt::format("/api/v1/runs/{}", gone)));
  EXPECT_EQ(waitRun(gone, "deleted")["logs"], "removed");
  EXPECT_TRUE(
      eventually([&] { return !fs::exists(logOf(w, gone, 0)) && !fs::exists(logOf(w, gone, 1)); }));
  EXPECT_EQ(status("GET", fmt::format("/api/v1/runs/{}/logs", gone)), 404);

  ASSERT_TRUE(api().del(fmt::format("/api/v1/runs/{}?keep_logs=1", kept)));
  EXPECT_EQ(waitRun(kept, "deleted")["logs"], "kept");
  EXPECT_TRUE(fs::exists(logOf(w, kept, 1)));
  auto merged = api().request("GET", fmt::format("/api/v1/runs/{}/logs", kept));
  ASSERT_TRUE(merged);
  EXPECT_EQ(merged->status, 200);
  EXPECT_NE(merged->text.find(fmt::format("run-{}/dev-0001 args:", kept)), std::string::npos)
      << merged->text;
  auto one = api().request("GET", fmt::format("/api/v1/runs/{}/instances/0/logs", kept));
  EXPECT_NE(one->text.find("args:"), std::string::npos);

  // Removing them later; twice is refused, as is removing a live run's.
  EXPECT_EQ(status("DELETE", fmt::format("/api/v1/runs/{}/logs", kept)), 202);
  EXPECT_TRUE(eventually([&] { return !fs::exists(logOf(w, kept, 1)); }));
  EXPECT_EQ(status("GET", fmt::format("/api/v1/runs/{}/logs", kept)), 404);
  EXPECT_EQ(status("DELETE", fmt::format("/api/v1/runs/{}/logs", kept)), 409);
  int live = createRun({{"count", 1}})["id"];
  waitRun(live, "ready");
  EXPECT_EQ(status("DELETE", fmt::format("/api/v1/runs/{}/logs", live)), 409);
  EXPECT_TRUE(fs::exists(logOf(w, live, 0)));
}

TEST_F(RunRecordsTest, AWorkerAwayAtDeleteRemovesTheRunsRecordsWhenItReturns) {
  auto& w = *workers_[0];
  int id = createRun({{"count", 2}})["id"];
  waitRun(id, "ready");
  w.disconnect();
  ASSERT_TRUE(api().del(fmt::format("/api/v1/runs/{}", id)));
  waitRun(id, "deleted");
  EXPECT_TRUE(fs::exists(logOf(w, id, 0)));  // it was not there to hear
  w.connect();
  EXPECT_TRUE(
      eventually([&] { return !fs::exists(logOf(w, id, 0)) && w.runtime().list().empty(); }));
}

TEST_F(RunRecordsTest, AFreshMasterNeverShowsAWorkersRecordsOfAnotherCluster) {
  auto& w = *workers_[0];
  int old = createRun({{"count", 2}, {"args", "--of-the-old-master"}})["id"];
  waitRun(old, "ready");
  std::string oldCluster = (*api().get("/api/v1/cluster"))["cluster_id"];
  ASSERT_FALSE(oldCluster.empty());

  master_->startFresh();  // new data directory, same address
  std::string newCluster = (*api().get("/api/v1/cluster"))["cluster_id"];
  EXPECT_NE(newCluster, oldCluster);
  // A new cluster has a new CA: the worker gets nowhere with its old certificate...
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_TRUE(api().get("/api/v1/workers")->empty());
  // ... until the operator gives it a join token of the new master; it enrolls anew.
  w.disconnect();
  w.link().rejoin(master_->joinToken());
  w.connect();
  EXPECT_TRUE(eventually([&] {
    auto ws = api().get("/api/v1/workers");
    return ws && ws->size() == 1 && (*ws)[0]["online"] == true;
  }));
  // The old master's instances are gone from the worker; their logs are kept aside.
  EXPECT_TRUE(w.runtime().list().empty());
  EXPECT_TRUE(
      fs::exists(fmt::format("{}/stale/{}/logs/r{}-i1.log", w.stateDir(), oldCluster, old)));
  EXPECT_FALSE(fs::exists(logOf(w, old, 1)));

  // The new master's run has the same id as the old one; its log is its own.
  int fresh = createRun({{"count", 2}, {"args", "--of-the-new-master"}})["id"];
  EXPECT_EQ(fresh, old);
  waitRun(fresh, "ready");
  auto log = api().request("GET", fmt::format("/api/v1/runs/{}/instances/1/logs", fresh));
  ASSERT_TRUE(log);
  EXPECT_NE(log->text.find("--of-the-new-master"), std::string::npos) << log->text;
  EXPECT_EQ(log->text.find("--of-the-old-master"), std::string::npos) << log->text;
}

}  // namespace
}  // namespace kuiga::test
