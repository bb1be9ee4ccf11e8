// The REST API against a real master and a worker on the real ns runtime: real processes,
// namespaces and logs, through HTTP and gRPC.
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sys/netlink.hpp"
#include "sys/netns.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/shell.hpp"

namespace kuiga::test {
namespace {

using json = nlohmann::json;

class ApiNsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root (namespaces, cgroups, netlink)";
    }
    master_ = std::make_unique<TestMaster>();
    worker::WorkerNodeConfig cfg;
    cfg.master = master_->url();
    cfg.joinToken = master_->joinToken();  // it enrolls, as a worker on another host does
    cfg.name = uniqueName();
    cfg.stateDir = dir_.path() + "/worker";
    cfg.initPath = ::kuiga::test::initPath();
    cfg.capacity = 1000;
    auto node = worker::WorkerNode::start(cfg);
    ASSERT_TRUE(node) << node.error().message;
    node_ = std::move(*node);
    ASSERT_TRUE(eventually([&] { return node_->connected(); }));
  }
  void TearDown() override {
    if (node_) {
      EXPECT_TRUE(node_->destroy());
    }
  }
  worker::ns::NsRuntime& runtime() { return *node_->nsRuntime(); }
  client::ApiClient& api() { return master_->api(); }
  int create(const std::string& aut, json spec) {
    auto r = api().upload("/api/v1/runs", aut, "aut", {{"spec", spec.dump()}});
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 201) << r->text;
    return r->body.value("id", 0);
  }
  json waitFor(int id, const std::function<bool(const json&)>& pred, int timeoutMs = 30000) {
    json last;
    eventually(
        [&] {
          auto r = api().get(fmt::format("/api/v1/runs/{}", id));
          if (r) last = *r;
          return r && pred(last);
        },
        timeoutMs);
    return last;
  }

  TempDir dir_;
  std::unique_ptr<TestMaster> master_;
  std::unique_ptr<worker::WorkerNode> node_;
};

TEST_F(ApiNsTest, ROOT_ATimedRunReportsLogsAndJitter) {
  int id =
      create(sampleAut(), {{"count", 4}, {"args", "{start_ms} {period_ms}"}, {"period_ms", 50}});
  auto ready = waitFor(id, [](const json& r) { return r["state"] != "pending"; });
  ASSERT_EQ(ready["state"], "ready") << ready.dump();
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  auto running = waitFor(id, [](const json& r) { return r["counts"]["running"] == 4; });
  ASSERT_EQ(running["state"], "running") << running.dump();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));

  auto j = api().get(fmt::format("/api/v1/runs/{}/jitter", id));
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_GE((*j)["run"]["samples"].get<int>(), 4 * 15) << j->dump();
  EXPECT_LT((*j)["run"]["p50"].get<double>(), 50.0);
  EXPECT_EQ((*j)["instances"].size(), 4u);

  auto one = api().request("GET", fmt::format("/api/v1/runs/{}/instances/2/logs", id));
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  EXPECT_GE(std::count(one->text.begin(), one->text.end(), '\n'), 15) << one->text;
  auto merged = api().request("GET", fmt::format("/api/v1/runs/{}/logs", id));
  ASSERT_TRUE(merged);
  for (int i = 0; i < 4; ++i)
    EXPECT_NE(merged->text.find(fmt::format("run-{}/dev-{:04d} ", id, i)), std::string::npos);

  // ?follow=1 streams lines added after the request.
  std::string followed;
  auto r = api().stream(fmt::format("/api/v1/runs/{}/instances/1/logs?follow=1", id),
                        [&](std::string_view d) {
                          followed += d;
                          return std::count(followed.begin(), followed.end(), '\n') < 40;
                        });
  EXPECT_GE(std::count(followed.begin(), followed.end(), '\n'), 40);

  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/stop", id)));
  auto stopped = waitFor(id, [](const json& r) { return r["state"] == "stopped"; });
  EXPECT_EQ(stopped["counts"]["terminated"], 4) << stopped.dump();
  ASSERT_TRUE(api().del(fmt::format("/api/v1/runs/{}", id)));
  waitFor(id, [](const json& r) { return r["state"] == "deleted"; });
  EXPECT_TRUE(runtime().list().empty());
}

