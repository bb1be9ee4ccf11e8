#include "worker/net/radio_network.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/ip.h>
#include <poll.h>
#include <sys/socket.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "spec/identity.hpp"
#include "sys/netlink.hpp"
#include "sys/netns.hpp"
#include "tests/support/leak_check.hpp"
#include "tests/support/shell.hpp"

namespace kuiga::worker::net {
namespace {

using namespace std::chrono_literals;

// The querier a bridge in the radio namespace counts, as text for messages and checks.
std::string querierOf(int netnsFd, const std::string& bridge) {
  auto in = sys::netns::ThreadGuard::enter(netnsFd);
  if (!in) return in.error().message;
  auto nl = sys::Netlink::open();
  if (!nl) return nl.error().message;
  auto q = nl->bridgeMulticastQuerier(bridge);
  if (!q) return q.error().message;
  return fmt::format("{} on port {} for {} cs", q->ipv6Address, q->ipv6Port, q->ipv6OtherTimerCs);
}

// After adding leaves the worker checks that each counts the core as its MLD querier (a leaf
// that counts none floods multicast to flooding ports only, and instance ports are not: IPv6
// neighbour discovery from other leaves would fail). A leaf that cannot hear the core is named,
// and the network still works for everything else.
TEST(RadioNetworkTest, ROOT_EveryLeafCountsTheCoreAsQuerierAndOneCutOffIsNamed) {
  SKIP_UNLESS_ROOT();
  test::TempDir dir;
  const std::string pin = dir.path() + "/radio.netns";
  auto net = RadioNetwork::open(pin);
  ASSERT_TRUE(net) << net.error().message;
  // Removed however the test ends: its pin is a mount that would outlive the test.
  struct Destroy {
    RadioNetwork& n;
    ~Destroy() { EXPECT_TRUE(n.destroy()); }
  } destroy{**net};
  const int fd = (*net)->netnsFd();
  const std::string core = sys::eui64LinkLocal(kGatewayMac);
  const RunId run = 1;
  const std::string leaf0 = RadioNetwork::leafLink(run, 0), leaf1 = RadioNetwork::leafLink(run, 1);
  ASSERT_TRUE((*net)->reserve(run, 1));
  EXPECT_TRUE((*net)->queriersLagging().empty())
      << fmt::format("{}", fmt::join((*net)->queriersLagging(), "; "));
  EXPECT_EQ(querierOf(fd, leaf0).rfind(core + " on port ", 0), 0u) << querierOf(fd, leaf0);

  // Cut leaf 0 off the core: its memory of a query cut to the kernel's minimum (1 s), the core
  // made to query again (so that the running timer takes it), then its uplink down.
  ASSERT_EQ(std::system(fmt::format("nsenter --net={0} sh -e -c 'ip link set {1} type bridge "
                                    "mcast_querier_interval 100; "
                                    "ip link set {2} type bridge mcast_querier 0; "
                                    "ip link set {2} type bridge mcast_querier 1; sleep 0.2; "
                                    "ip link set {3} down'",
                                    pin, leaf0, runCoreLink(run), RadioNetwork::leafUplink(run, 0))
                            .c_str()),
            0);
  bool forgotten = false;
  for (int i = 0; i < 50 && !forgotten; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    forgotten = querierOf(fd, leaf0).rfind(core, 0) != 0;
  }
  ASSERT_TRUE(forgotten) << querierOf(fd, leaf0);

  // A second leaf: the core queries again, leaf 1 hears it, leaf 0 cannot and is named.
  ASSERT_TRUE((*net)->reserve(run, RadioNetwork::kPortsPerLeaf + 1));
  EXPECT_EQ(querierOf(fd, leaf1).rfind(core + " on port ", 0), 0u) << querierOf(fd, leaf1);
  auto lagging = (*net)->queriersLagging();
  ASSERT_EQ(lagging.size(), 1u) << fmt::format("{}", fmt::join(lagging, "; "));
  EXPECT_EQ(lagging[0].rfind(leaf0 + " (querier ", 0), 0u) << lagging[0];
  EXPECT_EQ(lagging[0].find(core), std::string::npos) << lagging[0];
}

// A radio network of its own for each test, destroyed however the test ends (its pin is a
// mount that would outlive the test).
class OpenRadioNetwork : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_UNLESS_ROOT();
    auto opened = RadioNetwork::open(dir_.path() + "/radio.netns");
    ASSERT_TRUE(opened) << opened.error().message;
    net_ = std::move(*opened);
  }
  void TearDown() override {
    if (net_) {
      EXPECT_TRUE(net_->destroy());
    }
  }
  test::TempDir dir_;
  std::unique_ptr<RadioNetwork> net_;
};

