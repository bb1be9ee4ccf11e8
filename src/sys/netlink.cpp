#include "sys/netlink.hpp"

#include <memory>

// glibc's netinet/in.h first: it tells the kernel headers below not to define in6_addr again.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_bridge.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <linux/tc_act/tc_mirred.h>
#include <netlink/addr.h>
#include <netlink/netlink.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/action.h>
#include <netlink/route/addr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <netlink/route/tc.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <utility>

#include "sys/netlink_internal.hpp"
#include "sys/netns.hpp"

namespace kuiga::sys {
using detail::AddrPtr;
using detail::LinkPtr;
using detail::nlError;
using detail::parseAddress;
namespace {

// IFLA_BRPORT_MCAST_MAX_GROUPS (Linux 6.3); Debian 12's kernel headers are older.
constexpr int kIflaBrportMcastMaxGroups = 42;

void setMacOn(rtnl_link* link, const Mac& mac) {
  AddrPtr a(nl_addr_build(AF_LLC, mac.data(), mac.size()));
  rtnl_link_set_addr(link, a.p);
}

// RTM_NEWLINK without NLM_F_CREATE modifies the link named in the request: one round trip,
// where rtnl_link_change() would first fetch the link.
template <class Apply>
VoidResult modifyLink(nl_sock* sock, const std::string& name, const char* what, Apply apply) {
  LinkPtr link(rtnl_link_alloc());
  rtnl_link_set_name(link.p, name.c_str());
  apply(link.p);
  if (int err = rtnl_link_add(sock, link.p, 0); err < 0)
    return fail(nlError(std::string(what) + " '" + name + "'", err));
  return {};
}

}  // namespace

std::string formatMac(const Mac& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

void Netlink::SockDeleter::operator()(nl_sock* s) const {
  nl_socket_free(s);
}

Netlink::~Netlink() = default;

Result<Netlink> Netlink::open() {
  nl_sock* s = nl_socket_alloc();
  if (!s) return failMsg("allocate netlink socket");
  Netlink nl(s);
  if (int err = nl_connect(s, NETLINK_ROUTE); err < 0)
    return fail(nlError("connect rtnetlink", err));
  // The socket must not leak into AUT processes forked later.
  ::fcntl(nl_socket_get_fd(s), F_SETFD, FD_CLOEXEC);
  detail::watchKernelErrors(s);
  return nl;
}

Result<Netlink> Netlink::openIn(int netnsFd) {
  auto guard = netns::ThreadGuard::enter(netnsFd);
  if (!guard) return fail(guard.error().context("enter network namespace"));
  return open();
}

// Both ends get one queue each way. A veth allocates one receive queue per possible CPU unless
// told otherwise, each registered for XDP, though only one is used without XDP: on this 2-CPU
// machine one queue made a pair 5 KiB smaller and about twice as fast to create, and on a host
// with 64 CPUs the default would be 64 queues per end (docs/performance.md).
VoidResult Netlink::createVeth(const VethSpec& spec) {
  LinkPtr link(rtnl_link_veth_alloc());
  if (!link.p) return failMsg("allocate veth");
  rtnl_link_set_name(link.p, spec.name.c_str());
  rtnl_link_set_num_tx_queues(link.p, 1);
  rtnl_link_set_num_rx_queues(link.p, 1);
  if (spec.mac) setMacOn(link.p, *spec.mac);
  if (spec.masterIndex) rtnl_link_set_master(link.p, *spec.masterIndex);
  if (spec.up) rtnl_link_set_flags(link.p, IFF_UP);
  rtnl_link* peer = rtnl_link_veth_get_peer(link.p);
  rtnl_link_set_name(peer, spec.peerName.c_str());
  rtnl_link_set_num_tx_queues(peer, 1);
  rtnl_link_set_num_rx_queues(peer, 1);
  if (spec.peerMac) setMacOn(peer, *spec.peerMac);
  if (spec.peerNetnsFd >= 0) rtnl_link_set_ns_fd(peer, spec.peerNetnsFd);
  rtnl_link_put(peer);
  int err = rtnl_link_add(sock_.get(), link.p, NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) return fail(nlError("create veth '" + spec.name + "'/'" + spec.peerName + "'", err));
  return {};
}

// RTM_NEWLINK for a bridge, built as a message because libnl 3.7 has no setters for bridge
// attributes (IFLA_BR_*), and rtnl_link_bridge_add() omits NLM_F_EXCL, "creating" an existing
// bridge.
static VoidResult bridgeRequest(nl_sock* sock, const std::string& name, int flags,
                                std::optional<Mac> mac, std::optional<bool> querier,
                                uint64_t responseCs, std::optional<uint32_t> hashMax,
                                const std::string& what) {
  std::unique_ptr<nl_msg, void (*)(nl_msg*)> msg(
      nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_REQUEST | flags), nlmsg_free);
  if (!msg) return failMsg(what + ": out of memory");
  struct ifinfomsg ifi {};
  ifi.ifi_family = AF_UNSPEC;
  nl_msg* m = msg.get();
  bool ok = nlmsg_append(m, &ifi, sizeof ifi, NLMSG_ALIGNTO) == 0 &&
            nla_put_string(m, IFLA_IFNAME, name.c_str()) == 0 &&
            (!mac || nla_put(m, IFLA_ADDRESS, static_cast<int>(mac->size()), mac->data()) == 0);
  nlattr* info = ok ? nla_nest_start(m, IFLA_LINKINFO) : nullptr;
  ok = info && nla_put_string(m, IFLA_INFO_KIND, "bridge") == 0;
  nlattr* data = ok ? nla_nest_start(m, IFLA_INFO_DATA) : nullptr;
  ok = data &&
       (!querier || (nla_put_u8(m, IFLA_BR_MCAST_SNOOPING, 1) == 0 &&
                     nla_put_u64(m, IFLA_BR_MCAST_QUERY_RESPONSE_INTVL, responseCs) == 0 &&
                     nla_put_u8(m, IFLA_BR_MCAST_QUERIER, *querier ? 1 : 0) == 0)) &&
       (!hashMax || nla_put_u32(m, IFLA_BR_MCAST_HASH_MAX, *hashMax) == 0);
  if (!ok) return failMsg(what + ": message too long");
  nla_nest_end(m, data);
  nla_nest_end(m, info);
  if (int err = nl_send_auto(sock, m); err < 0) return fail(nlError(what, err));
  if (int err = nl_wait_for_ack(sock); err < 0) return fail(nlError(what, err));
  return {};
}

VoidResult Netlink::createBridge(const std::string& name, std::optional<Mac> mac) {
  return bridgeRequest(sock_.get(), name, NLM_F_CREATE | NLM_F_EXCL, mac, std::nullopt, 0,
                       std::nullopt, "create bridge '" + name + "'");
}

VoidResult Netlink::setBridgeMulticastQuerier(const std::string& name, bool querier,
                                              uint64_t responseCs) {
  return bridgeRequest(sock_.get(), name, 0, std::nullopt, querier, responseCs, std::nullopt,
                       "set multicast querier of bridge '" + name + "'");
}

namespace {
// Whether the running kernel's release is at least major.minor.
bool kernelAtLeast(int major, int minor) {
  utsname u{};
  int ma = 0, mi = 0;
  if (::uname(&u) < 0 || std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}
}  // namespace

Result<Netlink::MulticastQuerier> Netlink::bridgeMulticastQuerier(const std::string& name) {
  // Read from the bridge's own link message: libnl 3.7 parses no bridge attributes.
  const std::string what = "read the multicast querier of bridge '" + name + "'";
  std::unique_ptr<nl_msg, void (*)(nl_msg*)> msg(nlmsg_alloc_simple(RTM_GETLINK, NLM_F_REQUEST),
                                                 nlmsg_free);
  if (!msg) return failMsg(what + ": out of memory");
  struct ifinfomsg ifi {};
  ifi.ifi_family = AF_UNSPEC;
  if (nlmsg_append(msg.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
      nla_put_string(msg.get(), IFLA_IFNAME, name.c_str()) < 0)
    return failMsg(what + ": message too long");
  if (int err = nl_send_auto(sock_.get(), msg.get()); err < 0) return fail(nlError(what, err));

  struct Parsed {
    std::optional<MulticastQuerier> state;
  } parsed;
  auto onMessage = [](nl_msg* m, void* arg) -> int {
    auto* out = static_cast<Parsed*>(arg);
    nlattr *tb[IFLA_MAX + 1], *info[IFLA_INFO_MAX + 1], *br[IFLA_BR_MAX + 1],
        *q[BRIDGE_QUERIER_MAX + 1];
    if (nlmsg_parse(nlmsg_hdr(m), sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0 ||
        !tb[IFLA_LINKINFO] ||
        nla_parse_nested(info, IFLA_INFO_MAX, tb[IFLA_LINKINFO], nullptr) < 0 ||
        !info[IFLA_INFO_DATA] ||
        nla_parse_nested(br, IFLA_BR_MAX, info[IFLA_INFO_DATA], nullptr) < 0 ||
        !br[IFLA_BR_MCAST_QUERIER_STATE] ||
        nla_parse_nested(q, BRIDGE_QUERIER_MAX, br[IFLA_BR_MCAST_QUERIER_STATE], nullptr) < 0)
      return NL_SKIP;
    MulticastQuerier s;
    s.ipv6Address = "::";
    if (q[BRIDGE_QUERIER_IPV6_ADDRESS] && nla_len(q[BRIDGE_QUERIER_IPV6_ADDRESS]) == 16) {
      char text[INET6_ADDRSTRLEN];
      if (inet_ntop(AF_INET6, nla_data(q[BRIDGE_QUERIER_IPV6_ADDRESS]), text, sizeof text))
        s.ipv6Address = text;
    }
    if (q[BRIDGE_QUERIER_IPV6_PORT])
      s.ipv6Port = static_cast<int>(nla_get_u32(q[BRIDGE_QUERIER_IPV6_PORT]));
    if (q[BRIDGE_QUERIER_IPV6_OTHER_TIMER])
      s.ipv6OtherTimerCs = nla_get_u64(q[BRIDGE_QUERIER_IPV6_OTHER_TIMER]);
    out->state = s;
    return NL_OK;
  };
  nl_cb* own = nl_socket_get_cb(sock_.get());  // a reference
  std::unique_ptr<nl_cb, void (*)(nl_cb*)> cb(nl_cb_clone(own), nl_cb_put);
  nl_cb_put(own);
  if (!cb) return failMsg(what + ": out of memory");
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, onMessage, &parsed);
  if (int err = nl_recvmsgs(sock_.get(), cb.get()); err < 0) return fail(nlError(what, err));
  // The socket asks for acknowledgements; the one after the reply must not be left for the
  // next request to trip over.
  if (int err = nl_wait_for_ack(sock_.get()); err < 0) return fail(nlError(what, err));
  if (parsed.state) return *parsed.state;
  // Since 5.16 the kernel leaves the state out only when the bridge neither queries itself nor
  // counts another querier: it counts none.
  if (kernelAtLeast(5, 16)) return MulticastQuerier{"::", 0, 0};
  return failMsg(what + ": the kernel reports no querier state (before 5.16)");
}

VoidResult Netlink::setBridgeMulticastHashMax(const std::string& name, uint32_t groups) {
  return bridgeRequest(sock_.get(), name, 0, std::nullopt, std::nullopt, 0, groups,
                       "set multicast group limit of bridge '" + name + "'");
}

VoidResult Netlink::setBridgePort(int ifindex, const BridgePort& port) {
  // A message of its own: libnl 3.7's bridge port flags lack these attributes.
  const std::string what = "configure bridge port " + std::to_string(ifindex);
  std::unique_ptr<nl_msg, void (*)(nl_msg*)> msg(nlmsg_alloc_simple(RTM_SETLINK, NLM_F_REQUEST),
                                                 nlmsg_free);
  if (!msg) return failMsg(what + ": out of memory");
  struct ifinfomsg ifi {};
  ifi.ifi_family = AF_BRIDGE;
  ifi.ifi_index = ifindex;
  nl_msg* m = msg.get();
  bool ok = nlmsg_append(m, &ifi, sizeof ifi, NLMSG_ALIGNTO) == 0;
  nlattr* info = ok ? nla_nest_start(m, IFLA_PROTINFO) : nullptr;
  ok =
      info &&
      (!port.multicastFlood || nla_put_u8(m, IFLA_BRPORT_MCAST_FLOOD, *port.multicastFlood) == 0) &&
      (!port.multicastRouter ||
       nla_put_u8(m, IFLA_BRPORT_MULTICAST_ROUTER, *port.multicastRouter) == 0) &&
      (!port.maxGroups || nla_put_u32(m, kIflaBrportMcastMaxGroups, *port.maxGroups) == 0) &&
      (!port.unicastFlood || nla_put_u8(m, IFLA_BRPORT_UNICAST_FLOOD, *port.unicastFlood) == 0) &&
      (!port.learning || nla_put_u8(m, IFLA_BRPORT_LEARNING, *port.learning) == 0);
  if (!ok) return failMsg(what + ": message too long");
  nla_nest_end(m, info);
  if (int err = nl_send_auto(sock_.get(), m); err < 0) return fail(nlError(what, err));
  if (int err = nl_wait_for_ack(sock_.get()); err < 0) return fail(nlError(what, err));
  return {};
}

VoidResult Netlink::addMulticastEntry(int bridgeIfindex, int portIfindex,
                                      const std::string& group) {
  const std::string what = "add multicast entry " + group;
  br_mdb_entry entry{};
  entry.ifindex = static_cast<uint32_t>(portIfindex);
  entry.state = MDB_PERMANENT;
  if (::inet_pton(AF_INET6, group.c_str(), &entry.addr.u.ip6) == 1)
    entry.addr.proto = htons(ETH_P_IPV6);
  else if (::inet_pton(AF_INET, group.c_str(), &entry.addr.u.ip4) == 1)
    entry.addr.proto = htons(ETH_P_IP);
  else
    return failMsg(what + ": not an IP address");
  std::unique_ptr<nl_msg, void (*)(nl_msg*)> msg(
      nlmsg_alloc_simple(RTM_NEWMDB, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE), nlmsg_free);
  if (!msg) return failMsg(what + ": out of memory");
  br_port_msg bpm{};
  bpm.family = AF_BRIDGE;
  bpm.ifindex = static_cast<uint32_t>(bridgeIfindex);
  nl_msg* m = msg.get();
  if (nlmsg_append(m, &bpm, sizeof bpm, NLMSG_ALIGNTO) < 0 ||
      nla_put(m, MDBA_SET_ENTRY, sizeof entry, &entry) < 0)
    return failMsg(what + ": message too long");
  if (int err = nl_send_auto(sock_.get(), m); err < 0) return fail(nlError(what, err));
  if (int err = nl_wait_for_ack(sock_.get()); err < 0) return fail(nlError(what, err));
  return {};
}

std::string eui64LinkLocal(const Mac& m) {
  // In the canonical text form, so that it compares equal to what the kernel reports.
  in6_addr a{};
  a.s6_addr[0] = 0xfe;
  a.s6_addr[1] = 0x80;
  const uint8_t id[8] = {
      static_cast<uint8_t>(m[0] ^ 0x02), m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]};
  std::memcpy(a.s6_addr + 8, id, sizeof id);
  char buf[INET6_ADDRSTRLEN];
  return ::inet_ntop(AF_INET6, &a, buf, sizeof buf) ? buf : "";
}

Result<std::string> solicitedNodeGroup(const std::string& ipv6) {
  in6_addr a{};
  if (::inet_pton(AF_INET6, ipv6.c_str(), &a) != 1)
    return failMsg("not an IPv6 address: '" + ipv6 + "'");
  in6_addr g{};
  g.s6_addr[0] = 0xff;
  g.s6_addr[1] = 0x02;
  g.s6_addr[11] = 0x01;
  g.s6_addr[12] = 0xff;
  for (int i = 13; i < 16; ++i) g.s6_addr[i] = a.s6_addr[i];
  char buf[INET6_ADDRSTRLEN];
  ::inet_ntop(AF_INET6, &g, buf, sizeof buf);
  return std::string(buf);
}

VoidResult Netlink::deleteLink(const std::string& name) {
  LinkPtr link(rtnl_link_alloc());
  rtnl_link_set_name(link.p, name.c_str());
  int err = rtnl_link_delete(sock_.get(), link.p);
  if (err < 0) return fail(nlError("delete link '" + name + "'", err));
  return {};
}

VoidResult Netlink::setUp(const std::string& name, bool up, bool ipv6LinkLocal) {
  return modifyLink(sock_.get(), name, up ? "set up" : "set down", [=](rtnl_link* l) {
    up ? rtnl_link_set_flags(l, IFF_UP) : rtnl_link_unset_flags(l, IFF_UP);
    if (!ipv6LinkLocal) rtnl_link_inet6_set_addr_gen_mode(l, IN6_ADDR_GEN_MODE_NONE);
  });
}

VoidResult Netlink::redirectIngress(int fromIfindex, int toIfindex) {
  const std::string what =
      "redirect link " + std::to_string(fromIfindex) + " to " + std::to_string(toIfindex);
  rtnl_qdisc* q = rtnl_qdisc_alloc();
  if (!q) return failMsg(what + ": out of memory");
  rtnl_tc_set_ifindex(TC_CAST(q), fromIfindex);
  rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
  rtnl_tc_set_handle(TC_CAST(q), TC_HANDLE(0xffff, 0));
  int err = rtnl_tc_set_kind(TC_CAST(q), "ingress");
  if (err == 0) err = rtnl_qdisc_add(sock_.get(), q, NLM_F_CREATE);
  rtnl_qdisc_put(q);
  if (err < 0) return fail(nlError(what + ": ingress qdisc", err));

  rtnl_cls* cls = rtnl_cls_alloc();
  rtnl_act* act = rtnl_act_alloc();
  if (!cls || !act) {
    if (cls) rtnl_cls_put(cls);
    if (act) rtnl_act_put(act);
    return failMsg(what + ": out of memory");
  }
  rtnl_tc_set_ifindex(TC_CAST(cls), fromIfindex);
  rtnl_tc_set_parent(TC_CAST(cls), TC_HANDLE(0xffff, 0));
  rtnl_cls_set_protocol(cls, ETH_P_ALL);
  rtnl_cls_set_prio(cls, 1);
  // u32 matching every packet rather than matchall, which some kernels (this project's CI
  // machine's among them) are built without.
  err = rtnl_tc_set_kind(TC_CAST(cls), "u32");
  if (err == 0) err = rtnl_u32_add_key_uint32(cls, 0, 0, 0, 0);
  if (err == 0) err = rtnl_u32_set_cls_terminal(cls);  // a match runs the action
  if (err == 0) err = rtnl_tc_set_kind(TC_CAST(act), "mirred");
  if (err == 0) err = rtnl_mirred_set_action(act, TCA_EGRESS_REDIR);
  if (err == 0) err = rtnl_mirred_set_policy(act, TC_ACT_STOLEN);
  if (err == 0) err = rtnl_mirred_set_ifindex(act, static_cast<uint32_t>(toIfindex));
  if (err == 0) err = rtnl_u32_add_action(cls, act);
  if (err == 0) err = rtnl_cls_add(sock_.get(), cls, NLM_F_CREATE);
  rtnl_act_put(act);
  rtnl_cls_put(cls);
  if (err < 0) return fail(nlError(what + ": u32 filter", err));
  return {};
}

VoidResult Netlink::setPromiscuous(const std::string& name) {
  return modifyLink(sock_.get(), name, "set promiscuous",
                    [](rtnl_link* l) { rtnl_link_set_flags(l, IFF_PROMISC); });
}

VoidResult Netlink::setMaster(const std::string& name, int masterIndex) {
  return modifyLink(sock_.get(), name, "set master of",
                    [=](rtnl_link* l) { rtnl_link_set_master(l, masterIndex); });
}

VoidResult Netlink::setMac(const std::string& name, const Mac& mac) {
  return modifyLink(sock_.get(), name, "set MAC of", [&](rtnl_link* l) { setMacOn(l, mac); });
}

VoidResult Netlink::setMtu(const std::string& name, unsigned mtu) {
  return modifyLink(sock_.get(), name, "set MTU of",
                    [=](rtnl_link* l) { rtnl_link_set_mtu(l, mtu); });
}

VoidResult Netlink::moveToNetns(const std::string& name, int netnsFd) {
  return modifyLink(sock_.get(), name, "move to namespace",
                    [=](rtnl_link* l) { rtnl_link_set_ns_fd(l, netnsFd); });
}

Result<int> Netlink::linkIndex(const std::string& name) {
  // SIOCGIFINDEX on the netlink socket (the kernel hands a socket's unknown ioctls to the
  // devices of the socket's namespace) instead of RTM_GETLINK: the answer to a GETLINK is a
  // whole link message, and for a veth whose peer is in another namespace that message looks
  // up the peer's namespace id by walking all of them (peernet2id). In the radio namespace of
  // 10,000 devices, that walk was 4% of all CPU while creating them.
  ifreq req{};
  if (name.empty() || name.size() >= sizeof req.ifr_name)
    return failMsg("find link '" + name + "': not a link name");
  std::memcpy(req.ifr_name, name.data(), name.size());
  if (::ioctl(nl_socket_get_fd(sock_.get()), SIOCGIFINDEX, &req) < 0)
    return failSys("find link '" + name + "'");
  return req.ifr_ifindex;
}

namespace {
using RtnlAddrPtr = std::unique_ptr<rtnl_addr, void (*)(rtnl_addr*)>;
// An address object for `cidr` on the link with index `ifindex`, for adding or deleting.
Result<RtnlAddrPtr> buildAddress(int ifindex, const std::string& cidr) {
  auto local = parseAddress(cidr, AF_UNSPEC, "address");
  if (!local) return fail(local.error());
  RtnlAddrPtr addr(rtnl_addr_alloc(), rtnl_addr_put);
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  rtnl_addr_set_local(addr.get(), local->p);
  if (nl_addr_get_family(local->p) == AF_INET6) rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
  return addr;
}
}  // namespace

VoidResult Netlink::addAddress(const std::string& name, const std::string& cidr) {
  auto idx = linkIndex(name);
  if (!idx) return fail(idx.error());
  auto addr = buildAddress(*idx, cidr);
  if (!addr) return fail(addr.error());
  if (int err = rtnl_addr_add(sock_.get(), addr->get(), 0); err < 0)
    return fail(nlError("add address " + cidr + " to '" + name + "'", err));
  return {};
}

VoidResult Netlink::deleteAddress(const std::string& name, const std::string& cidr) {
  auto idx = linkIndex(name);
  if (!idx) return fail(idx.error());
  auto addr = buildAddress(*idx, cidr);
  if (!addr) return fail(addr.error());
  int err = rtnl_addr_delete(sock_.get(), addr->get(), 0);
  if (err == -NLE_NOADDR || err == -NLE_OBJ_NOTFOUND) return {};
  if (err < 0) return fail(nlError("delete address " + cidr + " from '" + name + "'", err));
  return {};
}

VoidResult Netlink::addRoute(const std::string& cidr, const std::string& name,
                             const std::string& gateway, uint32_t table) {
  return addRoute(
      Route{.to = cidr, .link = name, .via = gateway, .from = {}, .table = table, .ifindex = 0});
}

namespace {

// A route object for `r` (its nexthop through `ifindex`), or the error naming what is wrong.
Result<std::unique_ptr<rtnl_route, void (*)(rtnl_route*)>> buildRoute(const Netlink::Route& r,
                                                                      int ifindex) {
  auto dstPtr = parseAddress(r.to, AF_UNSPEC, "route");
  if (!dstPtr) return fail(dstPtr.error());
  const int family = nl_addr_get_family(dstPtr->p);
  std::unique_ptr<rtnl_route, void (*)(rtnl_route*)> route(rtnl_route_alloc(), rtnl_route_put);
  rtnl_route_set_family(route.get(), static_cast<uint8_t>(family));
  rtnl_route_set_dst(route.get(), dstPtr->p);
  if (!r.from.empty()) {
    auto src = parseAddress(r.from, family, "route source");
    if (!src) return fail(src.error());
    rtnl_route_set_src(route.get(), src->p);
  }
  rtnl_route_set_table(route.get(), r.table ? r.table : RT_TABLE_MAIN);
  rtnl_route_set_protocol(route.get(), RTPROT_STATIC);
  rtnl_route_set_scope(route.get(), r.via.empty() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  rtnl_route_nh_set_ifindex(nh, ifindex);
  if (!r.via.empty()) {
    auto g = parseAddress(r.via, family, "gateway");
    if (!g) {
      rtnl_route_nh_free(nh);
      return fail(g.error());
    }
    // Onlink: without it the kernel validates an IPv6 gateway by looking up the prefix route
    // of the link's address, which addrconf re-adds when the link comes up; under load, 1
    // create in 1,000 lost that race (libnl's "Unspecific failure", an errno it does not
    // name, as the EHOSTUNREACH of that check). Our gateways are on the link by construction.
    rtnl_route_nh_set_gateway(nh, g->p);
    rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
  }
  rtnl_route_add_nexthop(route.get(), nh);  // the route owns it from here
  return route;
}

}  // namespace

VoidResult Netlink::addRoute(const Route& r) {
  auto idx = linkIndex(r.link);
  if (!idx) return fail(idx.error());
  auto route = buildRoute(r, *idx);
  if (!route) return fail(route.error());
  int err = rtnl_route_add(sock_.get(), route->get(), NLM_F_CREATE | NLM_F_REPLACE);
  if (err < 0) return fail(nlError("add route " + r.to + " via '" + r.link + "'", err));
  return {};
}

VoidResult Netlink::deleteRoute(const Route& r) {
  auto idx = linkIndex(r.link);
  if (!idx) return fail(idx.error());
  auto route = buildRoute(r, *idx);
  if (!route) return fail(route.error());
  int err = rtnl_route_delete(sock_.get(), route->get(), 0);
  if (err < 0 && err != -NLE_OBJ_NOTFOUND)
    return fail(nlError("delete route " + r.to + " via '" + r.link + "'", err));
  return {};
}

VoidResult Netlink::addRule(int family, const std::string& iif, uint32_t table, uint32_t priority) {
  return addRule(Rule{
      .family = family, .iif = iif, .from = {}, .to = {}, .table = table, .priority = priority});
}

namespace {

Result<std::unique_ptr<rtnl_rule, void (*)(rtnl_rule*)>> buildRule(const Netlink::Rule& r) {
  std::unique_ptr<rtnl_rule, void (*)(rtnl_rule*)> rule(rtnl_rule_alloc(), rtnl_rule_put);
  rtnl_rule_set_family(rule.get(), r.family);
  if (!r.iif.empty()) rtnl_rule_set_iif(rule.get(), r.iif.c_str());
  for (bool source : {true, false}) {
    const std::string& text = source ? r.from : r.to;
    if (text.empty()) continue;
    auto a = parseAddress(text, r.family, "rule");
    if (!a) return fail(a.error());
    int err = source ? rtnl_rule_set_src(rule.get(), a->p) : rtnl_rule_set_dst(rule.get(), a->p);
    if (err < 0) return fail(nlError("rule " + text, err));
  }
  rtnl_rule_set_table(rule.get(), r.table);
  rtnl_rule_set_prio(rule.get(), r.priority);
  rtnl_rule_set_action(rule.get(), FR_ACT_TO_TBL);
  return rule;
}

std::string describe(const Netlink::Rule& r) {
  return "rule" + (r.iif.empty() ? "" : " iif '" + r.iif + "'") +
         (r.from.empty() ? "" : " from " + r.from) + (r.to.empty() ? "" : " to " + r.to) +
         " table " + std::to_string(r.table);
}

}  // namespace

VoidResult Netlink::addRule(const Rule& r) {
  auto rule = buildRule(r);
  if (!rule) return fail(rule.error());
  int err = rtnl_rule_add(sock_.get(), rule->get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err == -NLE_EXIST) return {};
  if (err < 0) return fail(nlError("add " + describe(r), err));
  return {};
}

VoidResult Netlink::deleteRule(const Rule& r) {
  auto rule = buildRule(r);
  if (!rule) return fail(rule.error());
  int err = rtnl_rule_delete(sock_.get(), rule->get(), 0);
  if (err < 0 && err != -NLE_OBJ_NOTFOUND) return fail(nlError("delete " + describe(r), err));
  return {};
}

VoidResult Netlink::addNeighbour(const std::string& name, const std::string& ip, const Mac& mac) {
  auto idx = linkIndex(name);
  if (!idx) return fail(idx.error());
  auto dst = parseAddress(ip, AF_UNSPEC, "address");
  if (!dst) return fail(dst.error());
  AddrPtr ll(nl_addr_build(AF_LLC, mac.data(), mac.size()));
  rtnl_neigh* n = rtnl_neigh_alloc();
  rtnl_neigh_set_ifindex(n, *idx);
  rtnl_neigh_set_dst(n, dst->p);
  rtnl_neigh_set_lladdr(n, ll.p);
  rtnl_neigh_set_state(n, NUD_PERMANENT);
  int err = rtnl_neigh_add(sock_.get(), n, NLM_F_CREATE | NLM_F_REPLACE);
  rtnl_neigh_put(n);
  if (err < 0) return fail(nlError("add neighbour " + ip + " on '" + name + "'", err));
  return {};
}

VoidResult Netlink::deleteNeighbour(const std::string& name, const std::string& ip) {
  auto idx = linkIndex(name);
  if (!idx) return fail(idx.error());
  auto dst = parseAddress(ip, AF_UNSPEC, "address");
  if (!dst) return fail(dst.error());
  rtnl_neigh* n = rtnl_neigh_alloc();
  rtnl_neigh_set_ifindex(n, *idx);
  rtnl_neigh_set_dst(n, dst->p);
  int err = rtnl_neigh_delete(sock_.get(), n, 0);
  rtnl_neigh_put(n);
  if (err == -NLE_OBJ_NOTFOUND) return {};
  if (err < 0) return fail(nlError("delete neighbour " + ip + " on '" + name + "'", err));
  return {};
}

Result<std::vector<Netlink::Route>> Netlink::routes(int family) {
  nl_cache* cache = nullptr;
  if (int err = rtnl_route_alloc_cache(sock_.get(), family, 0, &cache); err < 0)
    return fail(nlError("list routes", err));
  auto text = [](nl_addr* a) {
    char buf[INET6_ADDRSTRLEN + 8];
    return a ? std::string(nl_addr2str(a, buf, sizeof buf)) : std::string();
  };
  std::vector<Route> out;
  for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_type(r) != RTN_UNICAST || rtnl_route_get_nnexthops(r) < 1) continue;
    rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
    nl_addr* from = rtnl_route_get_src(r);
    out.push_back({text(rtnl_route_get_dst(r)), "", text(rtnl_route_nh_get_gateway(nh)),
                   from && nl_addr_get_prefixlen(from) ? text(from) : std::string(),
                   rtnl_route_get_table(r), rtnl_route_nh_get_ifindex(nh)});
  }
  nl_cache_free(cache);
  return out;
}

static Netlink::LinkInfo linkInfoOf(rtnl_link* l) {
  return {rtnl_link_get_name(l),
          rtnl_link_get_ifindex(l),
          rtnl_link_get_master(l),
          rtnl_link_get_stat(l, RTNL_LINK_RX_PACKETS),
          rtnl_link_get_stat(l, RTNL_LINK_TX_PACKETS),
          rtnl_link_get_stat(l, RTNL_LINK_TX_DROPPED),
          rtnl_link_get_num_rx_queues(l),
          rtnl_link_get_num_tx_queues(l)};
}

Result<std::vector<Netlink::LinkInfo>> Netlink::links() {
  nl_cache* cache = nullptr;
  if (int err = rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, &cache); err < 0)
    return fail(nlError("list links", err));
  std::vector<LinkInfo> out;
  for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o))
    out.push_back(linkInfoOf(reinterpret_cast<rtnl_link*>(o)));
  nl_cache_free(cache);
  return out;
}

