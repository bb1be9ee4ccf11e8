#include "worker/ns/instance_network.hpp"

#include "sys/netlink.hpp"
#include "sys/netns.hpp"

namespace kuiga::worker::ns {

VoidResult configureInstanceNetwork(int instanceNetns, InstanceId id, NetMode mode, uid_t uid,
                                    gid_t gid) {
  auto guard = sys::netns::ThreadGuard::enter(instanceNetns);
  if (!guard) return fail(guard.error().context("enter instance namespace"));
  auto nl = sys::Netlink::open();
  if (!nl) return fail(nl.error());
  KUIGA_TRY(nl->setUp("lo"), "loopback");
  if (mode == NetMode::None) return {};
  if (mode == NetMode::Veth) {
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
    return {};
  }
  KUIGA_TRY(nl->createBridge("br0"), "tap bridge");
  auto br = nl->linkIndex("br0");
  if (!br) return fail(br.error());
  KUIGA_TRY(sys::createTap(kTapName, uid, gid), "tap");
  KUIGA_TRY(nl->setMaster("eth0", *br), "tap bridge");
  KUIGA_TRY(nl->setMaster(kTapName, *br), "tap bridge");
  // The AUT brings its own IP stack; the instance's kernel only bridges, silently.
  for (const char* l : {"br0", "eth0", kTapName})
    KUIGA_TRY(nl->setUp(l, true, false), "tap bridge");
  return {};
}

}  // namespace kuiga::worker::ns