// The frames a packet socket of `type` for `proto` in namespace `netnsFd` gets within `wait`
// for which `counts` holds; -1 if the socket cannot be had.
int framesSeen(int netnsFd, int type, uint16_t proto, std::chrono::milliseconds wait,
               const std::function<bool(const unsigned char*, size_t)>& counts) {
  sys::UniqueFd sock;
  {
    auto in = sys::netns::ThreadGuard::enter(netnsFd);
    if (!in) return -1;
    sock.reset(::socket(AF_PACKET, type | SOCK_CLOEXEC, htons(proto)));
  }
  if (!sock) return -1;
  int seen = 0;
  for (auto end = std::chrono::steady_clock::now() + wait;
       std::chrono::steady_clock::now() < end;) {
    pollfd p{sock.get(), POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    unsigned char frame[2048];
    ssize_t n = ::recv(sock.get(), frame, sizeof frame, 0);
    if (n > 0 && counts(frame, static_cast<size_t>(n))) ++seen;
  }
  return seen;
}

// The IGMP or ICMPv6 type of an IP packet (from its IP header on); -1 for anything else.
int igmpOrIcmp6Type(const unsigned char* pkt, size_t n) {
  if (n > 20 && (pkt[0] >> 4) == 4 && pkt[9] == IPPROTO_IGMP) {
    const size_t at = (pkt[0] & 0xf) * 4u;
    return n > at ? pkt[at] : -1;
  }
  if (n > 48 && (pkt[0] >> 4) == 6 && pkt[6] == 0 && pkt[40] == IPPROTO_ICMPV6) {
    const size_t at = 40 + (pkt[41] + 1u) * 8;  // past the hop-by-hop header MLD carries
    return n > at ? pkt[at] : -1;
  }
  return -1;
}

bool isQuery(const unsigned char* pkt, size_t n) {
  const int type = igmpOrIcmp6Type(pkt, n);
  return ((pkt[0] >> 4) == 4 && type == 0x11) || ((pkt[0] >> 4) == 6 && type == 130);
}

// IGMP membership reports (v1, v2, v3) seen on any link of the namespace within `wait`.
int igmpReportsSeen(int netnsFd, std::chrono::milliseconds wait) {
  return framesSeen(netnsFd, SOCK_DGRAM, ETH_P_IP, wait, [](const unsigned char* pkt, size_t n) {
    const int type = igmpOrIcmp6Type(pkt, n);
    return (pkt[0] >> 4) == 4 && (type == 0x12 || type == 0x16 || type == 0x22);
  });
}

// The bridges join the all-snoopers group; they report no link-local group on the medium (a
// report from a leaf, which has no IPv4 address, walked every link of the namespace).
TEST_F(OpenRadioNetwork, ROOT_BridgesSendNoIgmpReports) {
  std::jthread reserve([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_TRUE(net_->reserve(1, RadioNetwork::kPortsPerLeaf * 2));
  });
  EXPECT_EQ(igmpReportsSeen(net_->netnsFd(), std::chrono::seconds(3)), 0);
}

// IGMP and MLD queries arriving on each socket within `wait` (sockets: packet sockets in the
// devices' namespaces, from the IP header on).
int queriesHeard(const std::vector<sys::UniqueFd>& socks, std::chrono::milliseconds wait) {
  std::vector<pollfd> fds;
  for (const auto& s : socks) fds.push_back({s.get(), POLLIN, 0});
  int queries = 0;
  for (auto end = std::chrono::steady_clock::now() + wait;
       std::chrono::steady_clock::now() < end;) {
    if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
    for (auto& p : fds) {
      unsigned char pkt[2048];
      ssize_t n = (p.revents & POLLIN) ? ::recv(p.fd, pkt, sizeof pkt, 0) : 0;
      if (n > 0 && isQuery(pkt, static_cast<size_t>(n))) ++queries;
    }
  }
  return queries;
}

// IGMP and MLD queries that leaf bridges (source MAC 02:00:01:00:..) send on any link of the
// radio namespace within `wait`.
int leafQueriesSeen(int netnsFd, std::chrono::milliseconds wait) {
  return framesSeen(netnsFd, SOCK_RAW, ETH_P_ALL, wait, [](const unsigned char* f, size_t n) {
    const bool fromLeaf = n > 14 && f[6] == 0x02 && f[7] == 0 && f[8] == 0x01 && f[9] == 0;
    return fromLeaf && isQuery(f + 14, n - 14);
  });
}

// The core is the only querier: the leaves query nobody, so the devices hear no query at all
// (a leaf's IGMP queries came from 0.0.0.0, which the core deferred to, and leaves that heard
// no querier queried their ports about ten times a second). Every leaf still counts the core.
TEST_F(OpenRadioNetwork, ROOT_DevicesHearNoQueriesAndLeavesCountTheCore) {
  const RunId run = 1;
  int fromLeaves = 0;
  {
    std::jthread watch([&] { fromLeaves = leafQueriesSeen(net_->netnsFd(), 3s); });
    std::this_thread::sleep_for(200ms);
    ASSERT_TRUE(net_->reserve(run, RadioNetwork::kPortsPerLeaf * 4));
  }
  EXPECT_EQ(fromLeaves, 0) << "queries sent by leaf bridges";
  std::vector<sys::UniqueFd> devices, socks;
  for (uint32_t i = 0; i < 4; ++i) {
    auto ns = sys::netns::create();
    ASSERT_TRUE(ns) << ns.error().message;
    {
      auto in = sys::netns::ThreadGuard::enter(ns->get());
      ASSERT_TRUE(in);
      socks.emplace_back(::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ALL)));
      ASSERT_TRUE(socks.back());
    }
    ASSERT_TRUE(net_->attach(InstanceId{run, i}, ns->get(), false));
    auto nl = sys::Netlink::openIn(ns->get());
    ASSERT_TRUE(nl);
    ASSERT_TRUE(nl->setUp("eth0"));
    devices.push_back(std::move(*ns));
  }
  EXPECT_EQ(queriesHeard(socks, 2s), 0);
  EXPECT_TRUE(net_->queriersLagging().empty())
      << fmt::format("{}", fmt::join(net_->queriersLagging(), "; "));
  const std::string core = sys::eui64LinkLocal(kGatewayMac);
  for (size_t k = 0; k < 4; ++k) {
    const std::string leaf = RadioNetwork::leafLink(run, k);
    EXPECT_EQ(querierOf(net_->netnsFd(), leaf).rfind(core + " on port ", 0), 0u)
        << querierOf(net_->netnsFd(), leaf);
  }
}

// A worker that finds the leaves an older one made as queriers takes them off the role.
TEST_F(OpenRadioNetwork, ROOT_ARestartedWorkerTakesOldLeavesOffQuerying) {
  const RunId run = 1;
  ASSERT_TRUE(net_->reserve(run, 1));
  const std::string pin = dir_.path() + "/radio.netns", leaf = RadioNetwork::leafLink(run, 0);
  auto querier = [&] {
    return test::commandOutput(
        fmt::format("nsenter --net={} ip -d -j link show {} | grep -o "
                    "'\"mcast_querier\":[01]'",
                    pin, leaf));
  };
  ASSERT_EQ(std::system(fmt::format("nsenter --net={} ip link set {} type bridge mcast_querier 1",
                                    pin, leaf)
                            .c_str()),
            0);
  ASSERT_EQ(querier(), "\"mcast_querier\":1\n");
  auto again = RadioNetwork::open(pin);  // the same pinned namespace: relearned
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(querier(), "\"mcast_querier\":0\n");
}

}  // namespace
}  // namespace kuiga::worker::net
