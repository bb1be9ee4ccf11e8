// Tests the master runs (POST /api/v1/tests) over real HTTP against a real master with a fake
// runtime: a scenario with its AUT runs to a verdict as its owner, with its files to download
// and its progress as events; a bad one is a 400 naming its place; it is its owner's alone; a
// base-station server is an admin's only; a test can be cancelled, and forgotten once it ends;
// a test cut short by a master restart is an error. And churn: devices of a running run
// stopped and made again.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/master/api_fixture.hpp"

namespace kuiga::test {
namespace {

using json = nlohmann::json;

class TestsApiTest : public ApiTest {
 protected:
  // POST /api/v1/tests as `c`, with the sample AUT; the reply.
  client::Response submit(client::ApiClient& c, const std::string& yaml,
                          const std::vector<std::string>& sets = {}) {
    std::map<std::string, std::string> fields{{"scenario", yaml}, {"file_name", "t.yaml"}};
    if (!sets.empty()) fields["set"] = json(sets).dump();
    auto r = c.upload("/api/v1/tests", sampleAut(), "aut", fields);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : client::Response{};
  }
  json waitTest(client::ApiClient& c, int id, int timeoutMs = 20000) {
    json last;
    eventually(
        [&] {
          auto r = c.get(fmt::format("/api/v1/tests/{}", id));
          if (!r) return false;
          last = *r;
          return last["state"] != "queued" && last["state"] != "running";
        },
        timeoutMs);
    return last;
  }
};

const char* kEcho = R"(name: echo
app: aut
run: {count: 3}
duration: 1s
timeline:
  - {at: 0.2s, console: hello}
assert:
  - no_failed: true
  - log_count: 'echo: hello'
    equal: 3
)";

TEST_F(TestsApiTest, AScenarioRunsToAVerdictWithItsFilesAndEvents) {
  // The event stream shows the test's progress to its owner.
  std::string events;
  std::atomic<bool> streaming{true};
  std::jthread follower([&] {
    (void)api().stream("/api/v1/events", [&](std::string_view d) {
      events += d;
      return streaming.load() && events.find("\"state\":\"passed\"") == std::string::npos;
    });
  });
  auto r = submit(api(), kEcho);
  ASSERT_EQ(r.status, 201) << r.text;
  EXPECT_EQ(r.body["name"], "echo");
  int id = r.body["id"];
  json t = waitTest(api(), id);
  EXPECT_EQ(t["state"], "passed") << t.dump();
  EXPECT_EQ(t["summary"]["points"][0]["passed"], 2) << t.dump();
  EXPECT_TRUE(t["error"].is_null());
  // Its run was stopped and deleted, as kuiga test does.
  int run = t["summary"]["points"][0]["run"];
  EXPECT_EQ(waitRun(run, "deleted")["state"], "deleted");
  // Its files.
  auto results = api().get(fmt::format("/api/v1/tests/{}/files/results.json", id));
  ASSERT_TRUE(results) << results.error().message;
  EXPECT_EQ((*results)["verdict"], "passed");
  auto junit = api().request("GET", fmt::format("/api/v1/tests/{}/files/junit.xml", id));
  ASSERT_TRUE(junit);
  EXPECT_NE(junit->text.find("<testcase classname=\"echo\" name=\"no instance failed\"/>"),
            std::string::npos)
      << junit->text;
  auto html = api().request("GET", fmt::format("/api/v1/tests/{}/files/report.html", id));
  ASSERT_TRUE(html);
  EXPECT_EQ(html->status, 200);
  EXPECT_EQ(html->header("content-type"), "text/html; charset=utf-8");
  auto yaml = api().request("GET", fmt::format("/api/v1/tests/{}/files/scenario.yaml", id));
  EXPECT_EQ(yaml->text, kEcho);
  // Only what a test writes.
  EXPECT_EQ(call("GET", fmt::format("/api/v1/tests/{}/files/..%2Fstate.db", id)).first, 404);
  EXPECT_EQ(call("GET", fmt::format("/api/v1/tests/{}/files/state.db", id)).first, 404);
  EXPECT_EQ(call("GET", fmt::format("/api/v1/tests/{}/files/run.pcapng", id)).first, 404);
  EXPECT_TRUE(eventually([&] { return events.find("\"state\":\"passed\"") != std::string::npos; }));
  streaming = false;
  (void)api().post(fmt::format("/api/v1/runs/{}/console", run), {{"line", "x"}});  // wake it
  EXPECT_NE(events.find("event: test"), std::string::npos);
  EXPECT_NE(events.find("\"line\":\"running; the test lasts 1 s\""), std::string::npos) << events;
  // Listed, newest first; forgotten with its files.
  auto list = api().get("/api/v1/tests");
  ASSERT_TRUE(list);
  EXPECT_EQ((*list)["items"][0]["id"], id);
  EXPECT_EQ(call("DELETE", fmt::format("/api/v1/tests/{}", id)).first, 200);
  EXPECT_EQ(call("GET", fmt::format("/api/v1/tests/{}", id)).first, 404);
  EXPECT_FALSE(std::filesystem::exists(fmt::format("{}/tests/{}", master_->dataDir(), id)));
}

TEST_F(TestsApiTest, AFailingSweepAndABadScenarioAreToldApart) {
  // A sweep of two points, the second failing its count.
  auto r = submit(api(), kEcho, {"sweep.count=[3, 2]"});
  ASSERT_EQ(r.status, 201) << r.text;
  json t = waitTest(api(), r.body["id"]);
  EXPECT_EQ(t["state"], "failed") << t.dump();
  ASSERT_EQ(t["summary"]["points"].size(), 2u) << t.dump();
  EXPECT_EQ(t["summary"]["points"][1]["verdict"], "failed");
  auto csv =
      api().request("GET", fmt::format("/api/v1/tests/{}/files/sweep.csv", t["id"].get<int>()));
  ASSERT_TRUE(csv);
  EXPECT_EQ(csv->status, 200) << csv->text;
  auto point = api().request(
      "GET", fmt::format("/api/v1/tests/{}/points/2/files/results.json", t["id"].get<int>()));
  ASSERT_TRUE(point);
  EXPECT_EQ(point->status, 200) << point->text;
  // A bad scenario: 400 naming the place, and nothing kept.
  auto bad = submit(api(), "app: aut\nrun: {count: 1, cuont: 2}\nassert: [{no_failed: true}]\n");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.value("message", "").find("t.yaml:2:"), std::string::npos) << bad.text;
  // An AUT named but not uploaded.
  auto none = api().request("POST", "/api/v1/tests", kEcho, "application/yaml");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 400);
  EXPECT_NE(none->text.find("upload that file as the part 'aut'"), std::string::npos) << none->text;
}

