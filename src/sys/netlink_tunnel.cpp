// VXLAN devices and their forwarding entries, and bridge ports' static forwarding entries,
// through libnl-route.
#include <linux/if_bridge.h>
#include <linux/neighbour.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/neighbour.h>

#include "sys/netlink.hpp"
#include "sys/netlink_internal.hpp"

namespace kuiga::sys {
using detail::AddrPtr;
using detail::LinkPtr;
using detail::nlError;
using detail::parseAddress;

VoidResult Netlink::createVxlan(const VxlanSpec& spec) {
  const std::string what = "create VXLAN device '" + spec.name + "'";
  auto local = parseAddress(spec.local, AF_UNSPEC, "underlay address");
  if (!local) return fail(local.error().context(what));
  LinkPtr link(rtnl_link_vxlan_alloc());
  if (!link.p) return failMsg(what + ": out of memory");
  rtnl_link_set_name(link.p, spec.name.c_str());
  rtnl_link_set_mtu(link.p, static_cast<unsigned>(spec.mtu));
  if (spec.netnsFd >= 0) rtnl_link_set_ns_fd(link.p, spec.netnsFd);
  int err = rtnl_link_vxlan_set_id(link.p, spec.vni);
  if (err == 0) err = rtnl_link_vxlan_set_local(link.p, local->p);
  if (err == 0) err = rtnl_link_vxlan_set_port(link.p, spec.port);
  if (err == 0) err = rtnl_link_vxlan_disable_learning(link.p);
  if (err == 0) err = rtnl_link_add(sock_.get(), link.p, NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) return fail(nlError(what, err));
  return {};
}

namespace {

struct NeighPtr {
  rtnl_neigh* p = rtnl_neigh_alloc();
  ~NeighPtr() {
    if (p) rtnl_neigh_put(p);
  }
};

// A bridge port's static entry (NTF_MASTER: the bridge's table): `mac` is behind the port.
void bridgeEntry(NeighPtr& n, int portIfindex, const Mac& mac) {
  AddrPtr ll(nl_addr_build(AF_LLC, mac.data(), mac.size()));
  rtnl_neigh_set_family(n.p, AF_BRIDGE);
  rtnl_neigh_set_ifindex(n.p, portIfindex);
  rtnl_neigh_set_lladdr(n.p, ll.p);
  rtnl_neigh_set_state(n.p, NUD_NOARP);  // "static": a port's, not the bridge's own
  rtnl_neigh_set_flags(n.p, NTF_MASTER);
}

// A VXLAN device's own entry (NTF_SELF): `mac` is behind underlay address `dst`.
Result<bool> tunnelEntry(NeighPtr& n, int ifindex, const Mac& mac, const std::string& dst) {
  auto to = parseAddress(dst, AF_UNSPEC, "underlay address");
  if (!to) return fail(to.error());
  AddrPtr ll(nl_addr_build(AF_LLC, mac.data(), mac.size()));
  // The destination first: libnl refuses one of another family than the entry's (AF_BRIDGE).
  if (int err = rtnl_neigh_set_dst(n.p, to->p); err < 0) return fail(nlError("entry", err));
  rtnl_neigh_set_family(n.p, AF_BRIDGE);
  rtnl_neigh_set_ifindex(n.p, ifindex);
  rtnl_neigh_set_lladdr(n.p, ll.p);
  rtnl_neigh_set_state(n.p, NUD_PERMANENT);
  rtnl_neigh_set_flags(n.p, NTF_SELF);
  return true;
}

}  // namespace

VoidResult Netlink::addTunnelEntry(int vxlanIfindex, const Mac& mac, const std::string& dst,
                                   bool append) {
  const std::string what = "add tunnel entry " + formatMac(mac) + " to " + dst;
  NeighPtr n;
  if (!n.p) return failMsg(what + ": out of memory");
  auto made = tunnelEntry(n, vxlanIfindex, mac, dst);
  if (!made) return fail(made.error().context(what));
  int err =
      rtnl_neigh_add(sock_.get(), n.p, NLM_F_CREATE | (append ? NLM_F_APPEND : NLM_F_REPLACE));
  if (err < 0 && !(append && err == -NLE_EXIST)) return fail(nlError(what, err));
  return {};
}

VoidResult Netlink::deleteTunnelEntry(int vxlanIfindex, const Mac& mac, const std::string& dst) {
  const std::string what = "delete tunnel entry " + formatMac(mac) + " to " + dst;
  NeighPtr n;
  if (!n.p) return failMsg(what + ": out of memory");
  auto made = tunnelEntry(n, vxlanIfindex, mac, dst);
  if (!made) return fail(made.error().context(what));
  int err = rtnl_neigh_delete(sock_.get(), n.p, 0);
  if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NOADDR) return fail(nlError(what, err));
  return {};
}

VoidResult Netlink::addBridgeFdbEntry(int portIfindex, const Mac& mac) {
  const std::string what =
      "add forwarding entry " + formatMac(mac) + " on port " + std::to_string(portIfindex);
  NeighPtr n;
  if (!n.p) return failMsg(what + ": out of memory");
  bridgeEntry(n, portIfindex, mac);
  if (int err = rtnl_neigh_add(sock_.get(), n.p, NLM_F_CREATE | NLM_F_REPLACE); err < 0)
    return fail(nlError(what, err));
  return {};
}

VoidResult Netlink::deleteBridgeFdbEntry(int portIfindex, const Mac& mac) {
  const std::string what =
      "delete forwarding entry " + formatMac(mac) + " on port " + std::to_string(portIfindex);
  NeighPtr n;
  if (!n.p) return failMsg(what + ": out of memory");
  bridgeEntry(n, portIfindex, mac);
  int err = rtnl_neigh_delete(sock_.get(), n.p, 0);
  if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NOADDR) return fail(nlError(what, err));
  return {};
}

}  // namespace kuiga::sys