TEST_F(ApiNsTest, ROOT_ConsoleReachesTheInstancesStdin) {
  int id = create(std::string(KUIGA_TEST_APPS) + "/echo_console", {{"count", 2}});
  waitFor(id, [](const json& r) { return r["state"] == "ready"; });
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  waitFor(id, [](const json& r) { return r["counts"]["running"] == 2; });
  auto sent = api().post(fmt::format("/api/v1/runs/{}/instances/1/console", id),
                         {{"line", "hello from the API"}});
  ASSERT_TRUE(sent) << sent.error().message;
  EXPECT_TRUE(eventually([&] {
    auto r = api().request("GET", fmt::format("/api/v1/runs/{}/instances/1/logs", id));
    return r && r->text.find("got: hello from the API") != std::string::npos;
  }));
  // One line to every instance, paced at 50 a second.
  auto many = api().request("POST", fmt::format("/api/v1/runs/{}/console", id),
                            json{{"line", "to everyone"}, {"rate", 50}}.dump());
  ASSERT_TRUE(many);
  ASSERT_EQ(many->status, 202) << many->text;
  EXPECT_EQ(many->body["instances"], 2);
  for (int k = 0; k < 2; ++k)
    EXPECT_TRUE(eventually([&] {
      auto r = api().request("GET", fmt::format("/api/v1/runs/{}/instances/{}/logs", id, k));
      return r && r->text.find("got: to everyone") != std::string::npos;
    })) << k;
  // Only the instances named.
  many = api().request("POST", fmt::format("/api/v1/runs/{}/console", id),
                       json{{"line", "just one"}, {"instances", {0}}}.dump());
  ASSERT_TRUE(many);
  EXPECT_EQ(many->body["instances"], 1);
  EXPECT_TRUE(eventually([&] {
    auto r = api().request("GET", fmt::format("/api/v1/runs/{}/instances/0/logs", id));
    return r && r->text.find("got: just one") != std::string::npos;
  }));
  auto status = [&](const json& body) {
    auto r = api().request("POST", fmt::format("/api/v1/runs/{}/console", id), body.dump());
    return r ? r->status : 0;
  };
  EXPECT_EQ(status({{"line", "x"}, {"rate", 0}}), 400);
  EXPECT_EQ(status({{"line", "x"}, {"instances", {99}}}), 404);
  EXPECT_EQ(status({{"line", "a\nb"}}), 400);
  EXPECT_EQ(status({{"nope", 1}}), 400);
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/stop", id)));
  waitFor(id, [](const json& r) { return r["state"] == "stopped"; });
  EXPECT_EQ(status({{"line", "too late"}}), 409);
  ASSERT_TRUE(api().del(fmt::format("/api/v1/runs/{}", id)));
  auto deleted = waitFor(id, [](const json& r) { return r["state"] == "deleted"; });
  EXPECT_EQ(deleted["counts"]["deleted"], 2);
}

TEST_F(ApiNsTest, ROOT_ACrashingAutMakesTheRunDirty) {
  int id = create(std::string(KUIGA_TEST_APPS) + "/exit_code", {{"count", 2}, {"args", "7"}});
  waitFor(id, [](const json& r) { return r["state"] == "ready"; });
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  auto dirty = waitFor(id, [](const json& r) { return r["state"] == "dirty"; });
  ASSERT_EQ(dirty["state"], "dirty") << dirty.dump();
  EXPECT_NE(dirty["reason"].get<std::string>().find("failed"), std::string::npos) << dirty.dump();
  ASSERT_TRUE(api().del(fmt::format("/api/v1/runs/{}", id)));
  waitFor(id, [](const json& r) { return r["state"] == "deleted"; });
  EXPECT_TRUE(runtime().list().empty());
}

