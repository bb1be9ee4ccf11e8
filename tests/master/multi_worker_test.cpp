// Three workers, each a separate `kuiga worker` process in its own network namespace ("host"),
// reach a `kuiga master` process over veth links. A 300-device run is spread over them; one
// worker is killed with SIGKILL (lost, then rescheduled); the master is killed with SIGKILL
// and restarted (state intact); the killed worker comes back and converges. The hosts share an
// underlay network too (a bridge in a namespace of its own, MTU 1550), where the workers' runs'
// radio networks meet over VXLAN.
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/identity.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/shell.hpp"

namespace kuiga::test {
namespace {

using json = nlohmann::json;

int freePort() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

int sh(const std::string& cmd) {
  return std::system(cmd.c_str());
}

// Starts `kuiga args...`, in network namespace `netns` when given; output to `log`.
pid_t spawn(const std::vector<std::string>& args, const std::string& netns,
            const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (!netns.empty()) {
      int fd = ::open(("/run/netns/" + netns).c_str(), O_RDONLY);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) _exit(120);
    }
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(out, 1);
    ::dup2(out, 2);
    std::vector<char*> argv{const_cast<char*>(KUIGA_KUIGA_PATH)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(KUIGA_KUIGA_PATH, argv.data());
    _exit(127);
  }
  return pid;
}

void killAndReap(pid_t& pid, int sig) {
  if (pid <= 0) return;
  ::kill(pid, sig);
  int st;
  ::waitpid(pid, &st, 0);
  pid = -1;
}

class MultiWorkerTest : public ::testing::Test {
 protected:
  static constexpr int kWorkers = 3;

  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root (namespaces, veth)";
    }
    prefix_ = uniqueName();
    port_ = freePort();
    rpcPort_ = freePort();
    for (int k = 0; k < kWorkers; ++k) {
      std::string ns = fmt::format("{}h{}", prefix_, k), link = fmt::format("{}v{}", prefix_, k);
      names_.push_back(fmt::format("{}w{}", prefix_, k));
      netns_.push_back(ns);
      links_.push_back(link);
      ASSERT_EQ(
          sh(fmt::format("ip netns add {} && ip link add {} type veth peer name eth0 netns {} "
                         "&& ip addr add 10.213.{}.1/30 dev {} && ip link set {} up && "
                         "ip -n {} addr add 10.213.{}.2/30 dev eth0 && ip -n {} link set "
                         "eth0 up && ip -n {} link set lo up",
                         ns, link, ns, k, link, link, ns, k, ns, ns)),
          0);
    }
    // The underlay: a switch (a bridge in a namespace of its own) with a port per host.
    underlay_ = prefix_ + "ul";
    netns_.push_back(underlay_);
    ASSERT_EQ(sh(fmt::format("ip netns add {0} && ip -n {0} link add br0 type bridge && "
                             "ip -n {0} link set br0 up",
                             underlay_)),
              0);
    for (int k = 0; k < kWorkers; ++k)
      ASSERT_EQ(sh(fmt::format("ip -n {0} link add u{1} mtu 1550 master br0 type veth peer name "
                               "ul0 netns {2} mtu 1550 && ip -n {0} link set u{1} up && "
                               "ip -n {2} addr add {3}/24 dev ul0 && ip -n {2} link set ul0 up",
                               underlay_, k, netns_[k], underlayAddress(k))),
                0);
    startMaster();
    for (int k = 0; k < kWorkers; ++k) startWorker(k);
    ASSERT_TRUE(eventually([&] { return online() == kWorkers; }, 30000)) << logs();
  }

  void TearDown() override {
    for (auto& p : workers_) killAndReap(p, SIGTERM);  // --remove-on-exit cleans up
    killAndReap(master_, SIGKILL);
    for (size_t k = 0; k < names_.size(); ++k)
      sh(fmt::format("{} worker recover --destroy --name {} --state-dir {}/w{} >/dev/null 2>&1",
                     KUIGA_KUIGA_PATH, names_[k], dir_.path(), k));
    for (const auto& ns : netns_) sh("ip netns del " + ns + " 2>/dev/null");
    for (const auto& l : links_) sh("ip link del " + l + " 2>/dev/null");
  }

  void startMaster() {
    master_ = spawn({"master", "--data", dir_.path() + "/master", "--host", "0.0.0.0", "--port",
                     std::to_string(port_), "--rpc", fmt::format("0.0.0.0:{}", rpcPort_)},
                    "", dir_.path() + "/master.log");
    api_ = std::make_unique<client::ApiClient>(fmt::format("http://127.0.0.1:{}", port_));
    ASSERT_TRUE(eventually([&] { return static_cast<bool>(api_->get("/api/v1/cluster")); }))
        << logs();
  }

  void startWorker(int k) {
    if (workers_.size() <= static_cast<size_t>(k)) workers_.resize(k + 1, -1);
    workers_[k] = spawn({"worker", "--master", fmt::format("http://10.213.{}.1:{}", k, port_),
                         "--name", names_[k], "--state-dir", fmt::format("{}/w{}", dir_.path(), k),
                         "--capacity", "160", "--remove-on-exit", "--label",
                         fmt::format("host=h{}", k), "--underlay-address", underlayAddress(k)},
                        netns_[k], fmt::format("{}/w{}.log", dir_.path(), k));
  }

  static std::string underlayAddress(int k) { return fmt::format("10.214.0.{}", k + 1); }

  int online() {
    int n = 0;
    if (auto ws = api_->get("/api/v1/workers"))
      for (const auto& w : *ws) n += w["online"].get<bool>();
    return n;
  }

  json run(int id) {
    auto r = api_->get(fmt::format("/api/v1/runs/{}", id));
    return r ? *r : json();
  }

  std::map<std::string, uint64_t> loads() {
    std::map<std::string, uint64_t> out;
    if (auto ws = api_->get("/api/v1/workers"))
      for (const auto& w : *ws) out[w["name"]] = w["load"];
    return out;
  }

  std::string logs() {
    std::string out;
    for (const auto& f : {std::string("master.log"), std::string("w0.log"), std::string("w1.log"),
                          std::string("w2.log")}) {
      std::ifstream in(dir_.path() + "/" + f);
      std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      out += "---- " + f + "\n" + (s.size() > 3000 ? s.substr(s.size() - 3000) : s);
    }
    return out;
  }

  TempDir dir_;
  std::string prefix_, underlay_;
  int port_ = 0, rpcPort_ = 0;
  std::vector<std::string> names_, netns_, links_;
  pid_t master_ = -1;
  std::vector<pid_t> workers_;
  std::unique_ptr<client::ApiClient> api_;
};

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
