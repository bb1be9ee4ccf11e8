// A run's radio network across workers, on the real kernel: two "hosts" (network namespaces
// joined by an underlay veth), a radio network in each, devices of two runs on both, and the
// runs' VXLAN tunnels between them.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "spec/identity.hpp"
#include "sys/file.hpp"
#include "sys/netlink.hpp"
#include "sys/netns.hpp"
#include "tests/support/leak_check.hpp"
#include "tests/support/shell.hpp"
#include "worker/net/radio_network.hpp"

namespace kuiga::worker::net {
namespace {

int sh(const std::string& cmd) {
  return std::system(cmd.c_str());
}

// Receives one UDP datagram on `port` (any address, broadcasts too) within `seconds` and
// prints its length; prints "none" otherwise.
constexpr const char* kReceiver = R"(
import socket, sys
fam = socket.AF_INET6 if sys.argv[1] == '6' else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('::' if fam == socket.AF_INET6 else '0.0.0.0', int(sys.argv[2])))
s.settimeout(float(sys.argv[3]))
try:
    print(len(s.recv(65535)))
except socket.timeout:
    print('none')
)";
// Sends `count` datagrams of `size` bytes, unfragmented (DF), a few ms apart.
constexpr const char* kSender = R"(
import socket, sys, time
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
if fam == socket.AF_INET:
    s.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER = IP_PMTUDISC_DO
else:
    s.setsockopt(socket.IPPROTO_IPV6, 23, 2)  # IPV6_MTU_DISCOVER = IPV6_PMTUDISC_DO
for _ in range(int(sys.argv[4])):
    s.sendto(b'x' * int(sys.argv[3]), (sys.argv[1], int(sys.argv[2])))
    time.sleep(0.05)
)";

class RadioTunnelTest : public ::testing::Test {
 protected:
  struct Host {
    std::string ns, underlay;
    std::unique_ptr<RadioNetwork> radio;
  };

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, netlink)";
    prefix_ = test::uniqueName();
    for (int h = 0; h < 2; ++h) {
      hosts_[h].ns = fmt::format("{}h{}", prefix_, h);
      hosts_[h].underlay = fmt::format("10.254.0.{}", h + 1);
      ASSERT_EQ(sh("ip netns add " + hosts_[h].ns), 0);
    }
    // The underlay carries a full-size device frame plus VXLAN's 50 bytes.
    ASSERT_EQ(sh(fmt::format("ip link add {0}u0 netns {1} mtu 1550 type veth peer name {0}u1 "
                             "netns {2} mtu 1550",
                             prefix_, hosts_[0].ns, hosts_[1].ns)),
              0);
    for (int h = 0; h < 2; ++h) {
      ASSERT_EQ(sh(fmt::format("ip -n {0} addr add {1}/24 dev {2}u{3} && ip -n {0} link set "
                               "{2}u{3} up && ip -n {0} link set lo up",
                               hosts_[h].ns, hosts_[h].underlay, prefix_, h)),
                0);
      auto fd = sys::netns::openPinned("/run/netns/" + hosts_[h].ns);
      ASSERT_TRUE(fd) << fd.error().message;
      auto in = sys::netns::ThreadGuard::enter(fd->get());
      ASSERT_TRUE(in) << in.error().message;
      const std::string dir = fmt::format("{}/h{}", dir_.path(), h);
      ASSERT_TRUE(sys::makePrivateDir(dir));
      auto radio = RadioNetwork::open(dir + "/radio.netns");
      ASSERT_TRUE(radio) << radio.error().message;
      hosts_[h].radio = std::move(*radio);
      hosts_[h].radio->setUnderlayAddress(hosts_[h].underlay);
    }
  }

  void TearDown() override {
    for (const auto& d : devices_) (void)sh("ip netns del " + d + " 2>/dev/null");
    for (auto& h : hosts_) {
      if (h.radio) {
        for (RunId run : h.radio->runs()) EXPECT_TRUE(h.radio->closeRun(run));
        EXPECT_TRUE(h.radio->destroy());
      }
      if (!h.ns.empty()) (void)sh("ip netns del " + h.ns + " 2>/dev/null");
    }
  }

  // Device `id` on host `h`, addressed and up.
  std::string addDevice(int h, InstanceId id) {
    std::string ns = fmt::format("{}d{}.{}", prefix_, id.run, id.index);
    EXPECT_EQ(sh("ip netns add " + ns), 0);
    devices_.push_back(ns);
    auto fd = sys::netns::openPinned("/run/netns/" + ns);
    EXPECT_TRUE(fd);
    EXPECT_TRUE(hosts_[h].radio->attach(id, fd->get(), false));
    EXPECT_EQ(sh(fmt::format("ip -n {0} link set lo up && ip -n {0} link set eth0 up && "
                             "ip -n {0} addr add {1}/16 dev eth0 && "
                             "ip -n {0} addr add {2}/64 dev eth0 nodad && "
                             "ip -n {0} route add default dev eth0",
                             ns, ipv4Address(id), ipv6Address(id))),
              0);
    return ns;
  }

  std::string script(const char* name, const char* text) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  // What the receiver in `to` got while `from` sent: a length, or "none".
  std::string exchange(const std::string& to, int family, const std::string& from,
                       const std::string& dest, int size) {
    const std::string out = dir_.path() + "/got-" + to;
    std::string recv = script("recv.py", kReceiver), send = script("send.py", kSender);
    std::string cmd = fmt::format(
        "ip netns exec {0} python3 {1} {2} 9999 4 > {3} & sleep 0.5; "
        "ip netns exec {4} python3 {5} {6} 9999 {7} 10; wait",
        to, recv, family, out, from, send, dest, size);
    EXPECT_EQ(sh(cmd), 0) << cmd;
    auto got = sys::readFile(out);
    std::string s = got ? *got : "";
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

  test::TempDir dir_;
  std::string prefix_;
  Host hosts_[2];
  std::vector<std::string> devices_;
};