// tun6_node opens tun0 as Contiki-NG's native target does, unprivileged, and numbers itself from
// its --prefix with the interface identifier every Contiki native node shares.
TEST_F(ApiNsTest, ROOT_AContikiNativeImageGetsATunAPrefixOfItsOwnAndReachesAnotherDevice) {
  const std::string aut = std::string(KUIGA_TEST_APPS) + "/tun6_node";
  int solo = create(aut, {{"count", 1}, {"profile", "contiki-native"}});
  auto ready = waitFor(solo, [](const json& r) { return r["state"] != "pending"; });
  ASSERT_EQ(ready["state"], "ready") << ready.dump();
  EXPECT_EQ(ready["spec"]["net"], "tun");
  EXPECT_EQ(ready["spec"]["args"], json::array({"--prefix", "{prefix}"}));
  EXPECT_EQ(ready["spec"]["security"]["seccomp"], "default");  // under the default filter
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", solo)));
  auto logOf = [&](int id, int k) {
    auto r = api().request("GET", fmt::format("/api/v1/runs/{}/instances/{}/logs", id, k));
    return r ? r->text : std::string();
  };
  EXPECT_TRUE(eventually([&] {
    return logOf(solo, 0).find(fmt::format("opened tun0 as fd6c:7569:{:x}:0:302:304:506:708",
                                           solo)) != std::string::npos;
  })) << logOf(solo, 0);
  // Two devices with the same interface identifier, each in its own prefix: device 0 asks,
  // device 1 answers, through each instance's kernel (tun0 <-> eth0) and the radio namespace.
  int id = create(aut, {{"count", 2},
                        {"profile", "contiki-native"},
                        {"args", "--prefix {prefix} --ping-index 1 --count 5"}});
  ready = waitFor(id, [](const json& r) { return r["state"] != "pending"; });
  ASSERT_EQ(ready["state"], "ready") << ready.dump();
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  const std::string node0 = fmt::format("fd6c:7569:{:x}:0:302:304:506:708", id);
  const std::string node1 = fmt::format("fd6c:7569:{:x}:1:302:304:506:708", id);
  EXPECT_TRUE(eventually(
      [&] { return logOf(id, 0).find("reply 4 from " + node1) != std::string::npos; }, 20000))
      << logOf(id, 0) << logOf(id, 1);
  EXPECT_NE(logOf(id, 1).find("request 0 from " + node0), std::string::npos) << logOf(id, 1);
  // A net other than tun is refused for the profile, and so is a ZEP radio.
  auto bad = api().upload(
      "/api/v1/runs", aut, "aut",
      {{"spec", json{{"count", 1}, {"profile", "contiki-native"}, {"net", "veth"}}.dump()}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400) << bad->text;
  // Deleting the runs takes their prefixes' routes out of the radio namespace.
  std::string listed;
  auto prefixRoutes = [&] {
    auto in = sys::netns::ThreadGuard::enter(runtime().radioNetnsFd());
    auto nl = sys::Netlink::open();
    size_t n = 0;
    listed.clear();
    if (in && nl)
      if (auto all = nl->routes(AF_INET6))
        for (const auto& r : *all)
          if (r.to.rfind("fd6c:7569:", 0) == 0) {
            ++n;
            listed += fmt::format("{} from {} via {} table {}\n", r.to, r.from, r.via, r.table);
          }
    return n;
  };
  EXPECT_EQ(prefixRoutes(), 3u) << listed;  // 3 devices: a route each
  // And two rules per run (from its addresses, from its prefixes, to its prefixes).
  auto rules = [&] {
    return test::commandOutput(
        fmt::format("nsenter --net=/proc/{}/fd/{} ip -6 rule | grep -c fd6c:7569: "
                    "|| true",
                    ::getpid(), runtime().radioNetnsFd()));
  };
  EXPECT_EQ(rules(), "4\n");
  for (int r : {solo, id}) ASSERT_TRUE(api().del(fmt::format("/api/v1/runs/{}", r)));
  for (int r : {solo, id}) waitFor(r, [](const json& j) { return j["state"] == "deleted"; });
  EXPECT_TRUE(eventually([&] { return prefixRoutes() == 0; })) << listed;
  EXPECT_EQ(rules(), "0\n");
}

TEST_F(ApiNsTest, ROOT_ARiotNativeImageGetsTapNetworkingAndItsTapArgument) {
  // tap_frames attaches to the tap named by its first argument as RIOT native does, and prints
  // what it hears from the other devices.
  int id = create(std::string(KUIGA_TEST_APPS) + "/tap_frames",
                  {{"count", 2}, {"profile", "riot-native"}});
  auto ready = waitFor(id, [](const json& r) { return r["state"] != "pending"; });
  ASSERT_EQ(ready["state"], "ready") << ready.dump();
  EXPECT_EQ(ready["spec"]["net"], "tap");
  EXPECT_EQ(ready["spec"]["args"], json::array({"{tap}"}));
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  EXPECT_TRUE(eventually([&] {
    auto r = api().request("GET", fmt::format("/api/v1/runs/{}/instances/0/logs", id));
    return r && r->text.find(fmt::format("heard run-{}-dev-0001", id)) != std::string::npos;
  }));
  // The Plexer captured every device's frames: tshark reads the run's pcapng and finds each
  // device's broadcasts on its own interface, sent by it and delivered to the other one.
  // (A frame reaches the file within the ring's block timeout, 20 ms; the devices' logs can be
  // ahead of that, so the test asks until every direction shows up.)
  std::string file = dir_.path() + "/run.pcapng";
  std::map<std::string, int> seen;
  char line[256];
  FILE* p = nullptr;
  eventually(
      [&] {
        auto pcap = api().request("GET", fmt::format("/api/v1/runs/{}/pcap", id));
        if (!pcap || pcap->status != 200) return false;
        std::ofstream(file, std::ios::binary | std::ios::trunc) << pcap->text;
        p = ::popen(("tshark -r " + file +
                     " -Y 'eth.type==0x88b5' -T fields -e frame.interface_name -e "
                     "frame.p2p_dir 2>/dev/null")
                        .c_str(),
                    "r");
        if (!p) return false;
        seen.clear();
        while (std::fgets(line, sizeof line, p)) ++seen[line];
        ::pclose(p);
        return seen.size() == 4;
      },
      5000);
  for (int i = 0; i < 2; ++i) {
    EXPECT_GT(seen[fmt::format("run-{}/dev-{:04d}\t0\n", id, i)], 0) << "sent by dev " << i;
    EXPECT_GT(seen[fmt::format("run-{}/dev-{:04d}\t1\n", id, i)], 0) << "delivered to dev " << i;
  }
  EXPECT_EQ(api().request("GET", "/api/v1/runs/999/pcap")->status, 404);
  // The counters agree: each device sent frames and had frames delivered, nothing dropped.
  // The devices still send every 100 ms, and the report reads the kernel's counters before
  // the captured ones, so a frame sent between the two reads counts on the captured side
  // only; a report between two frames shows both sides equal.
  Result<json> radio = failMsg("the radio report was not asked for");
  EXPECT_TRUE(eventually([&] {
    radio = api().get(fmt::format("/api/v1/runs/{}/radio", id));
    return radio && (*radio)["kernel_sent_frames"] == (*radio)["sent_frames"];
  })) << (radio ? radio->dump() : radio.error().message);
  ASSERT_TRUE(radio) << radio.error().message;
  ASSERT_EQ((*radio)["devices"].size(), 2u) << radio->dump();
  for (const auto& d : (*radio)["devices"]) {
    EXPECT_GT(d["sent_frames"].get<uint64_t>(), 0u) << d.dump();
    EXPECT_GT(d["delivered_frames"].get<uint64_t>(), 0u) << d.dump();
    EXPECT_GT(d["kernel_sent_frames"].get<uint64_t>(), 0u) << d.dump();
    EXPECT_EQ(d["missed_frames"], 0) << d.dump();
  }
  EXPECT_EQ((*radio)["ring_drops"], 0);
  EXPECT_EQ((*radio)["missed_frames"], 0);
  // One device alone.
  auto one = api().request("GET", fmt::format("/api/v1/runs/{}/pcap?instance=1", id));
  ASSERT_TRUE(one);
  ASSERT_EQ(one->status, 200) << one->text.substr(0, 300);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << one->text;
  p = ::popen(("tshark -r " + file + " -T fields -e frame.interface_name 2>/dev/null").c_str(),
              "r");
  ASSERT_TRUE(p);
  std::map<std::string, int> names;
  while (std::fgets(line, sizeof line, p)) ++names[line];
  ::pclose(p);
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names.begin()->first, fmt::format("run-{}/dev-0001\n", id));
  EXPECT_EQ(api().request("GET", fmt::format("/api/v1/runs/{}/pcap?instance=7", id))->status, 404);
  EXPECT_EQ(api().request("GET", fmt::format("/api/v1/runs/{}/pcap?instance=x", id))->status, 400);

  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/stop", id)));
  waitFor(id, [](const json& r) { return r["state"] == "stopped"; });
  ASSERT_TRUE(api().del(fmt::format("/api/v1/runs/{}", id)));
  waitFor(id, [](const json& r) { return r["state"] == "deleted"; });
}