TEST_F(TestsApiTest, ATestIsItsOwnersAndAServerAnAdminsOnly) {
  auto alice = master_->client("user", "alice");
  auto bob = master_->client("user", "bob");
  auto r = submit(alice, kEcho);
  ASSERT_EQ(r.status, 201) << r.text;
  int id = r.body["id"];
  EXPECT_EQ(bob.request("GET", fmt::format("/api/v1/tests/{}", id))->status, 404);
  EXPECT_EQ(bob.request("GET", fmt::format("/api/v1/tests/{}/files/results.json", id))->status,
            404);
  EXPECT_EQ((*bob.get("/api/v1/tests"))["items"].size(), 0u);
  EXPECT_EQ(waitTest(alice, id)["state"], "passed");
  // Its run was alice's.
  EXPECT_EQ((*alice.get("/api/v1/runs?deleted=1"))["total"], 1);
  // A server runs a command on the master's host.
  const std::string withServer =
      "app: aut\nrun: {count: 1, radio: {uplink: ktnoSuchNs}}\ntimeline:\n"
      "  - {at: 0s, server: 'touch /tmp/x'}\nassert: [{no_failed: true}]\n";
  auto refused = submit(alice, withServer);
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.text.find("t.yaml:4:5: a base-station server"), std::string::npos)
      << refused.text;
  // An admin's may, and one that cannot start (no such namespace) is an error saying so.
  auto admins = submit(api(), withServer);
  ASSERT_EQ(admins.status, 201) << admins.text;
  json t = waitTest(api(), admins.body["id"]);
  EXPECT_EQ(t["state"], "error");
  EXPECT_NE(t["error"].get<std::string>().find("network namespace 'ktnoSuchNs'"), std::string::npos)
      << t.dump();
}

