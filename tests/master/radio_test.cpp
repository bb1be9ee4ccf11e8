// The Plexer's way to a base station, end to end: real udp-sensor instances on the ns runtime
// send through their cell (UE leases, the shaped medium) to a real UDP server in a network
// namespace of the test's own, and the counts must add up.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <filesystem>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sys/file.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/shell.hpp"

namespace kuiga::test {
namespace {

std::string readText(const std::string& path) {
  return sys::readFile(path).value_or("");
}

using json = nlohmann::json;

int sh(const std::string& cmd) {
  return std::system(cmd.c_str());
}

class RadioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root (namespaces, tun, netlink)";
    }
    // The base station: a namespace of this test's own with its addresses on loopback.
    station_ = uniqueName() + "bs";
    ASSERT_EQ(sh(fmt::format("ip netns add {0} && ip -n {0} link set lo up && "
                             "ip -n {0} addr add 192.0.2.1/32 dev lo && "
                             "ip -n {0} addr add 2001:db8::1/128 dev lo",
                             station_)),
              0);
    master_ = std::make_unique<TestMaster>();
    nodeConfig_.master = master_->url();
    nodeConfig_.name = uniqueName();
    nodeConfig_.credentials = credentialsFor(master_->server(), nodeConfig_.name);
    nodeConfig_.stateDir = dir_.path() + "/worker";
    nodeConfig_.initPath = ::kuiga::test::initPath();
    nodeConfig_.capacity = 50;
    startNode();
  }
  void startNode() {
    auto node = worker::WorkerNode::start(nodeConfig_);
    ASSERT_TRUE(node) << node.error().message;
    node_ = std::move(*node);
    ASSERT_TRUE(eventually([&] { return node_->connected(); }));
  }
  void TearDown() override {
    for (pid_t& p : servers_) {
      if (p <= 0) continue;
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, 0);
    }
    if (node_) {
      EXPECT_TRUE(node_->destroy());
    }
    if (!station_.empty()) sh("ip netns del " + station_ + " 2>/dev/null");
  }

  // Runs a server in the station's namespace (killed by TearDown); returns its log's path,
  // also kept in logs_.
  std::string startServer(std::vector<std::string> argv) {
    std::string log = fmt::format("{}/server{}.log", dir_.path(), servers_.size());
    logs_.push_back(log);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      int fd = ::open(("/run/netns/" + station_).c_str(), O_RDONLY);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) _exit(120);
      int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::execv(args[0], args.data());
      _exit(127);
    }
    servers_.push_back(pid);
    return log;
  }
  // A udp-sensor sink in the station's namespace, its log in logs_.
  void startSink(const std::string& port, bool echo) {
    std::vector<std::string> argv = {std::string(KUIGA_EXAMPLES) + "/udp-sensor", "sink", port};
    if (echo) argv.emplace_back("--echo");
    std::string log = startServer(argv);
    ASSERT_TRUE(eventually([&] { return readText(log).find("listening") != std::string::npos; }));
  }

  int create(json spec) {
    auto r = api().upload("/api/v1/runs", std::string(KUIGA_EXAMPLES) + "/udp-sensor", "aut",
                          {{"spec", spec.dump()}});
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 201) << r->text;
    return r->body.value("id", 0);
  }
  json run(int id) {
    auto r = api().get(fmt::format("/api/v1/runs/{}", id));
    return r ? *r : json();
  }
  // Starts run `id` once it is ready and waits until its `devices` have terminated.
  void runToTermination(int id, int devices) {
    ASSERT_TRUE(eventually([&] { return run(id)["state"] == "ready"; }, 30000)) << run(id).dump();
    ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
    ASSERT_TRUE(eventually([&] { return run(id)["counts"]["terminated"] == devices; }, 30000))
        << run(id).dump();
  }
  json radio(int id) {
    auto r = api().get(fmt::format("/api/v1/runs/{}/radio", id));
    return r ? *r : json();
  }
  std::string instanceLog(int id, int k) {
    auto r = api().request("GET", fmt::format("/api/v1/runs/{}/instances/{}/logs", id, k));
    return r ? r->text : "";
  }
  client::ApiClient& api() { return master_->api(); }

  TempDir dir_;
  worker::WorkerNodeConfig nodeConfig_;
  std::string station_;
  std::vector<pid_t> servers_;
  std::vector<std::string> logs_;
  std::unique_ptr<TestMaster> master_;
  std::unique_ptr<worker::WorkerNode> node_;
};

