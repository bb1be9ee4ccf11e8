#include "sys/netlink.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <netlink/addr.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/link/veth.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace kuiga::sys {
namespace {

// libnl reports its own codes; keep the kernel's errno where libnl maps one back.
Error nlError(const std::string& what, int err) {
  int code = 0;
  switch (-err) {
    case NLE_EXIST:
      code = EEXIST;
      break;
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
      code = ENODEV;
      break;
    case NLE_PERM:
      code = EPERM;
      break;
    case NLE_BUSY:
      code = EBUSY;
      break;
    case NLE_NOMEM:
      code = ENOMEM;
      break;
    case NLE_RANGE:
      code = ERANGE;
      break;
    default:
      break;
  }
  return Error{what + ": " + nl_geterror(err), code};
}

struct LinkPtr {
  rtnl_link* p;
  explicit LinkPtr(rtnl_link* l) : p(l) {}
  ~LinkPtr() {
    if (p) rtnl_link_put(p);
  }
  LinkPtr(const LinkPtr&) = delete;
  LinkPtr& operator=(const LinkPtr&) = delete;
};

struct AddrPtr {
  nl_addr* p;
  explicit AddrPtr(nl_addr* a) : p(a) {}
  ~AddrPtr() {
    if (p) nl_addr_put(p);
  }
  AddrPtr(const AddrPtr&) = delete;
  AddrPtr& operator=(const AddrPtr&) = delete;
};

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
  return nl;
}

VoidResult Netlink::createVeth(const VethSpec& spec) {
  LinkPtr link(rtnl_link_veth_alloc());
  if (!link.p) return failMsg("allocate veth");
  rtnl_link_set_name(link.p, spec.name.c_str());
  if (spec.mac) setMacOn(link.p, *spec.mac);
  if (spec.masterIndex) rtnl_link_set_master(link.p, *spec.masterIndex);
  if (spec.up) rtnl_link_set_flags(link.p, IFF_UP);
  rtnl_link* peer = rtnl_link_veth_get_peer(link.p);
  rtnl_link_set_name(peer, spec.peerName.c_str());
  if (spec.peerMac) setMacOn(peer, *spec.peerMac);
  if (spec.peerNetnsFd >= 0) rtnl_link_set_ns_fd(peer, spec.peerNetnsFd);
  rtnl_link_put(peer);
  int err = rtnl_link_add(sock_.get(), link.p, NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) return fail(nlError("create veth '" + spec.name + "'/'" + spec.peerName + "'", err));
  return {};
}

VoidResult Netlink::createBridge(const std::string& name, bool multicastQuerier) {
  // Built as a message because libnl 3.7 has no setters for bridge attributes (IFLA_BR_*), and
  // rtnl_link_bridge_add() omits NLM_F_EXCL, "creating" an existing bridge.
  std::unique_ptr<nl_msg, void (*)(nl_msg*)> msg(
      nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL), nlmsg_free);
  if (!msg) return failMsg("create bridge '" + name + "': out of memory");
  struct ifinfomsg ifi {};
  ifi.ifi_family = AF_UNSPEC;
  nl_msg* m = msg.get();
  bool ok = nlmsg_append(m, &ifi, sizeof ifi, NLMSG_ALIGNTO) == 0 &&
            nla_put_string(m, IFLA_IFNAME, name.c_str()) == 0;
  nlattr* info = ok ? nla_nest_start(m, IFLA_LINKINFO) : nullptr;
  ok = info && nla_put_string(m, IFLA_INFO_KIND, "bridge") == 0;
  nlattr* data = ok ? nla_nest_start(m, IFLA_INFO_DATA) : nullptr;
  ok = data && (!multicastQuerier || (nla_put_u8(m, IFLA_BR_MCAST_SNOOPING, 1) == 0 &&
                                      nla_put_u8(m, IFLA_BR_MCAST_QUERIER, 1) == 0));
  if (!ok) return failMsg("create bridge '" + name + "': message too long");
  nla_nest_end(m, data);
  nla_nest_end(m, info);
  if (int err = nl_send_auto(sock_.get(), m); err < 0)
    return fail(nlError("create bridge '" + name + "'", err));
  if (int err = nl_wait_for_ack(sock_.get()); err < 0)
    return fail(nlError("create bridge '" + name + "'", err));
  return {};
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

VoidResult Netlink::setMaster(const std::string& name, int masterIndex) {
  return modifyLink(sock_.get(), name, "set master of",
                    [=](rtnl_link* l) { rtnl_link_set_master(l, masterIndex); });
}

VoidResult Netlink::setMac(const std::string& name, const Mac& mac) {
  return modifyLink(sock_.get(), name, "set MAC of", [&](rtnl_link* l) { setMacOn(l, mac); });
}

VoidResult Netlink::moveToNetns(const std::string& name, int netnsFd) {
  return modifyLink(sock_.get(), name, "move to namespace",
                    [=](rtnl_link* l) { rtnl_link_set_ns_fd(l, netnsFd); });
}

Result<int> Netlink::linkIndex(const std::string& name) {
  rtnl_link* link = nullptr;
  int err = rtnl_link_get_kernel(sock_.get(), 0, name.c_str(), &link);
  if (err < 0) return fail(nlError("find link '" + name + "'", err));
  int idx = rtnl_link_get_ifindex(link);
  rtnl_link_put(link);
  return idx;
}

VoidResult Netlink::addAddress(const std::string& name, const std::string& cidr) {
  auto idx = linkIndex(name);
  if (!idx) return fail(idx.error());
  nl_addr* local = nullptr;
  if (int err = nl_addr_parse(cidr.c_str(), AF_UNSPEC, &local); err < 0)
    return fail(nlError("parse address '" + cidr + "'", err));
  AddrPtr localPtr(local);
  rtnl_addr* addr = rtnl_addr_alloc();
  rtnl_addr_set_ifindex(addr, *idx);
  rtnl_addr_set_local(addr, local);
  if (nl_addr_get_family(local) == AF_INET6) rtnl_addr_set_flags(addr, IFA_F_NODAD);
  int err = rtnl_addr_add(sock_.get(), addr, 0);
  rtnl_addr_put(addr);
  if (err < 0) return fail(nlError("add address " + cidr + " to '" + name + "'", err));
  return {};
}

Result<std::vector<std::string>> Netlink::linkNames() {
  nl_cache* cache = nullptr;
  if (int err = rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, &cache); err < 0)
    return fail(nlError("list links", err));
  std::vector<std::string> names;
  for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o))
    names.emplace_back(rtnl_link_get_name(reinterpret_cast<rtnl_link*>(o)));
  nl_cache_free(cache);
  return names;
}

VoidResult createTap(const std::string& name, uid_t uid, gid_t gid) {
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return failSys("open /dev/net/tun");
  struct ifreq ifr {};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  VoidResult r;
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0)
    r = failSys("create tap '" + name + "'");
  else if (::ioctl(fd, TUNSETOWNER, static_cast<unsigned long>(uid)) < 0)
    r = failSys("set owner of tap '" + name + "'");
  else if (::ioctl(fd, TUNSETGROUP, static_cast<unsigned long>(gid)) < 0)
    r = failSys("set group of tap '" + name + "'");
  else if (::ioctl(fd, TUNSETPERSIST, 1UL) < 0)
    r = failSys("make tap '" + name + "' persistent");
  ::close(fd);
  return r;
}

}  // namespace kuiga::sys