// A 2,000-device create showed progress.done 0 for 8 s, then all at once: each instance is
// booting as soon as its init is ready, and the progress moves as the work is done.
TEST_F(ApiNsTest, ROOT_ACreatesProgressMovesAsInstancesBecomeReady) {
  auto img = api().upload("/api/v1/images", std::string(KUIGA_EXAMPLES) + "/periodic", "aut", {});
  ASSERT_TRUE(img);
  auto r =
      api().request("POST", "/api/v1/runs",
                    json{{"image", img->body["digest"]}, {"count", 1000}, {"net", "veth"}}.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->text;
  int id = r->body["id"];
  std::set<uint64_t> seen;
  json last;
  for (int i = 0; i < 1200; ++i) {
    auto v = api().get(fmt::format("/api/v1/runs/{}", id));
    ASSERT_TRUE(v);
    last = *v;
    if (last["state"] != "pending") break;
    if (!last["progress"].is_null()) seen.insert(last["progress"]["done"].get<uint64_t>());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(last["state"], "ready") << last.dump();
  std::erase_if(seen, [](uint64_t d) { return d == 0 || d == 1000; });
  EXPECT_GE(seen.size(), 5u) << "progress values seen between 0 and 1000: " << seen.size();
  ASSERT_TRUE(api().del(fmt::format("/api/v1/runs/{}", id)));
  waitFor(
      id, [](const json& v) { return v["state"] == "deleted"; }, 120000);
}

// Open file descriptors of this process (master and worker both live in it).
size_t openFds() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// Every run the worker ever had left its capture file open (22 -> 1,187 fds after about 1,100
// runs, then "exec kuiga-init: Too many open files"). A run that ends here closes what it opened.
TEST_F(ApiNsTest, ROOT_FileDescriptorsStayFlatOver500Runs) {
  auto img = api().upload("/api/v1/images", std::string(KUIGA_EXAMPLES) + "/periodic", "aut", {});
  ASSERT_TRUE(img);
  std::string digest = img->body["digest"];
  auto cycle = [&] {
    auto r = api().request("POST", "/api/v1/runs",
                           json{{"image", digest}, {"count", 1}, {"net", "veth"}}.dump());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->text;
    int id = r->body["id"];
    ASSERT_EQ(waitFor(id, [](const json& v) { return v["state"] != "pending"; })["state"], "ready");
    ASSERT_TRUE(api().del(fmt::format("/api/v1/runs/{}", id)));
    ASSERT_EQ(waitFor(id, [](const json& v) { return v["state"] == "deleted"; })["state"],
              "deleted");
  };
  for (int i = 0; i < 20; ++i) cycle();  // warm: thread pools, connections, the first leaf
  size_t before = openFds();
  for (int i = 0; i < 480 && !HasFatalFailure(); ++i) cycle();
  size_t after = openFds();
  EXPECT_LE(after, before + 5) << "fds: " << before << " after 20 runs, " << after << " after 500";
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path() + "/worker/pcap"));
}

}  // namespace
}  // namespace kuiga::test