// Two runs, each with a device on either host: full-size frames cross between a run's devices
// over IPv4 and IPv6, a broadcast reaches its own run only, and the entries come and go with
// the peers given.
TEST_F(RadioTunnelTest, ROOT_ARunIsOneNetworkOverTwoHostsAndRunsStayApart) {
  const InstanceId a1{1, 0}, b1{1, 1}, a2{2, 0}, b2{2, 1};
  const std::string na1 = addDevice(0, a1), nb1 = addDevice(1, b1);
  addDevice(0, a2);
  const std::string nb2 = addDevice(1, b2);
  for (RunId run : {1u, 2u}) {
    auto r = hosts_[0].radio->setPeers(run, {{hosts_[1].underlay, {1}}});
    ASSERT_TRUE(r) << r.error().message;
    r = hosts_[1].radio->setPeers(run, {{hosts_[0].underlay, {0}}});
    ASSERT_TRUE(r) << r.error().message;
  }
  EXPECT_EQ(exchange(nb1, 4, na1, ipv4Address(b1), 1472), "1472");
  EXPECT_EQ(exchange(nb1, 6, na1, ipv6Address(b1), 1452), "1452");
  // A broadcast of run 1 reaches run 1's device on the other host, never run 2's.
  EXPECT_EQ(exchange(nb1, 4, na1, "255.255.255.255", 100), "100");
  EXPECT_EQ(exchange(nb2, 4, na1, "255.255.255.255", 100), "none");

  // The device MAC entries: B's are behind host 1, on both the tunnel and the core.
  const std::string radioA = dir_.path() + "/h0/radio.netns";
  const std::string fdb =
      test::commandOutput("nsenter --net=" + radioA + " bridge fdb show dev rx1");
  const std::string mac = sys::formatMac(macAddress(b1));
  EXPECT_NE(fdb.find(mac + " dst " + hosts_[1].underlay), std::string::npos) << fdb;
  EXPECT_NE(fdb.find("00:00:00:00:00:00 dst " + hosts_[1].underlay), std::string::npos) << fdb;
  EXPECT_NE(fdb.find(mac + " master rc1 static"), std::string::npos) << fdb;

  // Host 0's gateway answers its own devices, and its answers never cross: host 1's device
  // resolves no gateway (host 1 has none here), host 0's does.
  ASSERT_EQ(sh(fmt::format("nsenter --net={} ip addr add {}/16 dev {}", radioA, gatewayIpv4(1),
                           runCoreLink(1))),
            0);
  const std::string send = script("send.py", kSender);
  for (const auto& ns : {na1, nb1})
    EXPECT_EQ(sh(fmt::format("ip netns exec {} python3 {} {} 9 10 3", ns, send, gatewayIpv4(1))),
              0);
  auto neigh = [&](const std::string& ns) {
    return test::commandOutput(fmt::format("ip -n {} neigh show {}", ns, gatewayIpv4(1)));
  };
  const std::string gatewayMac = sys::formatMac(kGatewayMac);
  EXPECT_NE(neigh(na1).find(gatewayMac), std::string::npos) << neigh(na1);
  EXPECT_EQ(neigh(nb1).find(gatewayMac), std::string::npos) << neigh(nb1);

  // A restarted worker finds its tunnels and what it set.
  {
    auto fd = sys::netns::openPinned("/run/netns/" + hosts_[0].ns);
    ASSERT_TRUE(fd);
    auto in = sys::netns::ThreadGuard::enter(fd->get());
    auto again = RadioNetwork::open(radioA);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ((*again)->peers(1),
              (std::map<std::string, std::set<uint32_t>>{{hosts_[1].underlay, {1}}}));
    EXPECT_EQ((*again)->runs(), (std::vector<RunId>{1, 2}));
  }
  // A peer gone: its entries go, and with no peer left, the tunnel, and the core's permanent
  // neighbours of the remote device (its own device's stay).
  auto coreNeighbours = [&] {
    return test::commandOutput("nsenter --net=" + radioA + " ip neigh show dev rc1");
  };
  ASSERT_NE(coreNeighbours().find(ipv6Address(b1) + " lladdr"), std::string::npos)
      << coreNeighbours();
  ASSERT_TRUE(hosts_[0].radio->setPeers(1, {}));
  for (const auto& ip : {ipv4Address(b1), ipv6Address(b1)})
    EXPECT_EQ(coreNeighbours().find(ip + " lladdr"), std::string::npos) << coreNeighbours();
  EXPECT_NE(coreNeighbours().find(ipv4Address(a1) + " lladdr"), std::string::npos)
      << coreNeighbours();
  EXPECT_EQ(exchange(nb1, 4, na1, ipv4Address(b1), 100), "none");
  EXPECT_EQ(
      test::commandOutput("nsenter --net=" + radioA + " ip -o link show type vxlan").find("rx1"),
      std::string::npos);
  EXPECT_TRUE(hosts_[0].radio->peers(1).empty());
  EXPECT_FALSE(sys::exists(dir_.path() + "/h0/radio-peers/run-1.json"));
}

