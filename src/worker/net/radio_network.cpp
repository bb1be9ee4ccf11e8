#include "worker/net/radio_network.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sys/file.hpp"
#include "sys/netlink.hpp"
#include "sys/netns.hpp"
#include "worker/net/radio_socket.hpp"

namespace kuiga::worker::net {

detail::ThreadSocket& detail::threadSocket() {
  thread_local ThreadSocket socket;
  return socket;
}

namespace {

using detail::withRadioSocket;

// How long listeners may take to answer a query (the kernel's minimum, 100 ms): for that long
// after a bridge meets a new querier it floods multicast instead of snooping.
constexpr uint64_t kQueryResponseCs = 10;
// Two solicited-node groups per instance, 50,000 instances, and room for the AUTs' own groups.
constexpr uint32_t kCoreMulticastGroups = 1u << 18;
std::atomic<uint64_t> gNextGeneration{1};

// A leaf's MAC, 02:00:01:00:KK:KK. With the core's (kGatewayMac, 02:00:00:ff:ff:ff) it is in
// 02:00:00:00:00:00/23, which no device has: frames from there are the radio network's own and
// never cross to another worker (radio_tunnel.cpp). Its link-local address is above the core's,
// so the core wins every querier election.
sys::Mac leafMac(size_t k) {
  return {0x02, 0x00, 0x01, 0x00, static_cast<uint8_t>(k >> 8), static_cast<uint8_t>(k)};
}

// `name` is exactly `format` with two hex numbers ("rb%x.%x") or one ("rc%x").
bool parseName(const std::string& name, const char* format, unsigned* a, unsigned* b = nullptr) {
  int used = 0;
  std::string f = std::string(format) + "%n";
  int n = b ? std::sscanf(name.c_str(), f.c_str(), a, b, &used)
            : std::sscanf(name.c_str(), f.c_str(), a, &used);
  return n == (b ? 2 : 1) && static_cast<size_t>(used) == name.size();
}

// Instances send multicast unprompted (MLD reports when their addresses come up), and a bridge
// without a known querier floods every multicast frame to all ports: N instances coming up
// would cost N^2 deliveries. So every bridge snoops, and the core is the MLD/IGMP querier that
// every leaf counts (settleQueriersLocked()): reports go to queriers only and multicast reaches
// its listeners only. Leaves do not query themselves (`querier` false): a leaf has no IPv4
// address, so its IGMP queries came from 0.0.0.0, which wins every IPv4 election, and the core
// deferred to them; leaves that heard no other querier then queried all their ports about ten
// times a second (measured 2026-12-06). A querier needs an IPv6 address, so bridges (and only
// they: ports stay silent) get IPv6, without DAD so that the link-local address is usable at
// once. The calling thread must be in the radio namespace.
VoidResult startBridge(sys::Netlink& nl, const std::string& name, const sys::Mac& mac,
                       bool querier) {
  KUIGA_TRY(nl.createBridge(name, mac), "create");
  KUIGA_TRY(sys::writeFile("/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6", "0"), "sysctl");
  // The link-local address is added without DAD, so it is usable at once: an address the
  // kernel makes itself stays tentative for a moment even with accept_dad=0, and a query sent
  // then finds no source address.
  KUIGA_TRY(nl.addAddress(name, sys::eui64LinkLocal(mac) + "/64"), "link-local address");
  KUIGA_TRY(nl.setUp(name, true, false), "up");
  KUIGA_TRY(nl.setBridgeMulticastQuerier(name, querier, kQueryResponseCs), "querier");
  // Promiscuous, so that adding a port does not walk the whole forwarding table to sync
  // static entries into non-promiscuous ports (O(N) per port, O(N^2) per run).
  KUIGA_TRY(nl.setPromiscuous(name), "promiscuous");
  return {};
}

}  // namespace

std::string RadioNetwork::leafLink(RunId run, size_t k) {
  return fmt::format("rb{:x}.{:x}", run, k);
}
std::string RadioNetwork::leafUplink(RunId run, size_t k) {
  return fmt::format("ru{:x}.{:x}", run, k);
}
std::string RadioNetwork::coreDownlink(RunId run, size_t k) {
  return fmt::format("rd{:x}.{:x}", run, k);
}
std::string RadioNetwork::tunnelLink(RunId run) {
  return fmt::format("rx{:x}", run);
}
uint32_t RadioNetwork::vni(RunId run) {
  return run & 0xffffff;  // 24 bits; run ids past 16,777,215 share a VNI with an older run
}

RadioNetwork::RadioNetwork(std::string pin, sys::UniqueFd fd, sys::UniqueFd underlay)
    : pinPath_(std::move(pin)),
      netns_(std::move(fd)),
      underlayNetns_(std::move(underlay)),
      generation_(gNextGeneration++) {}

Result<std::unique_ptr<RadioNetwork>> RadioNetwork::open(const std::string& pinPath) {
  auto underlay = sys::netns::current();
  if (!underlay) return fail(underlay.error());
  if (sys::exists(pinPath)) {
    if (auto fd = sys::netns::openPinned(pinPath)) {
      std::unique_ptr<RadioNetwork> net(
          new RadioNetwork(pinPath, std::move(*fd), std::move(*underlay)));
      KUIGA_TRY(net->setUpNamespace(false), "set up radio namespace");
      KUIGA_TRY(net->relearn(), "radio namespace");
      return net;
    }
    (void)sys::netns::unpin(pinPath);  // a stale pin file without a namespace behind it
  }
  auto fd = sys::netns::create();
  if (!fd) return fail(fd.error().context("create radio namespace"));
  KUIGA_TRY(sys::netns::pin(fd->get(), pinPath), "pin radio namespace");
  std::unique_ptr<RadioNetwork> net(
      new RadioNetwork(pinPath, std::move(*fd), std::move(*underlay)));
  if (auto r = net->setUpNamespace(true); !r) {
    (void)net->destroy();
    return fail(r.error().context("set up radio namespace"));
  }
  return net;
}

VoidResult RadioNetwork::relearn() {
  // What a previous worker process made: the runs' trees, which instance links hang off each
  // leaf (so that port counts stay right), and the tunnels' peers.
  std::lock_guard lock(mu_);
  auto found = withRadioSocket(netnsFd(), generation_, [&](sys::Netlink& nl) -> VoidResult {
    auto links = nl.links();
    if (!links) return fail(links.error());
    std::map<RunId, std::map<unsigned, int>> leaves;
    for (const auto& l : *links) {
      unsigned run = 0, k = 0;
      if (parseName(l.name, "rc%x", &run)) trees_[run];
      if (!parseName(l.name, "rb%x.%x", &run, &k)) continue;
      leaves[run][k] = l.index;
      // A worker before 2026-12-06 made its leaves queriers (see startBridge()).
      KUIGA_TRY(nl.setBridgeMulticastQuerier(l.name, false, kQueryResponseCs), "relearn leaf");
    }
    for (auto& [run, tree] : trees_)
      for (unsigned k = 0; leaves[run].count(k); ++k) {
        tree.leafIndex.push_back(leaves[run][k]);
        tree.leafPorts.push_back(0);
      }
    for (const auto& l : *links) {
      unsigned run = 0, index = 0;
      if (!parseName(l.name, "kv%x.%x", &run, &index) || !trees_.count(run)) continue;
      Tree& tree = trees_[run];
      auto leaf = std::find(tree.leafIndex.begin(), tree.leafIndex.end(), l.master);
      if (leaf == tree.leafIndex.end()) continue;
      auto k = static_cast<size_t>(leaf - tree.leafIndex.begin());
      ++tree.leafPorts[k];
      leafOf_[{run, index}] = static_cast<int>(k);
    }
    return {};
  });
  if (!found) return found;
  loadPeersLocked();
  return {};
}

VoidResult RadioNetwork::setUpNamespace(bool fresh) {
  // sysctls below act on the namespace the thread is in.
  auto guard = sys::netns::ThreadGuard::enter(netnsFd());
  if (!guard) return fail(guard.error().context("enter radio namespace"));
  return withRadioSocket(netnsFd(), generation_, [&](sys::Netlink& nl) -> VoidResult {
    // No IPv6 on bridges and ports: they would chatter (router solicitations, MLD) on a medium
    // whose every frame is the devices' own. Only in a new namespace: "all" reaches the
    // existing links too, and would take the cores' addresses of a re-adopted one.
    if (fresh) {
      (void)sys::writeFile("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
      (void)sys::writeFile("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    }
    // The bridges join the all-snoopers group (224.0.0.106) and would report it on the medium
    // too. A leaf has no IPv4 address, so each of its reports looked for a source address on
    // every link of the namespace (inet_select_addr), 20,000 of them at 10,000 devices: 4% of
    // all CPU while creating them. Reports for 224.0.0.0/24 are never needed here: snooping
    // bridges flood those groups anyway.
    (void)sys::writeFile("/proc/sys/net/ipv4/igmp_link_local_mcast_reports", "0");
    // Bridged frames skip iptables here (these keys exist only while br_netfilter is loaded).
    for (const char* k : {"arptables", "iptables", "ip6tables"})
      (void)sys::writeFile(std::string("/proc/sys/net/bridge/bridge-nf-call-") + k, "0");
    // A bridge answers ARP only for addresses it holds itself: by default any link answers
    // for any address of the namespace, so a leaf would answer for its run's gateway (on the
    // core) with its own MAC, and the devices' packets would arrive on the leaf, past the
    // rule that sends what arrives on the core to the Plexer.
    KUIGA_TRY(sys::writeFile("/proc/sys/net/ipv4/conf/all/arp_ignore", "1"), "arp_ignore");
    KUIGA_TRY(nl.setUp("lo"), "loopback");
    return {};
  });
}

Result<RadioNetwork::Tree*> RadioNetwork::treeLocked(RunId run) {
  if (auto it = trees_.find(run); it != trees_.end()) return &it->second;
  auto made = withRadioSocket(netnsFd(), generation_, [&](sys::Netlink& nl) -> VoidResult {
    auto guard = sys::netns::ThreadGuard::enter(netnsFd());  // for the bridge's sysctls
    if (!guard) return fail(guard.error().context("enter radio namespace"));
    // The lowest address of the run's network (fe80::ff:feff:ffff), so the core wins every
    // querier election; its solicited-node group is no instance's.
    const std::string core = runCoreLink(run);
    KUIGA_TRY(startBridge(nl, core, kGatewayMac, true),
              "run " + std::to_string(run) + " core bridge");
    // Every instance's groups (two each) end up in the core's table.
    KUIGA_TRY(nl.setBridgeMulticastHashMax(core, kCoreMulticastGroups), "core bridge");
    return {};
  });
  if (!made) {
    (void)withRadioSocket(netnsFd(), generation_,
                          [&](sys::Netlink& nl) { return nl.deleteLink(runCoreLink(run)); });
    return fail(made.error());
  }
  return &trees_[run];
}

VoidResult RadioNetwork::openRun(RunId run) {
  std::lock_guard lock(mu_);
  auto tree = treeLocked(run);
  if (!tree) return fail(tree.error());
  return {};
}

VoidResult RadioNetwork::closeRun(RunId run) {
  std::lock_guard lock(mu_);
  auto it = trees_.find(run);
  if (it == trees_.end()) return {};
  const size_t leaves = it->second.leafIndex.size();
  auto r = withRadioSocket(netnsFd(), generation_, [&](sys::Netlink& nl) -> VoidResult {
    std::vector<std::string> links{tunnelLink(run)};
    for (size_t k = 0; k < leaves; ++k) {
      links.push_back(leafUplink(run, k));  // its peer goes with it
      links.push_back(leafLink(run, k));
    }
    links.push_back(runCoreLink(run));
    for (const auto& l : links)
      if (auto d = nl.deleteLink(l); !d && d.error().code != ENODEV) return d;
    return {};
  });
  trees_.erase(it);
  std::erase_if(leafOf_, [&](const auto& e) { return e.first.run == run; });
  forgetRelayLocked(run);
  peers_.erase(run);
  std::error_code ec;
  std::filesystem::remove(peersPath(run), ec);
  return r;
}

std::vector<RunId> RadioNetwork::runs() const {
  std::lock_guard lock(mu_);
  std::vector<RunId> out;
  for (const auto& [run, tree] : trees_) out.push_back(run);
  return out;
}

Result<int> RadioNetwork::addLeafLocked(RunId run, Tree& tree) {
  const size_t k = tree.leafPorts.size();
  auto made = withRadioSocket(netnsFd(), generation_, [&](sys::Netlink& nl) -> Result<int> {
    std::string leaf = leafLink(run, k), up = leafUplink(run, k), dn = coreDownlink(run, k);
    auto guard = sys::netns::ThreadGuard::enter(netnsFd());  // for the bridge's sysctls
    if (!guard) return fail(guard.error().context("enter radio namespace"));
    KUIGA_TRY(startBridge(nl, leaf, leafMac(k), false), "leaf bridge");
    // Past its group limit a bridge turns snooping off for good; a leaf holds few groups, but
    // the reports crossing its uplink may briefly create entries for any group.
    KUIGA_TRY(nl.setBridgeMulticastHashMax(leaf, kCoreMulticastGroups), "leaf bridge");
    auto leafIdx = nl.linkIndex(leaf);
    auto coreIdx = nl.linkIndex(runCoreLink(run));
    if (!leafIdx || !coreIdx) return failMsg("leaf or core bridge vanished");
    KUIGA_TRY(nl.createVeth({up, std::nullopt, *leafIdx, dn, std::nullopt, -1}), "leaf uplink");
    KUIGA_TRY(nl.setMaster(dn, *coreIdx), "leaf uplink");
    // A leaf's side of its uplink is a permanent router port: every multicast frame and every
    // listener report of its devices goes up to the core, which knows every group. The core's
    // side is neither a router port nor flooded, so the core sends a leaf only the groups its
    // devices listen to (and its own queries), and no other leaf's listener reports (MLDv1
    // ones go to router ports, MLDv2 ones are flooded): each report reaching a leaf made a
    // group entry there, which the kernel keeps even when the port's group limit refuses the
    // port (21 per device at 5,000 devices, 256 to a leaf: N^2 memory). Nothing else is lost:
    // a leaf floods multicast that nobody listens to only to its devices that send no reports.
    // Once it has one (attach(), multicastFlood), the core's side becomes a flooded router
    // port, so that the device hears all multicast; past the reports that then come down,
    // such a leaf learns at most one group on its uplink.
    //
    // A leaf does not learn addresses on its uplink either: it would learn every device's, and
    // removing a port walks the bridge's whole forwarding table (br_fdb_delete_by_port), so
    // deleting N devices cost O(N^2): 266 deletions/s at N = 10,000. A leaf knows its own
    // devices by static entries (attach()); unicast to any other address goes up the uplink,
    // the one port that floods unknown unicast, and the core, which learns, takes it on.
    for (auto [l, maxGroups] : {std::pair{up, 1u}, std::pair{dn, 0u}}) {
      auto idx = nl.linkIndex(l);
      if (!idx) return fail(idx.error());
      sys::Netlink::BridgePort port;
      port.multicastRouter = l == up ? 2 : 0;
      if (l == dn) port.multicastFlood = false;
      port.maxGroups = maxGroups;
      if (l == up) port.learning = false;
      KUIGA_TRY(nl.setBridgePort(*idx, port), "leaf uplink");
    }
    // MLDv2 listener reports go to ff02::16, which nobody joins, and the bridge floods such
    // reports to every port. Registered on the uplink, they go up to the core and no further
    // down than the other leaves' uplinks. (IGMPv3's 224.0.0.22 cannot be registered: the
    // kernel refuses link-local IPv4 groups. Instances send IGMP only for groups the AUT joins.)
    auto upIdx = nl.linkIndex(up);
    if (!upIdx) return fail(upIdx.error());
    KUIGA_TRY(nl.addMulticastEntry(*leafIdx, *upIdx, "ff02::16"), "report group");
    // The gateway, which every device talks to, is up the uplink: known statically, since the
    // leaf learns nothing there, or every frame to it would be flooded to the leaf's
    // unicast-flooding ports (tap-mode devices').
    KUIGA_TRY(nl.addBridgeFdbEntry(*upIdx, kGatewayMac), "gateway entry");
    for (const auto& l : {up, dn}) KUIGA_TRY(nl.setUp(l), "leaf uplink");
    return *leafIdx;
  });
  if (!made) return fail(made.error());
  tree.leafIndex.push_back(*made);
  tree.leafPorts.push_back(0);
  return *made;
}

VoidResult RadioNetwork::settleQueriersLocked(RunId run, const Tree& tree) {
  // New leaves lose the querier election to the core (it has the lowest address) when they
  // first hear its query, and then flood for one response interval. Make the core query now,
  // and let that interval pass before instances attach. Then check that every leaf counts the
  // core as its querier, heard on its uplink: a leaf that counts none floods multicast to
  // flooding ports only, which instance ports are not, and neighbour discovery from other
  // leaves fails. Ask again if one does not.
  const std::string coreAddress = sys::eui64LinkLocal(kGatewayMac);
  const std::string core = runCoreLink(run);
  constexpr int kAttempts = 3;
  std::vector<std::string> lagging;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    auto r = withRadioSocket(netnsFd(), generation_, [&](sys::Netlink& nl) -> VoidResult {
      KUIGA_TRY(nl.setBridgeMulticastQuerier(core, false, kQueryResponseCs), "core querier");
      KUIGA_TRY(nl.setBridgeMulticastQuerier(core, true, kQueryResponseCs), "core querier");
      return {};
    });
    if (!r) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(kQueryResponseCs * 10 + 200));
    lagging.clear();
    auto checked = withRadioSocket(netnsFd(), generation_, [&](sys::Netlink& nl) -> VoidResult {
      for (size_t k = 0; k < tree.leafIndex.size(); ++k) {
        auto q = nl.bridgeMulticastQuerier(leafLink(run, k));
        if (!q) return fail(q.error());  // a kernel before 5.16 cannot tell: not checked
        auto uplink = nl.linkIndex(leafUplink(run, k));
        if (q->ipv6Address != coreAddress || !uplink || q->ipv6Port != *uplink ||
            q->ipv6OtherTimerCs == 0)
          lagging.push_back(fmt::format("{} (querier {} on port {}, for {} cs)", leafLink(run, k),
                                        q->ipv6Address, q->ipv6Port, q->ipv6OtherTimerCs));
      }
      return {};
    });
    lagging_ = checked ? lagging : std::vector<std::string>{};
    if (lagging_.empty()) return {};
    if (attempt < kAttempts)
      spdlog::info("radio network: {} not yet counting the core as multicast querier; asking again",
                   fmt::join(lagging, ", "));
  }
  spdlog::warn(
      "radio network: {} still not counting the core as multicast querier; IPv6 neighbour "
      "discovery between leaves may fail until its next query",
      fmt::join(lagging, ", "));
  return {};
}

std::vector<std::string> RadioNetwork::queriersLagging() const {
  std::lock_guard lock(mu_);
  return lagging_;
}

VoidResult RadioNetwork::reserve(RunId run, size_t ports) {
  std::lock_guard lock(mu_);
  auto tree = treeLocked(run);
  if (!tree) return fail(tree.error());
  size_t free = 0;
  for (int used : (*tree)->leafPorts)
    free += static_cast<size_t>(std::max(0, kPortsPerLeaf - used));
  bool added = false;
  while (free < ports) {
    auto leaf = addLeafLocked(run, **tree);
    if (!leaf) return fail(leaf.error());
    free += kPortsPerLeaf;
    added = true;
  }
  return added ? settleQueriersLocked(run, **tree) : VoidResult{};
}

Result<int> RadioNetwork::leafFor(InstanceId id) {
  std::lock_guard lock(mu_);
  auto found = treeLocked(id.run);
  if (!found) return fail(found.error());
  Tree& tree = **found;
  size_t k = 0;
  while (k < tree.leafPorts.size() && tree.leafPorts[k] >= kPortsPerLeaf) ++k;
  if (k == tree.leafPorts.size()) {
    auto leaf = addLeafLocked(id.run, tree);
    if (!leaf) return fail(leaf.error());
    KUIGA_TRY(settleQueriersLocked(id.run, tree), "new leaf");
  }
  ++tree.leafPorts[k];
  leafOf_[id] = static_cast<int>(k);
  return tree.leafIndex[k];
}

VoidResult RadioNetwork::attach(InstanceId id, int instanceNetns, bool multicastFlood) {
  auto leaf = leafFor(id);
  if (!leaf) return fail(leaf.error());
  auto r = withRadioSocket(netnsFd(), generation_, [&](sys::Netlink& nl) -> VoidResult {
    std::string name = radioLinkName(id);
    // This end comes up at creation; the kernel refuses a veth with both ends up in one
    // request, so the instance side brings eth0 up itself.
    KUIGA_TRY(
        nl.createVeth({name, std::nullopt, *leaf, "eth0", macAddress(id), instanceNetns, true}),
        "attach to radio network");
    auto idx = nl.linkIndex(name);
    if (!idx) return fail(idx.error());
    // A stack that sends no listener reports (RIOT's) hears all multicast, as on a radio: its
    // port counts as a router port, and so does its leaf's downlink on the core (see
    // addLeafLocked()). It brings its own addresses.
    if (multicastFlood) {
      sys::Netlink::BridgePort port;
      port.multicastRouter = 2;
      KUIGA_TRY(nl.setBridgePort(*idx, port), "attach to radio network");
      auto down = nl.linkIndex(coreDownlink(id.run, leafNumber(id)));
      if (!down) return fail(down.error().context("attach to radio network"));
      port.multicastFlood = true;
      return nl.setBridgePort(*down, port);
    }
    // The gateway knows the device's addresses without asking: an ARP request or neighbour
    // solicitation from the core reaches every port, N^2 frames for N devices.
    const std::string core = runCoreLink(id.run);
    KUIGA_TRY(nl.addNeighbour(core, ipv4Address(id), macAddress(id)), "attach to radio network");
    KUIGA_TRY(nl.addNeighbour(core, ipv6Address(id), macAddress(id)), "attach to radio network");
    // No multicast without listeners (see startBridge()), and no unicast to unknown addresses:
    // the leaf knows this device by a static entry, so what it does not know lives elsewhere
    // and goes to the uplink only, not to every device of the leaf.
    sys::Netlink::BridgePort port;
    port.multicastFlood = false;
    port.unicastFlood = false;
    KUIGA_TRY(nl.setBridgePort(*idx, port), "attach to radio network");
    KUIGA_TRY(nl.addBridgeFdbEntry(*idx, macAddress(id)), "attach to radio network");
    // Neighbour solicitations for the instance's own addresses reach it from its first moment,
    // not only once its listener reports have been snooped (they may come a second later).
    for (const auto& addr : {ipv6Address(id), linkLocalAddress(id)}) {
      auto group = sys::solicitedNodeGroup(addr);
      if (!group) return fail(group.error());
      KUIGA_TRY(nl.addMulticastEntry(*leaf, *idx, *group), "attach to radio network");
    }
    return {};
  });
  if (!r) released(id);
  return r;
}

size_t RadioNetwork::leafNumber(InstanceId id) const {
  std::lock_guard lock(mu_);
  auto it = leafOf_.find(id);
  return it == leafOf_.end() ? 0 : static_cast<size_t>(it->second);
}

void RadioNetwork::released(InstanceId id) {
  {
    std::lock_guard lock(mu_);
    auto it = leafOf_.find(id);
    if (it == leafOf_.end()) return;
    --trees_[id.run].leafPorts[static_cast<size_t>(it->second)];
    leafOf_.erase(it);
  }
  // The gateway's entries for the device (absent for devices with their own stack).
  (void)withRadioSocket(netnsFd(), generation_, [&](sys::Netlink& nl) -> VoidResult {
    (void)nl.deleteNeighbour(runCoreLink(id.run), ipv4Address(id));
    (void)nl.deleteNeighbour(runCoreLink(id.run), ipv6Address(id));
    return {};
  });
}

VoidResult RadioNetwork::detach(InstanceId id) {
  auto r = withRadioSocket(netnsFd(), generation_,
                           [&](sys::Netlink& nl) { return nl.deleteLink(radioLinkName(id)); });
  released(id);
  if (!r && r.error().code == ENODEV) return {};
  return r;
}

Result<std::vector<std::string>> RadioNetwork::instanceLinks() {
  auto names =
      withRadioSocket(netnsFd(), generation_, [](sys::Netlink& nl) { return nl.linkNames(); });
  if (!names) return fail(names.error());
  std::vector<std::string> out;
  for (auto& n : *names)
    if (n.rfind("kv", 0) == 0) out.push_back(n);
  return out;
}

VoidResult RadioNetwork::destroy() {
  netns_.reset();
  return sys::netns::unpin(pinPath_);
}

}  // namespace kuiga::worker::net