Result<Netlink::LinkInfo> Netlink::link(const std::string& name) {
  rtnl_link* l = nullptr;
  int err = rtnl_link_get_kernel(sock_.get(), 0, name.c_str(), &l);
  if (err < 0) return fail(nlError("find link '" + name + "'", err));
  LinkInfo info = linkInfoOf(l);
  rtnl_link_put(l);
  return info;
}

Result<std::vector<std::string>> Netlink::linkNames() {
  auto all = links();
  if (!all) return fail(all.error());
  std::vector<std::string> names;
  for (auto& l : *all) names.push_back(std::move(l.name));
  return names;
}

VoidResult createTap(const std::string& name, uid_t uid, gid_t gid, bool tun) {
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return failSys("open /dev/net/tun");
  struct ifreq ifr {};
  ifr.ifr_flags = static_cast<short>((tun ? IFF_TUN : IFF_TAP) | IFF_NO_PI);
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  const std::string what = std::string(tun ? "tun" : "tap") + " '" + name + "'";
  VoidResult r;
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0)
    r = failSys("create " + what);
  else if (::ioctl(fd, TUNSETOWNER, static_cast<unsigned long>(uid)) < 0)
    r = failSys("set owner of " + what);
  else if (::ioctl(fd, TUNSETGROUP, static_cast<unsigned long>(gid)) < 0)
    r = failSys("set group of " + what);
  else if (::ioctl(fd, TUNSETPERSIST, 1UL) < 0)
    r = failSys("make " + what + " persistent");
  ::close(fd);
  return r;
}

Result<UniqueFd> openTun(const std::string& name) {
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return failSys("open /dev/net/tun");
  struct ifreq ifr {};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) return failSys("create tun '" + name + "'");
  return fd;
}

}  // namespace kuiga::sys
