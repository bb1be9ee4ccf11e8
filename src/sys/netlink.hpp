#pragma once
// Link and address operations over rtnetlink, through libnl-route. A Netlink socket belongs to
// the network namespace of the thread that opened it, for its whole life; open one inside a
// netns::ThreadGuard to operate on another namespace.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "sys/fd.hpp"

struct nl_sock;

namespace kuiga::sys {

using Mac = std::array<uint8_t, 6>;
std::string formatMac(const Mac& mac);
// The solicited-node multicast group of an IPv6 address (ff02::1:ffXX:XXXX), to which
// neighbour solicitations for that address are sent.
Result<std::string> solicitedNodeGroup(const std::string& ipv6);
// The EUI-64 link-local address of a MAC, as the kernel would derive it.
std::string eui64LinkLocal(const Mac& mac);

struct VethSpec {
  std::string name;  // end that stays in the socket's namespace
  std::optional<Mac> mac;
  std::optional<int> masterIndex;  // enslave to this bridge at creation
  std::string peerName;
  std::optional<Mac> peerMac;
  int peerNetnsFd = -1;  // -1: the peer stays here too
  bool up = false;       // bring this end up in the same request (the peer must come up separately)
};

class Netlink {
 public:
  static Result<Netlink> open();
  // A socket opened in network namespace `netnsFd` (it stays there; the thread does not).
  static Result<Netlink> openIn(int netnsFd);
  Netlink(Netlink&&) noexcept = default;
  Netlink& operator=(Netlink&&) noexcept = default;
  ~Netlink();

  VoidResult createVeth(const VethSpec& spec);
  VoidResult createBridge(const std::string& name, std::optional<Mac> mac = std::nullopt);
  // The bridge queries for multicast listeners itself, so that its snooping knows a querier and
  // forwards multicast to listeners only instead of flooding. Turn it on once the bridge is up
  // and has its IPv6 address: a query that finds no source address disables IPv6 snooping
  // until the next query, half a minute later. Listeners answer within `responseCs`
  // centiseconds; for that long after a querier appears the bridge floods.
  VoidResult setBridgeMulticastQuerier(const std::string& name, bool querier,
                                       uint64_t responseCs = 1000);
  // Raise the bridge's limit of multicast groups (default 4096); past it the kernel turns
  // snooping off and floods.
  VoidResult setBridgeMulticastHashMax(const std::string& name, uint32_t groups);
  // The MLD querier a bridge counts (IFLA_BR_MCAST_QUERIER_STATE): its own, another one, or
  // none ("::", port 0, timer 0: a bridge that does not query and heard no querier).
  struct MulticastQuerier {
    std::string ipv6Address;        // "::" while none was elected
    int ipv6Port = 0;               // ifindex of the port another querier is heard on; 0: none
    uint64_t ipv6OtherTimerCs = 0;  // how long another querier still counts; 0: not running
  };
  Result<MulticastQuerier> bridgeMulticastQuerier(const std::string& name);
  VoidResult deleteLink(const std::string& name);
  // Multicast settings of a bridge port. Unset fields stay as they are.
  struct BridgePort {
    // Flood multicast that has no known listeners to this port (IFLA_BRPORT_MCAST_FLOOD).
    std::optional<bool> multicastFlood;
    // Whether the port leads to a multicast router (IFLA_BRPORT_MULTICAST_ROUTER): 0 never,
    // 1 when queries are heard on it (the default), 2 always. A router port gets every
    // multicast frame and every listener report.
    std::optional<uint8_t> multicastRouter;
    // The most multicast groups the bridge learns on this port (IFLA_BRPORT_MCAST_MAX_GROUPS,
    // 0 = no limit); reports for more are ignored.
    std::optional<uint32_t> maxGroups;
    // Flood unicast to unknown addresses to this port (IFLA_BRPORT_UNICAST_FLOOD).
    std::optional<bool> unicastFlood;
    // Learn the source addresses of frames from this port (IFLA_BRPORT_LEARNING).
    std::optional<bool> learning;
  };
  VoidResult setBridgePort(int ifindex, const BridgePort& port);
  // A permanent multicast database entry: the bridge delivers `group` (IPv6 or IPv4) to the
  // port without waiting for a listener report. `portIfindex == bridgeIfindex` joins the
  // bridge itself.
  VoidResult addMulticastEntry(int bridgeIfindex, int portIfindex, const std::string& group);
  VoidResult setPromiscuous(const std::string& name);
  // Every frame arriving on `from` leaves through `to`, unchanged: an ingress qdisc with a
  // match-everything u32 filter and a mirred redirect. Two of them join two links like a wire,
  // without the cost of a bridge.
  VoidResult redirectIngress(int fromIfindex, int toIfindex);
  // `ipv6LinkLocal = false` also sets IPv6 address generation to "none" in the same request:
  // no link-local address, hence no duplicate address detection or router solicitations.
  VoidResult setUp(const std::string& name, bool up = true, bool ipv6LinkLocal = true);
  VoidResult setMaster(const std::string& name, int masterIndex);
  VoidResult setMac(const std::string& name, const Mac& mac);
  VoidResult setMtu(const std::string& name, unsigned mtu);
  VoidResult moveToNetns(const std::string& name, int netnsFd);
  // `cidr` like "10.1.0.5/16" or "fd00::5/64". DAD is skipped so the address works at once.
  VoidResult addAddress(const std::string& name, const std::string& cidr);
  // Removes the address (`cidr` as given to addAddress()); one the link does not hold is no error.
  VoidResult deleteAddress(const std::string& name, const std::string& cidr);
  // A route to `cidr` ("10.0.0.0/8"; "0.0.0.0/0" and "::/0" for the defaults) out of link
  // `name`, optionally via `gateway`; an existing route to the same place is replaced. A gateway
  // is taken as on the link (onlink): the kernel does not look for a route to it first.
  VoidResult addRoute(const std::string& cidr, const std::string& name,
                      const std::string& gateway = {}, uint32_t table = 0);
  // The same with a source prefix: only packets from `from` take it (IPv6 subtrees).
  struct Route {
    std::string to, link, via, from;
    uint32_t table = 0;
    int ifindex = 0;  // as listed by routes() (which leaves `link` empty)
  };
  VoidResult addRoute(const Route& r);
  // Deletes that route; one that is not there is success.
  VoidResult deleteRoute(const Route& r);
  // The routes of `family` in every table, with their first nexthop (unicast routes only).
  Result<std::vector<Route>> routes(int family);
  // A policy rule: packets of `family` (AF_INET, AF_INET6) arriving on link `iif` are routed by
  // table `table`, at priority `priority`; an existing equal rule is success.
  VoidResult addRule(int family, const std::string& iif, uint32_t table, uint32_t priority);
  // The same with a source and a destination prefix (either may be empty, as may `iif`).
  struct Rule {
    int family = 0;
    std::string iif, from, to;
    uint32_t table = 0, priority = 0;
  };
  VoidResult addRule(const Rule& r);
  // Deletes that rule; one that is not there is success.
  VoidResult deleteRule(const Rule& r);
  // A permanent neighbour entry: `ip` is at `mac` on link `name` (no ARP or ND for it).
  VoidResult addNeighbour(const std::string& name, const std::string& ip, const Mac& mac);
  // Removes a neighbour entry; a missing one is success.
  VoidResult deleteNeighbour(const std::string& name, const std::string& ip);
  // A static forwarding entry on a bridge port: frames to `mac` go out of that port, learned
  // or not. It goes with the port.
  VoidResult addBridgeFdbEntry(int portIfindex, const Mac& mac);
  // Removes that entry; a missing one is success.
  VoidResult deleteBridgeFdbEntry(int portIfindex, const Mac& mac);

