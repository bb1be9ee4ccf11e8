// The REST API over real HTTP against a real master, with workers on fake runtimes.
#include <filesystem>
#include <fstream>

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/master/api_fixture.hpp"

namespace kuiga::test {
namespace {

using json = nlohmann::json;

TEST_F(ApiTest, ARunGoesThroughTheReportsStates) {
  json run = createRun({{"count", 5}, {"args", "--id {index} --of {count}"}, {"name", "t1"}});
  int id = run["id"];
  EXPECT_EQ(run["state"], "pending");
  EXPECT_EQ(run["name"], "t1");
  auto ready = waitRun(id, "ready");
  EXPECT_EQ(ready["counts"]["booting"], 5);

  // Instances: paging, filter, one with history and its worker.
  auto page = api().get(fmt::format("/api/v1/runs/{}/instances?offset=1&limit=2", id));
  ASSERT_TRUE(page);
  ASSERT_EQ((*page)["items"].size(), 2u);
  EXPECT_EQ((*page)["items"][0]["index"], 1);
  auto booting = api().get(fmt::format("/api/v1/runs/{}/instances?state=booting", id));
  EXPECT_EQ((*booting)["items"].size(), 5u);
  auto one = api().get(fmt::format("/api/v1/runs/{}/instances/3", id));
  ASSERT_TRUE(one);
  EXPECT_EQ((*one)["worker"], "w1");
  EXPECT_EQ((*one)["name"], fmt::format("run-{}/dev-0003", id));
  std::vector<std::string> states;
  for (const auto& h : (*one)["history"]) states.push_back(h["state"]);
  EXPECT_EQ(states, (std::vector<std::string>{"pending", "prolog", "booting"}));
  // The argument template was expanded per instance.
  auto log = api().request("GET", fmt::format("/api/v1/runs/{}/instances/3/logs", id));
  ASSERT_TRUE(log);
  EXPECT_NE(log->text.find("args:--id 3 --of 5"), std::string::npos) << log->text;

  auto started = api().post(fmt::format("/api/v1/runs/{}/start", id));
  ASSERT_TRUE(started) << started.error().message;
  auto running = waitRun(id, "running");
  EXPECT_TRUE(eventually(
      [&] { return (*api().get(fmt::format("/api/v1/runs/{}", id)))["counts"]["running"] == 5; }));
  // Illegal transitions: 409 and nothing changes.
  EXPECT_EQ(call("POST", fmt::format("/api/v1/runs/{}/start", id)),
            std::make_pair(409, std::string("illegal_transition")));

  // Console: the fake AUT echoes; merged logs name each instance.
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/instances/2/console", id),
                         {{"line", "hello device"}}));
  auto merged = api().request("GET", fmt::format("/api/v1/runs/{}/logs", id));
  ASSERT_TRUE(merged);
  EXPECT_NE(merged->text.find(fmt::format("run-{}/dev-0002 echo: hello device", id)),
            std::string::npos)
      << merged->text;
  EXPECT_NE(merged->text.find(fmt::format("run-{}/dev-0004 args:", id)), std::string::npos);

