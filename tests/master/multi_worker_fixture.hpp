#pragma once
// Three workers, each a separate `kuiga worker` process in its own network namespace ("host"),
// reach a `kuiga master` process over veth links. The hosts share an underlay network too (a
// bridge in a namespace of its own, MTU 1550), where the workers' runs' radio networks meet over
// VXLAN. Used by multi_worker_test.cpp and radio_across_workers_test.cpp.
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

#include "spec/identity.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/shell.hpp"

namespace kuiga::test {

using json = nlohmann::json;

inline int freePort() {
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

inline int sh(const std::string& cmd) {
  return std::system(cmd.c_str());
}

// Starts `kuiga args...` (or `exe args...`), in network namespace `netns` when given; output
// to `log`.
inline pid_t spawn(const std::vector<std::string>& args, const std::string& netns,
                   const std::string& log, const char* exe = KUIGA_KUIGA_PATH) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (!netns.empty()) {
      int fd = ::open(("/run/netns/" + netns).c_str(), O_RDONLY);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) _exit(120);
    }
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(out, 1);
    ::dup2(out, 2);
    std::vector<char*> argv{const_cast<char*>(exe)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(exe, argv.data());
    _exit(127);
  }
  return pid;
}

inline void killAndReap(pid_t& pid, int sig) {
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
    for (int k = 0; k < kWorkers; ++k) addHost(k);
    // The underlay: a switch (a bridge in a namespace of its own) with a port per host.
    underlay_ = prefix_ + "ul";
    netns_.push_back(underlay_);
    ASSERT_EQ(sh(fmt::format("ip netns add {0} && ip -n {0} link add br0 type bridge && "
                             "ip -n {0} link set br0 up",
                             underlay_)),
              0);
    for (int k = 0; k < kWorkers; ++k) joinUnderlay(k);
    startMaster();
    for (int k = 0; k < kWorkers; ++k) startWorker(k);
    ASSERT_TRUE(eventually([&] { return online() == kWorkers; }, 30000)) << logs();
  }

  // Host k: a namespace reaching the master's over a veth (10.213.k.2, the master 10.213.k.1).
  void addHost(int k) {
    std::string ns = fmt::format("{}h{}", prefix_, k), link = fmt::format("{}v{}", prefix_, k);
    names_.push_back(fmt::format("{}w{}", prefix_, k));
    hostNs_.push_back(ns);
    netns_.push_back(ns);
    links_.push_back(link);
    ASSERT_EQ(sh(fmt::format("ip netns add {} && ip link add {} type veth peer name eth0 netns {} "
                             "&& ip addr add 10.213.{}.1/30 dev {} && ip link set {} up && "
                             "ip -n {} addr add 10.213.{}.2/30 dev eth0 && ip -n {} link set "
                             "eth0 up && ip -n {} link set lo up",
                             ns, link, ns, k, link, link, ns, k, ns, ns)),
              0);
  }
  // Host k's port on the underlay switch, at underlayAddress(k).
  void joinUnderlay(int k) {
    ASSERT_EQ(sh(fmt::format("ip -n {0} link add u{1} mtu 1550 master br0 type veth peer name "
                             "ul0 netns {2} mtu 1550 && ip -n {0} link set u{1} up && "
                             "ip -n {2} addr add {3}/24 dev ul0 && ip -n {2} link set ul0 up",
                             underlay_, k, hostNs_[k], underlayAddress(k))),
              0);
  }
  // A `kuiga plexer` on a fourth host (node kWorkers: names_, workers_ and w3.log as a
  // worker's), on the underlay.
  void startPlexer() {
    const int k = kWorkers;
    if (hostNs_.size() <= static_cast<size_t>(k)) {
      addHost(k);
      joinUnderlay(k);
    }
    if (workers_.size() <= static_cast<size_t>(k)) workers_.resize(k + 1, -1);
    workers_[k] = spawn(
        {"plexer", "--master", fmt::format("https://10.213.{}.1:{}", k, port_), "--join-token",
         joinToken_, "--name", names_[k], "--state-dir", fmt::format("{}/w{}", dir_.path(), k),
         "--remove-on-exit", "--underlay-address", underlayAddress(k)},
        hostNs_[k], fmt::format("{}/w{}.log", dir_.path(), k));
  }

  void TearDown() override {
    for (auto& p : helpers_) killAndReap(p, SIGKILL);
    for (auto& p : workers_) killAndReap(p, SIGTERM);  // --remove-on-exit cleans up
    killAndReap(master_, SIGKILL);
    for (size_t k = 0; k < names_.size(); ++k)
      sh(fmt::format("{} worker recover --destroy --name {} --state-dir {}/w{} >/dev/null 2>&1",
                     KUIGA_KUIGA_PATH, names_[k], dir_.path(), k));
    for (const auto& ns : netns_) sh("ip netns del " + ns + " 2>/dev/null");
    for (const auto& l : links_) sh("ip link del " + l + " 2>/dev/null");
  }

  void startMaster() {
    // On every address, so over TLS: a certificate from its cluster CA for the host's addresses
    // (the hosts' veths among them), which its nodes and the test trust.
    master_ = spawn(
        {"master", "--data", dir_.path() + "/master", "--host", "0.0.0.0", "--port",
         std::to_string(port_), "--rpc", fmt::format("0.0.0.0:{}", rpcPort_), "--tls", "auto"},
        "", dir_.path() + "/master.log");
    // Its first admin token and CA are in its client config once it is up.
    ASSERT_TRUE(eventually([&] { return static_cast<bool>(client::readConfig(confPath())); }))
        << logs();
    auto conf = client::readConfig(confPath());
    api_ = std::make_unique<client::ApiClient>(fmt::format("https://127.0.0.1:{}", port_),
                                               conf->token, conf->caPem);
    ASSERT_TRUE(eventually([&] { return static_cast<bool>(api_->get("/api/v1/cluster")); }))
        << logs();
    // The workers and the plexer enroll with a join token (once: a restarted master keeps it).
    if (joinToken_.empty()) {
      auto join = api_->post("/api/v1/tokens", {{"name", "hosts"}, {"role", "join"}});
      ASSERT_TRUE(join) << join.error().message;
      joinToken_ = (*join)["token"];
    }
  }

  std::string confPath() const { return dir_.path() + "/master/kuiga.conf"; }

  // Workers on one host take uid ranges apart (--uid-base).
  static uint32_t uidBase(int k) { return 300000 + static_cast<uint32_t>(k) * 65536; }
  void startWorker(int k) {
    if (workers_.size() <= static_cast<size_t>(k)) workers_.resize(k + 1, -1);
    workers_[k] = spawn(
        {"worker", "--master", fmt::format("https://10.213.{}.1:{}", k, port_), "--join-token",
         joinToken_, "--name", names_[k], "--state-dir", fmt::format("{}/w{}", dir_.path(), k),
         "--capacity", "160", "--remove-on-exit", "--uid-base", std::to_string(uidBase(k)),
         "--label", fmt::format("host=h{}", k), "--underlay-address", underlayAddress(k)},
        hostNs_[k], fmt::format("{}/w{}.log", dir_.path(), k));
  }

  // The base station: a namespace of the test's own, its addresses (192.0.2.1, 2001:db8::1) on
  // loopback, with a udp-sensor sink on `port` (answering each datagram with `echo`). Returns
  // the sink's log.
  std::string startStation(const std::string& port, bool echo = false) {
    station_ = prefix_ + "bs";
    netns_.push_back(station_);
    EXPECT_EQ(sh(fmt::format("ip netns add {0} && ip -n {0} link set lo up && "
                             "ip -n {0} addr add 192.0.2.1/32 dev lo && "
                             "ip -n {0} addr add 2001:db8::1/128 dev lo",
                             station_)),
              0);
    const std::string sink = std::string(KUIGA_EXAMPLES) + "/udp-sensor";
    const std::string log = dir_.path() + "/sink.log";
    std::vector<std::string> argv = {"sink", port};
    if (echo) argv.emplace_back("--echo");
    helpers_.push_back(spawn(argv, station_, log, sink.c_str()));
    EXPECT_TRUE(eventually([&] {
      std::ifstream in(log);
      std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      return s.find("listening") != std::string::npos;
    }));
    return log;
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
                          std::string("w2.log"), std::string("w3.log")}) {
      std::ifstream in(dir_.path() + "/" + f);
      std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      out += "---- " + f + "\n" + (s.size() > 3000 ? s.substr(s.size() - 3000) : s);
    }
    return out;
  }

  TempDir dir_;
  std::string prefix_, underlay_, station_;
  int port_ = 0, rpcPort_ = 0;
  std::vector<std::string> names_, netns_, links_;
  std::vector<std::string> hostNs_;  // host k's namespace
  pid_t master_ = -1;
  std::vector<pid_t> workers_;
  std::vector<pid_t> helpers_;  // the station's sink
  std::unique_ptr<client::ApiClient> api_;
  std::string joinToken_;
};

}  // namespace kuiga::test