TEST_F(RadioTest, ROOT_WhatTheSensorsSentArrivedOrWasCountedAsDropped) {
  startSink("5683", false);
  constexpr int kDevices = 6, kEach = 40;
  // Two UEs for six devices that send every 50 ms: the two that come first keep their UEs
  // while they send, the others queue (8 frames at most) or lose frames to the full queue,
  // and get a UE only once an active one has been idle 200 ms. The medium loses 20%.
  int id = create({{"count", kDevices},
                   {"args", fmt::format("send 192.0.2.1 5683 50 {}", kEach)},
                   {"radio",
                    {{"uplink", station_},
                     {"ues", 2},
                     {"idle_timeout_ms", 200},
                     {"ue_queue", 8},
                     {"loss", 0.2},
                     {"rate_bps", 200000},
                     {"delay_ms", 3},
                     {"seed", 11}}}});
  ASSERT_TRUE(eventually([&] { return run(id)["state"] == "ready"; }, 30000)) << run(id).dump();
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  // The sensors stop after kEach readings; then the leases idle out and the queue drains.
  ASSERT_TRUE(eventually([&] { return run(id)["counts"]["terminated"] == kDevices; }, 30000))
      << run(id).dump();
  json r;
  ASSERT_TRUE(eventually(
      [&] {
        r = radio(id);
        return r["cells"].size() == 1 && r["cells"][0]["queue_depth"] == 0 &&
               r["cells"][0]["leases"] == 0;
      },
      10000))
      << r.dump(2);

  // What the sensors say they sent, by their own logs.
  uint64_t said = 0;
  for (int k = 0; k < kDevices; ++k) said += countLines(instanceLog(id, k), "sent ");
  EXPECT_EQ(said, uint64_t{kDevices} * kEach);
  // What arrived, by the server's log.
  uint64_t arrived = 0;
  ASSERT_TRUE(eventually([&] {
    arrived = countLines(readText(logs_[0]), "recv ");
    return arrived == r["uplink_frames"].get<uint64_t>();
  })) << arrived
      << " arrived; " << r.dump(2);
  EXPECT_EQ(r["to_station_frames"].get<uint64_t>(), said) << r.dump(2);
  EXPECT_EQ(said, arrived + totalDropped(r)) << r.dump(2);

  // Each cause had its share, and the server saw the UEs' addresses, not the devices'.
  EXPECT_GT(r["dropped"]["loss"].get<uint64_t>(), 0u) << r.dump(2);
  EXPECT_GT(r["dropped"]["ue_queue_full"].get<uint64_t>(), 0u) << r.dump(2);
  EXPECT_GT(r["queued_frames"].get<uint64_t>(), 0u) << r.dump(2);
  double lossShare = static_cast<double>(r["dropped"]["loss"].get<uint64_t>()) /
                     static_cast<double>(said - r["dropped"]["ue_queue_full"].get<uint64_t>());
  EXPECT_NEAR(lossShare, 0.2, 0.1) << r.dump(2);
  const auto& cell = r["cells"][0];
  EXPECT_EQ(cell["max_leases"], 2) << cell.dump();
  EXPECT_GT(cell["grants"].get<uint64_t>(), 2u) << cell.dump();  // the UEs changed hands
  EXPECT_EQ(cell["grants"], cell["releases"]) << cell.dump();
  EXPECT_GT(cell["airtime_ms"].get<double>(), 0.0);
  std::string sink = readText(logs_[0]);
  EXPECT_NE(sink.find(fmt::format("100.{}.0.1", 64 + id % 64)), std::string::npos) << sink;
  EXPECT_EQ(sink.find("10." + std::to_string(id % 256) + "."), std::string::npos) << sink;
  // Every grant and release is in the lease log.
  std::string leases = readText(fmt::format("{}/worker/radio/run-{}.leases", dir_.path(), id));
  EXPECT_EQ(countLines(leases, " grant "), cell["grants"].get<uint64_t>()) << leases;
  EXPECT_EQ(countLines(leases, " release "), cell["releases"].get<uint64_t>()) << leases;
  EXPECT_NE(leases.find(fmt::format("device=run-{}/dev-", id)), std::string::npos);
  // And the same log through the API.
  auto viaApi = api().request("GET", fmt::format("/api/v1/runs/{}/radio/leases", id));
  ASSERT_TRUE(viaApi);
  EXPECT_EQ(viaApi->text, leases);
  auto none = api().request("GET", "/api/v1/runs/999/radio/leases");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);
}