// The run's cell (its gateway) is on one host; the other's core relays: its MAC is not the
// gateway's, the gateway's frames come through its tunnel, and its device reaches the gateway
// on the other host. The cell's host knows every remote device's address. Then the cell moves.
TEST_F(RadioTunnelTest, ROOT_TheGatewayOnTheCellsHostServesTheOtherHostsDevices) {
  const InstanceId a{1, 0}, b{1, 1};
  addDevice(0, a);
  const std::string nb = addDevice(1, b);
  ASSERT_TRUE(hosts_[0].radio->setPeers(1, {{hosts_[1].underlay, {1}}}));
  ASSERT_TRUE(hosts_[1].radio->setPeers(1, {{hosts_[0].underlay, {0}, true}}));
  EXPECT_EQ(hosts_[1].radio->cellPeer(1), hosts_[0].underlay);
  EXPECT_EQ(hosts_[0].radio->cellPeer(1), "");
  const std::string radio[2] = {dir_.path() + "/h0/radio.netns", dir_.path() + "/h1/radio.netns"};
  auto in = [&](int h, const std::string& cmd) {
    return test::commandOutput(fmt::format("nsenter --net={} {}", radio[h], cmd));
  };
  auto coreMac = [&](int h) {
    std::string l = in(h, "ip -o link show rc1");
    auto at = l.find("link/ether ");
    return at == std::string::npos ? l : l.substr(at + 11, 17) + "\n";
  };
  const std::string gatewayMac = sys::formatMac(kGatewayMac);
  EXPECT_EQ(coreMac(0), gatewayMac + "\n");
  EXPECT_EQ(coreMac(1), sys::formatMac(RadioNetwork::kRelayCoreMac) + "\n");
  EXPECT_NE(in(1, "nft list set bridge kuiga relayed").find("\"rx1\""), std::string::npos);
  EXPECT_NE(in(1, "bridge fdb show dev rx1").find(gatewayMac + " dst " + hosts_[0].underlay),
            std::string::npos)
      << in(1, "bridge fdb show dev rx1");
  EXPECT_NE(in(0, "ip neigh show dev rc1")
                .find(ipv4Address(b) + " lladdr " + sys::formatMac(macAddress(b)) + " PERMANENT"),
            std::string::npos)
      << in(0, "ip neigh show dev rc1");
  ASSERT_EQ(sh(fmt::format("nsenter --net={} ip addr add {}/16 dev rc1", radio[0], gatewayIpv4(1))),
            0);
  // A datagram from host 1's device reaches the gateway's namespace on host 0; it resolved the
  // gateway there, at the gateway's MAC.
  {
    const std::string out = dir_.path() + "/got-gateway";
    std::string recv = script("recv.py", kReceiver), send = script("send.py", kSender);
    EXPECT_EQ(sh(fmt::format("nsenter --net={0} python3 {1} 4 9999 4 > {2} & sleep 0.5; "
                             "ip netns exec {3} python3 {4} {5} 9999 100 10; wait",
                             radio[0], recv, out, nb, send, gatewayIpv4(1))),
              0);
    EXPECT_EQ(sys::readFile(out).value_or(""), "100\n");
  }
  EXPECT_NE(test::commandOutput(fmt::format("ip -n {} neigh show {}", nb, gatewayIpv4(1)))
                .find(gatewayMac),
            std::string::npos);

  // The cell moves to host 1: its core is the gateway again, host 0's relays.
  ASSERT_EQ(sh(fmt::format("nsenter --net={} ip addr del {}/16 dev rc1", radio[0], gatewayIpv4(1))),
            0);
  ASSERT_TRUE(hosts_[0].radio->setPeers(1, {{hosts_[1].underlay, {1}, true}}));
  ASSERT_TRUE(hosts_[1].radio->setPeers(1, {{hosts_[0].underlay, {0}}}));
  EXPECT_EQ(coreMac(0), sys::formatMac(RadioNetwork::kRelayCoreMac) + "\n");
  EXPECT_EQ(coreMac(1), gatewayMac + "\n");
  EXPECT_EQ(in(1, "nft list set bridge kuiga relayed").find("\"rx1\""), std::string::npos);
  EXPECT_EQ(in(1, "bridge fdb show dev rx1").find(gatewayMac), std::string::npos);
  // Host 1 now knows host 0's device, and its own again (the new MAC flushed them).
  EXPECT_NE(in(1, "ip neigh show dev rc1").find(ipv4Address(a)), std::string::npos);
  EXPECT_NE(in(1, "ip neigh show dev rc1").find(ipv4Address(b)), std::string::npos);
  // Closing the run takes the relay's set entry with it.
  ASSERT_TRUE(hosts_[0].radio->closeRun(1));
  EXPECT_EQ(in(0, "nft list set bridge kuiga relayed").find("\"rx1\""), std::string::npos);
}