  // netlink_tunnel.cpp: VXLAN devices and their forwarding entries.
  struct VxlanSpec {
    std::string name;
    uint32_t vni = 0;
    std::string local;  // the underlay address (IPv4 or IPv6) its socket binds to
    uint16_t port = 4789;
    int mtu = 1500;
    int netnsFd = -1;  // create it there; its tunnel stays in this socket's namespace
  };
  // No learning: the forwarding entries below are all it knows.
  VoidResult createVxlan(const VxlanSpec& spec);
  // A permanent entry of the VXLAN device: frames to `mac` go to underlay address `dst`.
  // The all-zero MAC is the default; `append` adds another destination for it (head-end
  // replication: frames without an entry of their own go to each).
  VoidResult addTunnelEntry(int vxlanIfindex, const Mac& mac, const std::string& dst,
                            bool append = false);
  // Removes one; a missing one is success.
  VoidResult deleteTunnelEntry(int vxlanIfindex, const Mac& mac, const std::string& dst);

  Result<int> linkIndex(const std::string& name);
  Result<std::vector<std::string>> linkNames();
  struct LinkInfo {
    std::string name;
    int index = 0;
    int master = 0;                         // ifindex of the bridge it is enslaved to, 0 if none
    uint64_t rxPackets = 0, txPackets = 0;  // the kernel's counters
    uint64_t txDropped = 0;                 // what the kernel could not queue on it
    uint32_t rxQueues = 0, txQueues = 0;    // queues the kernel allocated for it
  };
  Result<std::vector<LinkInfo>> links();
  // One link by name, without dumping them all.
  Result<LinkInfo> link(const std::string& name);

 private:
  struct SockDeleter {
    void operator()(nl_sock* s) const;
  };
  explicit Netlink(nl_sock* s) : sock_(s) {}
  std::unique_ptr<nl_sock, SockDeleter> sock_;
};

// Create a persistent tap (or, with `tun`, an IP-level tun, IFF_NO_PI) device in the calling
// thread's network namespace, owned by uid/gid so an unprivileged process may attach to it
// with TUNSETIFF.
VoidResult createTap(const std::string& name, uid_t uid, gid_t gid, bool tun = false);
// Create a tun device (IP packets, no packet-information header) in the calling thread's
// network namespace, non-blocking; it goes away when the returned descriptor is closed.
Result<UniqueFd> openTun(const std::string& name);

}  // namespace kuiga::sys
