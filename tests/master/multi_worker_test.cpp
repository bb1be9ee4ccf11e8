// A 300-device run is spread over the three workers of MultiWorkerTest; one worker is killed
// with SIGKILL (lost, then rescheduled); the master is killed with SIGKILL and restarted (state
// intact); the killed worker comes back and converges. And a run spread over them is one radio
// network.
#include "tests/master/multi_worker_fixture.hpp"

namespace kuiga::test {
namespace {

TEST_F(MultiWorkerTest, ROOT_SpreadLoseRescheduleRestartConverge) {
  auto created = api_->upload("/api/v1/runs", sampleAut(), "aut",
                              {{"spec", json{{"count", 300},
                                             {"args", "{start_ms} {period_ms}"},
                                             {"period_ms", 1000},
                                             {"policy", "reschedule"}}
                                            .dump()}});
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->text;
  int id = created->body["id"];
  ASSERT_TRUE(eventually([&] { return run(id)["state"] == "ready"; }, 120000))
      << run(id).dump() << logs();
  auto spread = loads();
  for (const auto& n : names_) EXPECT_EQ(spread[n], 100u) << n;
  // Workers registered their labels and connected from their own hosts' addresses.
  auto registered = api_->get("/api/v1/workers");
  ASSERT_TRUE(registered);
  for (const auto& w : *registered) {
    int k = w["name"].get<std::string>().back() - '0';
    EXPECT_EQ(w["labels"]["host"], fmt::format("h{}", k)) << w.dump();
    EXPECT_NE(w["address"].get<std::string>().find(fmt::format("10.213.{}.2", k)),
              std::string::npos)
        << w.dump();
  }

  ASSERT_TRUE(api_->post(fmt::format("/api/v1/runs/{}/start", id)));
  ASSERT_TRUE(eventually([&] { return run(id)["counts"]["running"] == 300; }, 60000))
      << run(id).dump() << logs();

  // SIGKILL worker 1: lost within seconds, its 100 instances rescheduled and started elsewhere.
  auto killedAt = std::chrono::steady_clock::now();
  killAndReap(workers_[1], SIGKILL);
  ASSERT_TRUE(eventually(
      [&] {
        auto ws = api_->get("/api/v1/workers");
        for (const auto& w : *ws)
          if (w["name"] == names_[1]) return w["health"] == "lost";
        return false;
      },
      10000));
  double detectS =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killedAt).count();
  EXPECT_LT(detectS, 6.0);
  RecordProperty("lost_detected_s", fmt::format("{:.2f}", detectS));
  ASSERT_TRUE(eventually(
      [&] {
        auto r = run(id);
        auto l = loads();
        return r["counts"]["running"] == 300 && r["counts"]["lost"] == 0 &&
               r["state"] == "running" && l[names_[0]] + l[names_[2]] == 300;
      },
      60000))
      << run(id).dump() << logs();
  auto after = loads();
  EXPECT_EQ(after[names_[1]], 0u);
  EXPECT_EQ(after[names_[0]] + after[names_[2]], 300u) << run(id).dump() << logs();

  // SIGKILL the master and start it again: nothing is lost, workers reconnect.
  killAndReap(master_, SIGKILL);
  startMaster();
  ASSERT_TRUE(eventually([&] { return online() == 2; }, 20000)) << logs();
  auto restored = run(id);
  EXPECT_EQ(restored["state"], "running") << restored.dump();
  EXPECT_EQ(restored["count"], 300);
  EXPECT_TRUE(eventually([&] { return run(id)["counts"]["running"] == 300; }, 20000))
      << run(id).dump();
  EXPECT_EQ(api_->get("/api/v1/images")->size(), 1u);

  // The killed worker comes back with its old instances (re-adopted by its recovery): they
  // were rescheduled, so the master has it remove them, and the cluster converges.
  startWorker(1);
  ASSERT_TRUE(eventually(
      [&] {
        auto ws = api_->get("/api/v1/workers");
        for (const auto& w : *ws)
          if (w["name"] == names_[1]) return w["online"] == true;
        return false;
      },
      30000))
      << logs();
  EXPECT_TRUE(eventually(
      [&] {
        std::ifstream in(dir_.path() + "/w1.log");
        std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        return s.find("removing 100 instances the master no longer wants") != std::string::npos;
      },
      30000))
      << logs();
  EXPECT_EQ(run(id)["counts"]["running"], 300);
  EXPECT_EQ(loads()[names_[1]], 0u);

  ASSERT_TRUE(api_->del(fmt::format("/api/v1/runs/{}", id)));
  EXPECT_TRUE(eventually([&] { return run(id)["state"] == "deleted"; }, 60000)) << logs();
}

// Sends "ping" to ADDR:9000 from inside a device's network namespace and prints the sink's
// answer ("ack ping"), or "none" after 3 s.
constexpr const char* kPing = R"(
import socket, sys
s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for _ in range(3):
    s.sendto(b'ping', (sys.argv[1], 9000))
    try:
        print(s.recv(100).decode())
        break
    except socket.timeout:
        pass
else:
    print('none')
)";