TEST_F(TestsApiTest, ACancelledTestEndsAsAnErrorAndItsRunGoes) {
  auto r = submit(api(), kEcho, {"duration=60s"});
  ASSERT_EQ(r.status, 201) << r.text;
  int id = r.body["id"];
  ASSERT_TRUE(eventually([&] {
    return (*api().get(fmt::format("/api/v1/tests/{}", id)))["state"] == "running" &&
           (*api().get("/api/v1/runs"))["total"] == 1;
  }));
  EXPECT_EQ(call("DELETE", fmt::format("/api/v1/tests/{}", id)).first, 409);  // cancel first
  auto cancelled = api().request("POST", fmt::format("/api/v1/tests/{}/cancel", id));
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(cancelled->status, 202) << cancelled->text;
  json t = waitTest(api(), id, 10000);
  ASSERT_EQ(t["state"], "error") << t.dump();
  EXPECT_NE(t["error"].get<std::string>().find("cancelled"), std::string::npos) << t.dump();
  EXPECT_EQ(waitRun(t["summary"]["points"][0]["run"], "deleted")["state"], "deleted");
  EXPECT_EQ(call("POST", fmt::format("/api/v1/tests/{}/cancel", id)).first, 409);
}

TEST_F(TestsApiTest, ATestCutShortByAMasterRestartIsAnError) {
  auto r = submit(api(), kEcho, {"duration=60s"});
  ASSERT_EQ(r.status, 201) << r.text;
  int id = r.body["id"];
  ASSERT_TRUE(eventually(
      [&] { return (*api().get(fmt::format("/api/v1/tests/{}", id)))["state"] == "running"; }));
  master_->restart();
  auto t = api().get(fmt::format("/api/v1/tests/{}", id));
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ((*t)["state"], "error");
  EXPECT_NE((*t)["error"].get<std::string>().find("the master stopped during the test"),
            std::string::npos);
}

TEST_F(TestsApiTest, DevicesOfARunningRunStopAndComeBack) {
  json run = createRun({{"count", 3}});
  int id = run["id"];
  waitRun(id, "ready");
  EXPECT_EQ(call("POST", fmt::format("/api/v1/runs/{}/instances/stop", id)),
            std::make_pair(409, std::string("illegal_transition")));
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  waitRun(id, "running");
  auto counts = [&] { return (*api().get(fmt::format("/api/v1/runs/{}", id)))["counts"]; };
  ASSERT_TRUE(eventually([&] { return counts()["running"] == 3; }));
  EXPECT_EQ(call("POST", fmt::format("/api/v1/runs/{}/instances/stop", id), R"({"instances": [3]})")
                .first,
            404);
  EXPECT_EQ(
      call("POST", fmt::format("/api/v1/runs/{}/instances/stop", id), R"({"instances": []})").first,
      400);
  auto stopped = api().post(fmt::format("/api/v1/runs/{}/instances/stop", id),
                            {{"instances", {1, 2}}, {"grace_ms", 100}});
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_EQ((*stopped)["instances"], 2);
  ASSERT_TRUE(eventually([&] { return counts()["terminated"] == 2; })) << counts().dump();
  EXPECT_EQ(waitRun(id, "running")["state"], "running");  // the run runs on
  // Started again: made anew on the same worker, then running.
  auto started =
      api().post(fmt::format("/api/v1/runs/{}/instances/start", id), {{"instances", {1}}});
  ASSERT_TRUE(started) << started.error().message;
  EXPECT_EQ((*started)["instances"], 1);
  ASSERT_TRUE(eventually([&] { return counts()["running"] == 2; })) << counts().dump();
  auto one = api().get(fmt::format("/api/v1/runs/{}/instances/1", id));
  std::vector<std::string> states;
  for (const auto& h : (*one)["history"]) states.push_back(h["state"]);
  EXPECT_EQ(states,
            (std::vector<std::string>{"pending", "prolog", "booting", "running", "shutting_down",
                                      "terminated", "pending", "prolog", "booting", "running"}))
      << one->dump();
  // All of them (none named): the terminated one comes back, the running ones stay.
  auto all = api().post(fmt::format("/api/v1/runs/{}/instances/start", id), json::object());
  ASSERT_TRUE(all);
  EXPECT_EQ((*all)["instances"], 1);
  ASSERT_TRUE(eventually([&] { return counts()["running"] == 3; })) << counts().dump();
}

}  // namespace
}  // namespace kuiga::test