TEST_F(RadioTest, ROOT_RepliesComeBackOverIpv6ToTheDeviceHoldingTheUe) {
  startSink("5684", true);
  constexpr int kDevices = 3, kEach = 10;
  int id = create({{"count", kDevices},
                   {"args", fmt::format("send 2001:db8::1 5684 100 {} --replies", kEach)},
                   {"radio", {{"uplink", station_}, {"ues", 3}}}});
  ASSERT_NO_FATAL_FAILURE(runToTermination(id, kDevices));
  json r = radio(id);
  EXPECT_EQ(r["uplink_frames"], kDevices * kEach) << r.dump(2);
  EXPECT_EQ(totalDropped(r), 0u) << r.dump(2);
  for (int k = 0; k < kDevices; ++k) {
    std::string log = instanceLog(id, k);
    // The reply echoes the device's own reading: it reached the right device.
    size_t replies = countLines(log, "reply ack reading ");
    EXPECT_GE(replies, static_cast<size_t>(kEach - 1)) << log;
    EXPECT_NE(log.find(fmt::format("from run-{}-dev-{:04}", id, k)), std::string::npos) << log;
    for (const auto& d : r["devices"]) {
      if (d["name"] == fmt::format("run-{}/dev-{:04}", id, k)) {
        EXPECT_GE(d["downlink_frames"].get<uint64_t>(), replies) << d.dump();
      }
    }
  }
  std::string sink = readText(logs_[0]);
  EXPECT_NE(sink.find(fmt::format("fd6b:7569:6762:{:x}::", id)), std::string::npos) << sink;
}

// Devices in groups share their group's address: each sends from its own port ({port}), by
// which the uplink tells them apart, and each gets its replies back at that port.
TEST_F(RadioTest, ROOT_DevicesInGroupsAreToldApartByPortOnTheUplink) {
  startSink("5684", true);
  constexpr int kDevices = 4, kEach = 10;
  int id = create(
      {{"count", kDevices},
       {"isolation", "group"},
       {"group_size", 2},
       {"args", fmt::format("send 2001:db8::1 5684 100 {} --replies --from-port {{port}}", kEach)},
       {"radio", {{"uplink", station_}, {"ues", kDevices}}}});
  ASSERT_NO_FATAL_FAILURE(runToTermination(id, kDevices));
  json r = radio(id);
  EXPECT_EQ(r["uplink_frames"], kDevices * kEach) << r.dump(2);
  EXPECT_EQ(totalDropped(r), 0u) << r.dump(2);
  std::map<std::string, json> byName;
  for (const auto& d : r["devices"]) byName[d["name"].get<std::string>()] = d;
  for (int k = 0; k < kDevices; ++k) {
    std::string log = instanceLog(id, k);
    size_t replies = countLines(log, "reply ack reading ");
    EXPECT_GE(replies, static_cast<size_t>(kEach - 1)) << log;
    // Counted against the device itself, not against its group's first device.
    const json& d = byName[fmt::format("run-{}/dev-{:04}", id, k)];
    EXPECT_EQ(d.value("uplink_frames", 0u), static_cast<uint64_t>(kEach)) << r.dump(2);
    EXPECT_GE(d.value("downlink_frames", 0u), replies) << d.dump();
  }
}

