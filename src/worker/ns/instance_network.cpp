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
    // The radio network is one broadcast domain: every frame an interface sends unprompted
    // reaches every instance, so N instances coming up cost N^2 deliveries. Without an IPv6
    // link-local address eth0 sends no duplicate address detection and no router
    // solicitations; the ULA address serves IPv6 between instances. (Setting accept_dad and
    // router_solicitations through /proc/sys instead costs O(N) per write: /proc/sys dentries
    // of all namespaces share one hash chain.)
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