  // Following the merged log: a line written after the request arrives.
  std::string followed;
  std::atomic<bool> done{false};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::jthread follower([&] {
    (void)api().stream(fmt::format("/api/v1/runs/{}/logs?follow=1", id), [&](std::string_view d) {
      followed += d;
      return followed.find("echo: later line") == std::string::npos &&
             std::chrono::steady_clock::now() < deadline;
    });
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(
      api().post(fmt::format("/api/v1/runs/{}/instances/4/console", id), {{"line", "later line"}}));
  // Should the line never arrive, more output lets the follower see its deadline and end.
  while (!eventually([&] { return done.load(); }, 1000))
    (void)api().post(fmt::format("/api/v1/runs/{}/instances/3/console", id), {{"line", "tick"}});
  follower.join();
  EXPECT_NE(followed.find(fmt::format("run-{}/dev-0004 echo: later line", id)), std::string::npos);

  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/stop", id)));
  auto stopped = waitRun(id, "stopped");
  EXPECT_EQ(stopped["counts"]["terminated"], 5);
  EXPECT_EQ(call("POST", fmt::format("/api/v1/runs/{}/start", id)).first, 409);
  EXPECT_EQ(call("POST", fmt::format("/api/v1/runs/{}/stop", id)).first, 409);
  EXPECT_EQ(
      call("POST", fmt::format("/api/v1/runs/{}/instances/2/console", id), R"({"line":"x"})").first,
      409);
  ASSERT_TRUE(api().del(fmt::format("/api/v1/runs/{}", id)));
  auto deleted = waitRun(id, "deleted");
  EXPECT_EQ(deleted["counts"]["deleted"], 5);
  EXPECT_TRUE(workers_[0]->runtime().list().empty());
  EXPECT_EQ(call("DELETE", fmt::format("/api/v1/runs/{}", id)).first, 409);

  // The run's own history: every state it entered, in order, with times.
  auto history = api().get(fmt::format("/api/v1/runs/{}/history", id));
  ASSERT_TRUE(history) << history.error().message;
  EXPECT_EQ((*history)["run"], id);
  std::vector<std::string> entered;
  for (const auto& e : (*history)["events"]) {
    EXPECT_EQ(e["kind"], "state") << e.dump();  // no radio, so no cell
    EXPECT_FALSE(e["time"].get<std::string>().empty());
    entered.push_back(e["state"]);
  }
  EXPECT_EQ(entered,
            (std::vector<std::string>{"pending", "ready", "running", "stopped", "deleted"}));
}

TEST_F(ApiTest, UploadsAreContentAddressedAndChecked) {
  std::string a = image(), b = image();
  EXPECT_EQ(a, b);
  EXPECT_EQ(api().get("/api/v1/images")->size(), 1u);
  auto one = api().get("/api/v1/images/" + a);
  ASSERT_TRUE(one);
  EXPECT_EQ((*one)["manifest"]["executable"], "periodic");

  TempDir d;
  std::ofstream(d.path() + "/script.sh") << "#!/bin/sh\necho hi\n";
  auto bad = api().upload("/api/v1/images", d.path() + "/script.sh", "aut", {});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(bad->body["error"], "bad_aut");
  EXPECT_NE(bad->body["message"].get<std::string>().find("script"), std::string::npos);

  {
    std::ofstream big(d.path() + "/big", std::ios::binary);
    std::string chunk(1 << 16, 'x');
    for (int i = 0; i < 8; ++i) big << chunk;  // 512 KiB > the 256 KiB cap
  }
  auto tooBig = api().upload("/api/v1/images", d.path() + "/big", "aut", {});
  ASSERT_TRUE(tooBig) << tooBig.error().message;
  EXPECT_EQ(tooBig->status, 413) << tooBig->text;
  // Nothing of a refused upload stays behind.
  EXPECT_TRUE(std::filesystem::is_empty(master_->dataDir() + "/data/uploads"));
  EXPECT_EQ(api().get("/api/v1/images")->size(), 1u);

  auto wrongProfile = api().upload("/api/v1/images", sampleAut(), "aut", {{"profile", "zephyr"}});
  EXPECT_EQ(wrongProfile->status, 400);
  auto noPart = api().upload("/api/v1/images", sampleAut(), "file", {});
  EXPECT_EQ(noPart->status, 400);
}

TEST_F(ApiTest, WorkersRefuseABlobThatDoesNotMatchItsDigest) {
  std::string digest = image();
  auto manifest = api().get("/api/v1/images/" + digest);
  std::string aut = (*manifest)["manifest"]["aut"]["digest"];
  TempDir d;
  TempDir state;
  worker::MasterLink link({master_->url(),
                           "w-test",
                           state.path(),
                           {},
                           {},
                           credentialsFor(master_->server(), "w-test")});
  worker::LinkBlobSource blobs(link);
  ASSERT_TRUE(blobs.fetch(aut, d.path() + "/good"));
  // Corrupt the stored AUT: the master serves it, the worker checks and refuses it.
  std::ofstream(master_->dataDir() + "/data/images/sha256/" + aut.substr(7)) << "tampered";
  auto bad = blobs.fetch(aut, d.path() + "/bad");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("refused"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(std::filesystem::exists(d.path() + "/bad"));
  EXPECT_FALSE(blobs.fetch("sha256:" + std::string(64, '0'), d.path() + "/missing"));
  // A run of the tampered image fails on the worker with that reason, and is dirty.
  json run = createRun({{"count", 1}, {"image", digest}});
  auto dirty = waitRun(run["id"], "dirty");
  EXPECT_NE(dirty["reason"].get<std::string>().find("refused"), std::string::npos) << dirty.dump();
}

TEST_F(ApiTest, CreateWithAnUploadInOneRequest) {
  auto r = api().upload("/api/v1/runs", sampleAut(), "aut",
                        {{"spec", R"({"count": 2, "profile": "linux"})"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->text;
  waitRun(r->body["id"], "ready");
  auto noSpec = api().upload("/api/v1/runs", sampleAut(), "aut", {});
  EXPECT_EQ(noSpec->status, 400);
  TempDir d;
  std::ofstream(d.path() + "/notelf") << "just text";
  auto bad =
      api().upload("/api/v1/runs", d.path() + "/notelf", "aut", {{"spec", R"({"count":2})"}});
  EXPECT_EQ(bad->status, 400);
  auto riotVeth = api().upload("/api/v1/runs", sampleAut(), "aut",
                               {{"spec", R"({"count":2,"profile":"riot-native","net":"veth"})"}});
  EXPECT_EQ(riotVeth->status, 400) << riotVeth->text;
  EXPECT_EQ(runCount(), 1u);
}

TEST_F(ApiTest, BadInputGetsAClear4xxAndChangesNothing) {
  std::string img = image();
  auto spec = [&](json extra) {
    json j = {{"image", img}, {"count", 2}};
    for (auto& [k, v] : extra.items()) j[k] = v;
    return j.dump();
  };
  struct Case {
    std::string body;
    int status;
  };
  for (const auto& c :
       {Case{"{not json", 400}, Case{"[]", 400}, Case{"42", 400}, Case{spec({{"count", 0}}), 400},
        Case{spec({{"count", -1}}), 400}, Case{spec({{"count", 1000000000}}), 400},
        Case{spec({{"count", "ten"}}), 400}, Case{spec({{"count", nullptr}}), 400},
        Case{spec({{"net", 3}}), 400}, Case{spec({{"args", "{bogus}"}}), 400},
        Case{spec({{"limits", "lots"}}), 400}, Case{spec({{"extra", 1}}), 400},
        Case{spec({{"profile", "linux"}}), 400},
        Case{spec({{"image", "sha256:" + std::string(64, 'a')}}), 404},
        Case{R"({"count": 2})", 400}}) {
    auto r = api().request("POST", "/api/v1/runs", c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << c.body << " -> " << r->text;
    EXPECT_TRUE(r->body.is_object() && r->body.contains("error") && r->body.contains("message"))
        << r->text;
    EXPECT_FALSE(r->body.value("message", "").empty());
  }
  // More than the cluster holds: refused up front, nothing recorded or created.
  auto big = api().request("POST", "/api/v1/runs", spec({{"count", 101}}));
  EXPECT_EQ(big->status, 409);
  EXPECT_EQ(big->body["error"], "insufficient_capacity");
  EXPECT_NE(big->body["message"].get<std::string>().find("room for 100"), std::string::npos);
  EXPECT_EQ(runCount(), 0u);
  EXPECT_TRUE(workers_[0]->runtime().list().empty());

  // Unknown ids and paths.
  for (const auto& [m, p] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/api/v1/runs/99"},
                                                        {"POST", "/api/v1/runs/99/start"},
                                                        {"POST", "/api/v1/runs/99/stop"},
                                                        {"DELETE", "/api/v1/runs/99"},
                                                        {"GET", "/api/v1/runs/99/instances"},
                                                        {"GET", "/api/v1/runs/99/jitter"},
                                                        {"GET", "/api/v1/runs/99/history"},
                                                        {"GET", "/api/v1/runs/abc"},
                                                        {"GET", "/api/v1/runs/99/instances/0"},
                                                        {"GET", "/api/v1/runs/99/instances/0/logs"},
                                                        {"GET", "/api/v1/images/sha256:nope"},
                                                        {"GET", "/api/v1/nothing"}}) {
    auto [status, code] = call(m, p);
    EXPECT_EQ(status, 404) << m << " " << p;
    EXPECT_EQ(code, "not_found") << m << " " << p;
  }
  // Wrong types on the other endpoints.
  json run = createRun({{"count", 2}});
  int id = run["id"];
  waitRun(id, "ready");
  EXPECT_EQ(call("GET", fmt::format("/api/v1/runs/{}/instances?limit=-1", id)).first, 400);
  EXPECT_EQ(call("GET", fmt::format("/api/v1/runs/{}/instances?state=sleepy", id)).first, 400);
  EXPECT_EQ(call("GET", fmt::format("/api/v1/runs/{}/instances/7", id)).first, 404);
  EXPECT_EQ(call("POST", fmt::format("/api/v1/runs/{}/instances/0/console", id), "{bad").first,
            400);
  EXPECT_EQ(
      call("POST", fmt::format("/api/v1/runs/{}/instances/0/console", id), R"({"line":5})").first,
      400);
  EXPECT_EQ(call("POST", fmt::format("/api/v1/runs/{}/stop", id)).first, 409);
  EXPECT_EQ(call("GET", fmt::format("/api/v1/runs/{}/jitter", id)).first, 400);  // not timed
  EXPECT_EQ(waitRun(id, "ready")["state"], "ready");
}

TEST_F(ApiTest, InstancesAreSpreadByFreeCapacity) {
  auto& w2 = addWorker("w2", 300);
  json run = createRun({{"count", 40}});
  waitRun(run["id"], "ready");
  // w1 has 100 free and w2 300: the greedy placement fills the freer one first until equal.
  EXPECT_EQ(workers_[0]->runtime().list().size(), 0u);
  EXPECT_EQ(w2.runtime().list().size(), 40u);
  json more = createRun({{"count", 300}});
  waitRun(more["id"], "ready");
  EXPECT_EQ(workers_[0]->runtime().list().size() + w2.runtime().list().size(), 340u);
  EXPECT_EQ(workers_[0]->runtime().list().size(), 70u);
  auto ws = api().get("/api/v1/workers");
  for (const auto& w : *ws) EXPECT_EQ(w["free"], 30) << w.dump();
}

TEST_F(ApiTest, AFailedInstanceMakesTheRunDirtyWithTheReason) {
  workers_[0]->runtime().failCreate({1});
  json run = createRun({{"count", 3}});
  auto dirty = waitRun(run["id"], "dirty");
  EXPECT_NE(dirty["reason"].get<std::string>().find("dev-0001 failed: injected failure"),
            std::string::npos)
      << dirty.dump();
  EXPECT_EQ(call("POST", fmt::format("/api/v1/runs/{}/start", run["id"].get<int>())).first, 409);
  // Its history names the reason with the state.
  auto history = api().get(fmt::format("/api/v1/runs/{}/history", run["id"].get<int>()));
  ASSERT_TRUE(history);
  const auto& last = (*history)["events"].back();
  EXPECT_EQ(last["state"], "dirty");
  EXPECT_EQ(last["detail"], dirty["reason"]);
  ASSERT_TRUE(api().del(fmt::format("/api/v1/runs/{}", run["id"].get<int>())));
  waitRun(run["id"], "deleted");
}

TEST_F(ApiTest, ACrashWhileRunningMakesTheRunDirty) {
  json run = createRun({{"count", 2}});
  int id = run["id"];
  waitRun(id, "ready");
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  waitRun(id, "running");
  ASSERT_TRUE(eventually(
      [&] { return (*api().get(fmt::format("/api/v1/runs/{}", id)))["counts"]["running"] == 2; }));
  workers_[0]->runtime().crash({static_cast<RunId>(id), 0}, "killed by SIGSEGV");
  auto dirty = waitRun(id, "dirty");
  EXPECT_NE(dirty["reason"].get<std::string>().find("SIGSEGV"), std::string::npos);
  // Its other instance still runs: stopping the dirty run stops it, and the run stays dirty.
  EXPECT_EQ(dirty["counts"]["running"], 1);
  EXPECT_EQ(call("POST", fmt::format("/api/v1/runs/{}/stop", id)).first, 202);
  EXPECT_TRUE(eventually([&] {
    return (*api().get(fmt::format("/api/v1/runs/{}", id)))["counts"]["terminated"] == 1;
  }));
  EXPECT_EQ((*api().get(fmt::format("/api/v1/runs/{}", id)))["state"], "dirty");
}

TEST_F(ApiTest, ALostWorkerMakesADirtyPolicyRunDirty) {
  json run = createRun({{"count", 4}});
  waitRun(run["id"], "ready");
  workers_[0]->disconnect();
  auto dirty = waitRun(run["id"], "dirty");
  EXPECT_EQ(dirty["counts"]["lost"], 4);
  EXPECT_NE(dirty["reason"].get<std::string>().find("worker w1 lost"), std::string::npos);
  auto ws = api().get("/api/v1/workers");
  EXPECT_EQ((*ws)[0]["health"], "lost");
}

TEST_F(ApiTest, ALostWorkersInstancesAreRescheduled) {
  auto& w2 = addWorker("w2", 100);
  json run = createRun({{"count", 20}, {"policy", "reschedule"}});
  int id = run["id"];
  waitRun(id, "ready");
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  ASSERT_TRUE(eventually(
      [&] { return (*api().get(fmt::format("/api/v1/runs/{}", id)))["counts"]["running"] == 20; }));
  size_t onW1 = workers_[0]->runtime().list().size();
  ASSERT_EQ(onW1, 10u);
  workers_[0]->disconnect();
  // The run stays running; w1's instances are created and started on w2.
  ASSERT_TRUE(eventually([&] { return w2.runtime().list().size() == 20; }));
  ASSERT_TRUE(eventually([&] {
    auto r = api().get(fmt::format("/api/v1/runs/{}", id));
    return (*r)["counts"]["running"] == 20 && (*r)["state"] == "running";
  }));
  auto inst = api().get(fmt::format("/api/v1/runs/{}/instances?limit=20", id));
  for (const auto& i : (*inst)["items"]) EXPECT_EQ(i["worker"], "w2");
  // w1 comes back still holding its old instances: it is told to remove them.
  workers_[0]->connect();
  ASSERT_TRUE(eventually([&] { return workers_[0]->runtime().list().empty(); }));
  EXPECT_EQ((*api().get(fmt::format("/api/v1/runs/{}", id)))["counts"]["running"], 20);
}

TEST_F(ApiTest, AMasterRestartLosesNothingAndWorkersReconcile) {
  json run = createRun({{"count", 6}});
  int id = run["id"];
  waitRun(id, "ready");
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  ASSERT_TRUE(eventually(
      [&] { return (*api().get(fmt::format("/api/v1/runs/{}", id)))["counts"]["running"] == 6; }));
  // While the master is away, one instance stops by itself: the worker's truth wins.
  master_->restart();
  workers_[0]->runtime().stop(std::vector<InstanceId>{{static_cast<RunId>(id), 5}},
                              std::chrono::milliseconds(0));
  ASSERT_TRUE(eventually([&] { return workers_[0]->connected(); }));
  auto after = waitRun(id, "running");
  EXPECT_EQ(after["count"], 6);
  EXPECT_EQ(api().get("/api/v1/images")->size(), 1u);
  ASSERT_TRUE(eventually([&] {
    auto r = api().get(fmt::format("/api/v1/runs/{}/instances/5", id));
    return r && (*r)["state"] == "terminated";
  }));
  EXPECT_EQ((*api().get(fmt::format("/api/v1/runs/{}", id)))["counts"]["running"], 5);
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/stop", id)));
  waitRun(id, "stopped");
}

TEST_F(ApiTest, AWorkerThatDoesNotReturnAfterAMasterRestartIsLost) {
  auto& w2 = addWorker("w2", 100);
  json run = createRun({{"count", 10}, {"policy", "reschedule"}});
  int id = run["id"];
  waitRun(id, "ready");
  ASSERT_EQ(workers_[0]->runtime().list().size(), 5u);
  // w1 goes away while the master is down, so no stream closes in front of the master.
  master_->stop();
  workers_[0]->disconnect();
  master_->start();
  EXPECT_EQ(workers_[0]->runtime().list().size(), 5u);
  ASSERT_TRUE(eventually([&] { return w2.connected(); }));
  // After its grace period the master gives w1 up and reschedules its instances onto w2.
  ASSERT_TRUE(eventually([&] { return w2.runtime().list().size() == 10; }, 15000));
  auto after = waitRun(id, "ready");
  EXPECT_EQ(after["counts"]["booting"], 10) << after.dump();
  auto ws = api().get("/api/v1/workers");
  for (const auto& w : *ws) {
    if (w["name"] == "w1") {
      EXPECT_EQ(w["health"], "lost");
    }
  }
}

TEST_F(ApiTest, EventsStreamRunAndInstanceChanges) {
  std::string seen;
  std::mutex mu;
  std::jthread reader([&] {
    (void)api().stream("/api/v1/events", [&](std::string_view d) {
      std::lock_guard lock(mu);
      seen += d;
      return seen.find("\"state\":\"ready\"") == std::string::npos;
    });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  json run = createRun({{"count", 3}});
  waitRun(run["id"], "ready");
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return seen.find("\"state\":\"ready\"") != std::string::npos;
  }));
  std::lock_guard lock(mu);
  EXPECT_NE(seen.find("event: run\ndata: "), std::string::npos);
  EXPECT_NE(seen.find("event: instances\ndata: "), std::string::npos);
  EXPECT_NE(seen.find("\"state\":\"booting\""), std::string::npos);
}

// Reads a tar.gz with libarchive: file name -> content.
std::map<std::string, std::string> untar(const std::string& bytes) {
  std::map<std::string, std::string> out;
  archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_memory(a, bytes.data(), bytes.size()), ARCHIVE_OK);
  archive_entry* e;
  int r;
  while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    std::string data(static_cast<size_t>(archive_entry_size(e)), '\0');
    if (!data.empty()) {
      EXPECT_EQ(archive_read_data(a, data.data(), data.size()), ssize_t(data.size()));
    }
    out[archive_entry_pathname(e)] = data;
  }
  EXPECT_EQ(r, ARCHIVE_EOF) << archive_error_string(a);  // the archive is whole
  archive_read_free(a);
  return out;
}

TEST_F(ApiTest, LogsDownloadAsTarGzNamingWhatIsOutOfReach) {
  addWorker("w2", 100);
  json run = createRun({{"count", 4}, {"args", "{index}"}});
  int id = run["id"];
  waitRun(id, "ready");
  auto path = fmt::format("/api/v1/runs/{}/logs?format=tar.gz", id);
  auto r = api().request("GET", path);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto files = untar(r->text);
  ASSERT_EQ(files.size(), 4u);
  for (int k = 0; k < 4; ++k) {
    auto name = fmt::format("run-{}/dev-{:04d}.log", id, k);
    ASSERT_TRUE(files.contains(name)) << name;
    EXPECT_NE(files[name].find(fmt::format("args:{}", k)), std::string::npos) << files[name];
  }
  EXPECT_EQ(call("GET", fmt::format("/api/v1/runs/{}/logs?format=zip", id)).second, "bad_request");

  // w1 goes: its instances' logs are out of reach, and the archive says which.
  std::set<std::string> onW1;
  auto insts = api().get(fmt::format("/api/v1/runs/{}/instances", id));
  ASSERT_TRUE(insts);
  for (const auto& i : (*insts)["items"])
    if (i["worker"] == "w1") onW1.insert(i["name"].get<std::string>());
  ASSERT_EQ(onW1.size(), 2u);
  workers_[0]->disconnect();
  waitRun(id, "dirty");
  r = api().request("GET", path);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  files = untar(r->text);
  auto note = files[fmt::format("run-{}/UNAVAILABLE.txt", id)];
  for (const auto& name : onW1) {
    EXPECT_NE(note.find(name + ": "), std::string::npos) << note;
    EXPECT_EQ(files[name + ".log"], "");
  }
  EXPECT_EQ(std::count(note.begin(), note.end(), '\n'), 2) << note;
}

TEST_F(ApiTest, TheOpenApiDocumentDescribesEveryRoute) {
  auto doc = api().get("/api/v1/openapi.json");
  ASSERT_TRUE(doc);
  EXPECT_EQ((*doc)["openapi"], "3.0.3");
  size_t routes = 0;
  for (auto& [path, methods] : (*doc)["paths"].items()) {
    for (auto& [method, op] : methods.items()) {
      std::string p = path;
      for (auto [from, to] : {std::pair{"{id}", "999"}, {"{index}", "0"}, {"{digest}", "x"}})
        if (auto k = p.find(from); k != std::string::npos)
          p.replace(k, std::string(from).size(), to);
      std::string m = method;
      std::transform(m.begin(), m.end(), m.begin(), ::toupper);
      if (p == "/api/v1/events") continue;  // a stream; tested above
      auto r = api().request(m, p, "{}");
      ASSERT_TRUE(r);
      // Every documented route exists: it may refuse the dummy ids, but not as "no such endpoint".
      EXPECT_FALSE(r->status == 404 && r->body.value("message", "").starts_with("no such endpoint"))
          << m << " " << p;
      ++routes;
    }
  }
  EXPECT_GE(routes, 18u);
}

}  // namespace
}  // namespace kuiga::test