// A group's device that sends from a port not its own (an ephemeral one) cannot be told apart
// from its neighbours: what it sends is counted against its group's first device, and its
// replies still reach its socket, by port, in the group's one namespace.
TEST_F(RadioTest, ROOT_WhatAGroupsDeviceSendsFromAnotherPortCountsAgainstTheGroupsFirst) {
  startSink("5687", true);
  constexpr int kDevices = 4, kEach = 5;
  int id = create({{"count", kDevices},
                   {"isolation", "group"},
                   {"group_size", 2},
                   {"args", fmt::format("send 2001:db8::1 5687 100 {} --replies", kEach)},
                   {"radio", {{"uplink", station_}, {"ues", kDevices}}}});
  ASSERT_NO_FATAL_FAILURE(runToTermination(id, kDevices));
  json r = radio(id);
  EXPECT_EQ(r["uplink_frames"], kDevices * kEach) << r.dump(2);
  std::map<std::string, json> byName;
  for (const auto& d : r["devices"]) byName[d["name"].get<std::string>()] = d;
  for (int k = 0; k < kDevices; ++k) {
    // A device nothing was counted against is not listed.
    auto d = byName.find(fmt::format("run-{}/dev-{:04}", id, k));
    const uint64_t counted = d == byName.end() ? 0 : d->second.value("uplink_frames", 0u);
    EXPECT_EQ(counted, k % 2 == 0 ? 2u * kEach : 0u) << r.dump(2);
    std::string log = instanceLog(id, k);
    EXPECT_GE(countLines(log, "reply ack reading "), static_cast<size_t>(kEach - 1)) << log;
  }
}

