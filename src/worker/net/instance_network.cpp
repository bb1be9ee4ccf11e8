#include "worker/net/instance_network.hpp"

#include "sys/file.hpp"
#include "sys/netlink.hpp"
#include "sys/netns.hpp"

namespace kuiga::worker::net {

namespace {

// Contiki-NG native's tun0 (arch/cpu/native/net/tun6-net.c): it opens /dev/net/tun with
// TUNSETIFF "tun0", IFF_TUN | IFF_NO_PI, which an unprivileged process may do on a persistent
// device it owns. It then runs "ifconfig tun0 add PREFIX" through system(), which fails without
// privileges (and without a shell in the instance's root): the address is here already.
VoidResult configureTun(sys::Netlink& nl, InstanceId id, uid_t uid, gid_t gid) {
  KUIGA_TRY(sys::createTap(kTunName, uid, gid, true), "create");
  KUIGA_TRY(nl.addAddress(kTunName, contikiHostAddress(id) + "/64"), "address");
  KUIGA_TRY(nl.setUp(kTunName, true, false), "up");
  // The instance's kernel routes between tun0 and eth0. The cost of a /proc/sys write (O(N)
  // over all namespaces) is paid by tun-mode instances only.
  return sys::writeFile("/proc/sys/net/ipv6/conf/all/forwarding", "1");
}

}  // namespace

VoidResult configureInstanceNetwork(int instanceNetns, InstanceId id, NetMode mode, uid_t uid,
                                    gid_t gid) {
  auto guard = sys::netns::ThreadGuard::enter(instanceNetns);
  if (!guard) return fail(guard.error().context("enter instance namespace"));
  auto nl = sys::Netlink::open();
  if (!nl) return fail(nl.error());
  KUIGA_TRY(nl->setUp("lo"), "loopback");
  if (mode == NetMode::None) return {};
  if (mode == NetMode::Veth || mode == NetMode::Tun) {
    KUIGA_TRY(nl->addAddress("eth0", ipv4Address(id) + "/" + std::to_string(kIpv4PrefixLen)),
              "eth0");
    KUIGA_TRY(nl->addAddress("eth0", ipv6Address(id) + "/" + std::to_string(kIpv6PrefixLen)),
              "eth0");
    KUIGA_TRY(nl->addAddress("eth0", linkLocalAddress(id) + "/64"), "eth0");
    // Every frame an interface sends unprompted may reach every instance: N instances coming
    // up must not cost N^2 deliveries. So the addresses, the link-local one included, come
    // without duplicate address detection (they are unique by construction), and the kernel
    // makes no address of its own. The link-local address matters: MLD reports must come from
    // one, or the radio bridges cannot snoop them and flood them instead. (Turning DAD off
    // through /proc/sys would cost O(N) per write: the /proc/sys dentries of all namespaces
    // share one hash chain.)
    KUIGA_TRY(nl->setUp("eth0", true, false), "eth0");
    // Off the radio network through the Plexer. The gateway's MAC is known, so that no device
    // asks for it by broadcast.
    KUIGA_TRY(nl->addNeighbour("eth0", gatewayIpv4(id.run), kGatewayMac), "gateway");
    KUIGA_TRY(nl->addNeighbour("eth0", gatewayIpv6(id.run), kGatewayMac), "gateway");
    KUIGA_TRY(nl->addRoute("0.0.0.0/0", "eth0", gatewayIpv4(id.run)), "default route");
    KUIGA_TRY(nl->addRoute("::/0", "eth0", gatewayIpv6(id.run)), "default route");
    if (mode == NetMode::Tun) KUIGA_TRY(configureTun(*nl, id, uid, gid), "tun");
    return {};
  }
  // tap0 and eth0 are joined like a wire: what the AUT writes to tap0 leaves through eth0 to
  // the radio network, and what arrives on eth0 is read from tap0. A bridge in between cost
  // about 370 KiB per instance. The AUT brings its own IP stack; the instance's kernel adds
  // no addresses and sends nothing.
  KUIGA_TRY(sys::createTap(kTapName, uid, gid), "tap");
  auto tap = nl->linkIndex(kTapName);
  auto eth = nl->linkIndex("eth0");
  if (!tap) return fail(tap.error());
  if (!eth) return fail(eth.error());
  KUIGA_TRY(nl->redirectIngress(*tap, *eth), "tap wire");
  KUIGA_TRY(nl->redirectIngress(*eth, *tap), "tap wire");
  for (const char* l : {"eth0", kTapName}) KUIGA_TRY(nl->setUp(l, true, false), "tap wire");
  return {};
}

}  // namespace kuiga::worker::net