// Peers that cannot all be set (an address that is none) leave nothing half set: the tunnel
// goes with the entries made before the failure, the peers are forgotten, and the next call
// sets them all.
TEST_F(RadioTunnelTest, ROOT_PeersThatFailPartwayLeaveNoHalfSetTunnel) {
  const InstanceId a{1, 0}, b{1, 1};
  const std::string na = addDevice(0, a), nb = addDevice(1, b);
  ASSERT_TRUE(hosts_[1].radio->setPeers(1, {{hosts_[0].underlay, {0}}}));
  // The good peer sorts first: its entries are made before the bad one fails.
  auto bad = hosts_[0].radio->setPeers(1, {{hosts_[1].underlay, {1}}, {"not-an-address", {2}}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("not-an-address"), std::string::npos) << bad.error().message;
  const std::string radioA = dir_.path() + "/h0/radio.netns";
  EXPECT_EQ(
      test::commandOutput("nsenter --net=" + radioA + " ip -o link show type vxlan").find("rx1"),
      std::string::npos);
  EXPECT_TRUE(hosts_[0].radio->peers(1).empty());
  EXPECT_FALSE(sys::exists(dir_.path() + "/h0/radio-peers/run-1.json"));
  EXPECT_EQ(exchange(nb, 4, na, ipv4Address(b), 100), "none");
  ASSERT_TRUE(hosts_[0].radio->setPeers(1, {{hosts_[1].underlay, {1}}}));
  EXPECT_EQ(exchange(nb, 4, na, ipv4Address(b), 100), "100");
}

// Without an underlay address a worker cannot join a run to others: a clear error.
TEST_F(RadioTunnelTest, ROOT_PeersWithoutAnUnderlayAddressAreRefused) {
  hosts_[0].radio->setUnderlayAddress("");
  auto r = hosts_[0].radio->setPeers(1, {{hosts_[1].underlay, {1}}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("--underlay-address"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace kuiga::worker::net