// A run spread over the three workers is one radio network: a device on one worker reaches
// devices on the others over IPv4 and IPv6; when a worker is lost, the others forget its
// devices.
TEST_F(MultiWorkerTest, ROOT_ARunSpreadOverWorkersIsOneRadioNetwork) {
  auto created = api_->upload(
      "/api/v1/runs", std::string(KUIGA_EXAMPLES) + "/udp-sensor", "aut",
      {{"spec", json{{"count", 3}, {"args", "sink 9000 --echo"}, {"policy", "dirty"}}.dump()}});
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->text;
  int id = created->body["id"];
  ASSERT_TRUE(eventually([&] { return run(id)["state"] == "ready"; }, 60000)) << logs();
  ASSERT_TRUE(api_->post(fmt::format("/api/v1/runs/{}/start", id)));
  ASSERT_TRUE(eventually([&] { return run(id)["counts"]["running"] == 3; }, 30000)) << logs();
  std::map<uint32_t, int> hostOf;  // device index -> worker k
  auto insts = api_->get(fmt::format("/api/v1/runs/{}/instances", id));
  ASSERT_TRUE(insts);
  for (const auto& i : (*insts)["items"])
    hostOf[i["index"].get<uint32_t>()] = i["worker"].get<std::string>().back() - '0';
  ASSERT_EQ(hostOf.size(), 3u);
  ASSERT_NE(hostOf[0], hostOf[1]);
  ASSERT_NE(hostOf[0], hostOf[2]);
  const std::string ping = dir_.path() + "/ping.py";
  std::ofstream(ping) << kPing;
  auto initPid = [&](uint32_t index) {
    return commandOutput(
        fmt::format("pgrep -f -- '^kuiga-init --root /run/kuiga/{}/root .*"
                    "--hostname run-{}-dev-{:04} '",
                    names_[hostOf[index]], id, index));
  };
  auto pingFrom = [&](uint32_t from, const std::string& to) {
    std::string pid = initPid(from);
    while (!pid.empty() && pid.back() == '\n') pid.pop_back();
    std::string got = commandOutput(fmt::format("nsenter -t {} -n python3 {} {}", pid, ping, to));
    while (!got.empty() && got.back() == '\n') got.pop_back();
    return got;
  };
  // Each device's AUT (its init's child) runs as a uid of its worker's range.
  for (uint32_t i = 0; i < 3; ++i) {
    std::string init = initPid(i);
    while (!init.empty() && init.back() == '\n') init.pop_back();
    std::string aut = commandOutput(fmt::format("cat /proc/{0}/task/{0}/children", init));
    const uint32_t uid = std::stoul(
        commandOutput(fmt::format("awk '/^Uid:/ {{print $2}}' /proc/{}/status", std::stoi(aut))));
    EXPECT_GE(uid, uidBase(hostOf[i])) << i;
    EXPECT_LT(uid, uidBase(hostOf[i]) + 65536) << i;
  }
  EXPECT_EQ(pingFrom(0, ipv4Address({static_cast<RunId>(id), 1})), "ack ping") << logs();
  EXPECT_EQ(pingFrom(0, ipv6Address({static_cast<RunId>(id), 2})), "ack ping") << logs();
  EXPECT_EQ(pingFrom(2, ipv4Address({static_cast<RunId>(id), 1})), "ack ping") << logs();

  // Device 1's worker goes: the others drop its entries.
  const int lost = hostOf[1];
  const std::string radio0 = fmt::format("{}/w{}/radio.netns", dir_.path(), hostOf[0]);
  auto tunnelEntries = [&] {
    return commandOutput(fmt::format("nsenter --net={} bridge fdb show dev rx{:x}", radio0, id));
  };
  ASSERT_NE(tunnelEntries().find(underlayAddress(lost)), std::string::npos) << tunnelEntries();
  killAndReap(workers_[lost], SIGKILL);
  EXPECT_TRUE(eventually(
      [&] { return tunnelEntries().find(underlayAddress(lost)) == std::string::npos; }, 20000))
      << tunnelEntries() << logs();
  EXPECT_EQ(pingFrom(0, ipv6Address({static_cast<RunId>(id), 2})), "ack ping") << logs();
  ASSERT_TRUE(api_->del(fmt::format("/api/v1/runs/{}", id)));
  EXPECT_TRUE(eventually([&] { return run(id)["state"] == "deleted"; }, 60000)) << logs();
  // The survivors' tunnels went with the run.
  EXPECT_EQ(commandOutput("nsenter --net=" + radio0 + " ip -o link show type vxlan"), "");
}

}  // namespace
}  // namespace kuiga::test