// A Contiki-NG native device's stack numbers itself in its own prefix behind tun0: its requests
// reach the base station through a UE, and the answers come back to that address (not to the
// instance's eth0 address).
TEST_F(RadioTest, ROOT_AContikiDeviceInItsOwnPrefixReachesTheBaseStationAndHearsBack) {
  startSink("5686", true);
  constexpr int kDevices = 2, kEach = 5;
  auto r = api().upload(
      "/api/v1/runs", std::string(KUIGA_TEST_APPS) + "/tun6_node", "aut",
      {{"spec",
        json{{"count", kDevices},
             {"profile", "contiki-native"},
             {"args", fmt::format("--prefix {{prefix}} --to 2001:db8::1 5686 --count {}", kEach)},
             {"radio", {{"uplink", station_}, {"ues", 1}}}}
            .dump()}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->text;
  int id = r->body.value("id", 0);
  ASSERT_TRUE(eventually([&] { return run(id)["state"] == "ready"; }, 30000)) << run(id).dump();
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  for (int k = 0; k < kDevices; ++k)
    EXPECT_TRUE(eventually(
        [&] {
          return instanceLog(id, k).find(fmt::format("reply {} from 2001:db8::1", kEach - 1)) !=
                 std::string::npos;
        },
        20000))
        << instanceLog(id, k) << radio(id).dump(2);
  json rr = radio(id);
  EXPECT_GE(rr["uplink_frames"].get<uint64_t>(), uint64_t{kDevices * kEach}) << rr.dump(2);
  EXPECT_GE(rr["downlink_frames"].get<uint64_t>(), uint64_t{kDevices * kEach}) << rr.dump(2);
}

// libcoap's coap-server (Debian's libcoap3-bin) as the base station, its coap-client as the
// AUT: confirmable requests that need the server's answer, four clients sharing two UEs.
TEST_F(RadioTest, ROOT_CoapClientsGetAnswersFromARealCoapServerThroughTwoUes) {
  ASSERT_EQ(::access("/usr/bin/coap-server-notls", X_OK), 0) << "install libcoap3-bin";
  std::string log = startServer({"/usr/bin/coap-server-notls", "-A", "192.0.2.1", "-v", "4"});
  constexpr int kDevices = 4;
  auto r = api().upload(
      "/api/v1/runs", "/usr/bin/coap-client-notls", "aut",
      {{"spec", json{{"count", kDevices},
                     {"args", "-m get -B 20 coap://192.0.2.1/"},
                     {"radio", {{"uplink", station_}, {"ues", 2}, {"idle_timeout_ms", 300}}}}
                    .dump()}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->text;
  int id = r->body.value("id", 0);
  ASSERT_TRUE(eventually([&] { return run(id)["state"] == "ready"; }, 30000)) << run(id).dump();
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  ASSERT_TRUE(eventually([&] { return run(id)["counts"]["terminated"] == kDevices; }, 40000))
      << run(id).dump() << readText(log);
  for (int k = 0; k < kDevices; ++k) {
    // The server's greeting, as the client printed it.
    EXPECT_NE(instanceLog(id, k).find("This is a test server"), std::string::npos)
        << "device " << k << ": " << instanceLog(id, k) << "\n"
        << radio(id).dump(2);
  }
  json rr = radio(id);
  EXPECT_EQ(rr["cells"][0]["max_leases"], 2) << rr.dump(2);
  EXPECT_GE(rr["cells"][0]["grants"].get<uint64_t>(), static_cast<uint64_t>(kDevices));
  EXPECT_GE(rr["downlink_frames"].get<uint64_t>(), static_cast<uint64_t>(kDevices));
}

// Packets the kernel drops before the Plexer reads them (the queue of the tun they are routed
// into is full) were sent toward the base station all the same: the run's gateway_drops counts
// them, so that what the devices sent is what the Plexer read plus what the kernel dropped.
TEST_F(RadioTest, ROOT_WhatTheKernelDroppedBeforeThePlexerReadItIsCounted) {
  startSink("5689", false);
  constexpr int kDevices = 4, kEach = 2000;
  int id = create({{"count", kDevices},
                   {"args", fmt::format("flood 192.0.2.1 5689 {} 1 64", kEach)},
                   {"radio", {{"uplink", station_}}}});
  ASSERT_TRUE(eventually([&] { return run(id)["state"] == "ready"; }, 30000)) << run(id).dump();
  // A queue of one packet in front of the Plexer: bursts of four senders overflow it.
  std::string pin;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path()))
    if (e.path().filename() == "radio.netns") pin = e.path().string();
  ASSERT_FALSE(pin.empty());
  ASSERT_EQ(std::system(("nsenter --net=" + pin + " ip link set kpx0 txqueuelen 1").c_str()), 0);
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  uint64_t sent = 0;
  ASSERT_TRUE(eventually(
      [&] {
        sent = 0;
        for (int k = 0; k < kDevices; ++k) {
          auto log = instanceLog(id, k);
          auto at = log.find("sent ");
          if (at == std::string::npos) return false;
          sent += std::stoull(log.substr(at + 5));
        }
        return true;
      },
      20000));
  EXPECT_EQ(sent, uint64_t{kDevices * kEach});
  json r;
  ASSERT_TRUE(eventually([&] {
    r = radio(id);
    // Within 1%: a burst can also overflow a queue on the way (a veth's, the bridge's), which
    // no counter of ours sees.
    return r["to_station_frames"].get<uint64_t>() + r["gateway_drops"].get<uint64_t>() >=
           sent * 99 / 100;
  })) << r.dump();
  const uint64_t read = r["to_station_frames"], dropped = r["gateway_drops"];
  EXPECT_GT(dropped, 0u) << r.dump();
  // (A device's own IPv6 router and neighbour traffic goes that way too: a few packets.)
  EXPECT_LE(read + dropped, sent + 4 * kDevices) << r.dump();
}

TEST_F(RadioTest, ROOT_ARestartedWorkerReopensTheCellAndTrafficFlowsOn) {
  startSink("5685", false);
  // 80 readings 100 ms apart: the worker process restarts while they are being sent.
  int id = create({{"count", 2},
                   {"args", "send 192.0.2.1 5685 100 80"},
                   {"radio", {{"uplink", station_}, {"ues", 2}}}});
  ASSERT_TRUE(eventually([&] { return run(id)["state"] == "ready"; }, 30000)) << run(id).dump();
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  ASSERT_TRUE(eventually([&] { return countLines(readText(logs_[0]), "recv ") >= 10; }));
  node_.reset();  // the worker process "exits": instances, radio network and pins stay
  // A spec file half-written when the worker died is not read back.
  std::ofstream(nodeConfig_.stateDir + "/radio/run-77.radio.json.tmp") << "{\"uplink\": ";
  size_t before = countLines(readText(logs_[0]), "recv ");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  startNode();
  // The new worker process reopened the run's cell from its state directory.
  ASSERT_TRUE(
      eventually([&] { return countLines(readText(logs_[0]), "recv ") >= before + 10; }, 20000))
      << readText(logs_[0]);
  json r = radio(id);
  ASSERT_EQ(r["cells"].size(), 1u) << r.dump(2);
  EXPECT_GT(r["uplink_frames"].get<uint64_t>(), 0u) << r.dump(2);
}

TEST_F(RadioTest, ROOT_OneRunCannotReachAnotherRunsDevicesPastThePlexer) {
  // Run B: one device listening. Run A: one device sending to it, by B's address.
  int b = create({{"count", 1}, {"args", "sink 9000"}, {"radio", {{"uplink", station_}}}});
  ASSERT_TRUE(eventually([&] { return run(b)["state"] == "ready"; }, 30000)) << run(b).dump();
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", b)));
  ASSERT_TRUE(eventually([&] { return instanceLog(b, 0).find("listening") != std::string::npos; }));
  int a = create({{"count", 1},
                  {"args", fmt::format("send {} 9000 50 20", ipv4Address({uint32_t(b), 0}))},
                  {"radio", {{"uplink", station_}}}});
  ASSERT_TRUE(eventually([&] { return run(a)["state"] == "ready"; }, 30000)) << run(a).dump();
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", a)));
  ASSERT_TRUE(eventually([&] { return run(a)["counts"]["terminated"] == 1; }, 30000));
  // Every datagram went to the Plexer (and on to the base station's namespace, which has no
  // route to the radio network); none reached run B's device.
  EXPECT_EQ(radio(a)["to_station_frames"], 20) << radio(a).dump(2);
  EXPECT_EQ(countLines(instanceLog(b, 0), "recv "), 0u) << instanceLog(b, 0);
  // /metrics asks both live runs (at once) and has each one's series.
  auto metrics = api().request("GET", "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(
      metrics->text.find(fmt::format("kuiga_plexer_to_station_frames_total{{run=\"{}\"}} 20\n", a)),
      std::string::npos)
      << metrics->text;
  EXPECT_NE(
      metrics->text.find(fmt::format("kuiga_plexer_to_station_frames_total{{run=\"{}\"}} 0\n", b)),
      std::string::npos)
      << metrics->text;
}

TEST_F(RadioTest, ROOT_AWorkerRestartsEvenWhenItsCellsCannotBeReopened) {
  int id = create(
      {{"count", 1}, {"args", "send 192.0.2.1 5686 100 100"}, {"radio", {{"uplink", station_}}}});
  ASSERT_TRUE(eventually([&] { return run(id)["state"] == "ready"; }, 30000)) << run(id).dump();
  ASSERT_EQ(radio(id)["cells"].size(), 1u);
  node_.reset();
  // Meanwhile the base station's namespace goes away, and another cell's spec is damaged.
  ASSERT_EQ(sh("ip netns del " + station_), 0);
  std::ofstream(nodeConfig_.stateDir + "/radio/run-78.radio.json") << "{\"uplink\": 5}";
  startNode();  // starts, re-adopts the instance, and says what it could not reopen
  ASSERT_TRUE(eventually([&] { return radio(id).contains("cells"); }));
  EXPECT_TRUE(radio(id)["cells"].empty()) << radio(id).dump(2);
  EXPECT_EQ(run(id)["counts"]["booting"], 1) << run(id).dump();
}

TEST_F(RadioTest, ROOT_AMissingBaseStationNamespaceFailsTheInstancesWithTheReason) {
  int id = create({{"count", 2},
                   {"args", "send 192.0.2.1 5683 50 1"},
                   {"radio", {{"uplink", station_ + "-nope"}}}});
  ASSERT_TRUE(eventually([&] { return run(id)["state"] == "dirty"; }, 30000)) << run(id).dump();
  auto inst = api().get(fmt::format("/api/v1/runs/{}/instances/0", id));
  ASSERT_TRUE(inst);
  EXPECT_NE(inst->dump().find("no network namespace '" + station_ + "-nope'"), std::string::npos)
      << inst->dump();
}

}  // namespace
}  // namespace kuiga::test
