// A run's radio network across workers: the kernel's VXLAN, one device per run on the run's
// core bridge, with head-end replication toward the other workers that hold its devices (no
// multicast in the underlay, no tunnel of our own).
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "sys/file.hpp"
#include "sys/netlink.hpp"
#include "sys/netns.hpp"
#include "sys/nftables.hpp"
#include "worker/net/radio_network.hpp"
#include "worker/net/radio_socket.hpp"

namespace kuiga::worker::net {

using detail::withRadioSocket;

namespace {
constexpr sys::Mac kAllZero{};
// The gateway's entry among a peer's devices (kept with them, and in the state file): the peer
// holds the run's cell.
constexpr uint32_t kCellEntry = UINT32_MAX;
// Frames from the radio network itself (its bridges' queries, the gateway's answers) are each
// worker's own: what another worker's tunnel brings from there is dropped. 02:00:00:00:00:00/23
// holds the core's and the leaves' MACs (radio_network.cpp). The one exception is the gateway
// of a run whose cell is on another host (its tunnel is in "relayed"): its answers cross, and
// its multicast queries do not (each host's core is its own querier). nftables, because the
// kernels we run on have neither act_gact nor cls_flower for a tc filter.
constexpr const char* kTunnelFilter =
    "table bridge kuiga {\n"
    "  set relayed { type ifname; }\n"
    "  chain tunnel { type filter hook prerouting priority 0; policy accept; }\n"
    "}\n"
    "flush chain bridge kuiga tunnel\n"
    "add rule bridge kuiga tunnel iifname \"rx*\" ether saddr 02:00:00:ff:ff:ff "
    "ether daddr { 01:00:5e:00:00:01, 33:33:00:00:00:01 } counter drop\n"
    "add rule bridge kuiga tunnel iifname @relayed ether saddr 02:00:00:ff:ff:ff accept\n"
    "add rule bridge kuiga tunnel iifname \"rx*\" "
    "ether saddr and ff:ff:fe:00:00:00 == 02:00:00:00:00:00 counter drop\n";

sys::Mac entryMac(RunId run, uint32_t i) {
  return i == kCellEntry ? kGatewayMac : macAddress({run, i});
}

// Whether one of the peers holds the run's cell (this host's core relays to it).
bool holdsCell(const std::map<std::string, std::set<uint32_t>>& peers) {
  return std::any_of(peers.begin(), peers.end(),
                     [](const auto& p) { return p.second.count(kCellEntry) > 0; });
}

// Adds the run's tunnel to the set whose gateway frames are let through, or takes it out.
VoidResult setRelayed(const std::string& tunnel, bool relayed) {
  return sys::runNft(fmt::format("{} element bridge kuiga relayed {{ \"{}\" }}\n",
                                 relayed ? "add" : "delete", tunnel));
}
}  // namespace

void RadioNetwork::setUnderlayAddress(std::string address) {
  std::lock_guard lock(mu_);
  underlay_ = std::move(address);
}

std::string RadioNetwork::underlayAddress() const {
  std::lock_guard lock(mu_);
  return underlay_;
}

std::string RadioNetwork::peersPath(RunId run) const {
  return fmt::format("{}/radio-peers/run-{}.json",
                     std::filesystem::path(pinPath_).parent_path().string(), run);
}

void RadioNetwork::loadPeersLocked() {
  std::error_code ec;
  const auto dir = std::filesystem::path(peersPath(0)).parent_path();
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    unsigned run = 0;
    int used = 0;
    const std::string name = e.path().filename().string();
    if (std::sscanf(name.c_str(), "run-%u.json%n", &run, &used) != 1 ||
        static_cast<size_t>(used) != name.size())
      continue;
    auto text = sys::readFile(e.path().string());
    auto j = text ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
    if (!trees_.count(run) || !j.is_object()) {  // a run closed meanwhile, or a damaged file
      std::filesystem::remove(e.path(), ec);
      continue;
    }
    PeerMap& peers = peers_[run];
    for (const auto& [address, indices] : j.items())
      for (const auto& i : indices)
        if (i.is_number_unsigned()) peers[address].insert(i.get<uint32_t>());
  }
}

VoidResult RadioNetwork::openTunnelLocked(RunId run) {
  const std::string name = tunnelLink(run);
  auto present =
      withRadioSocket(netnsFd(), generation_, [&](sys::Netlink& nl) { return nl.linkIndex(name); });
  if (present) return {};
  {
    auto inRadio = sys::netns::ThreadGuard::enter(netnsFd());
    if (!inRadio) return fail(inRadio.error().context("enter radio namespace"));
    KUIGA_TRY(sys::runNft(kTunnelFilter), "tunnel filter");
  }
  {
    // Made from the underlay's namespace, where its socket stays, and put straight into the
    // radio namespace: frames enter and leave it there, packets cross the hosts' network.
    auto home = sys::netns::ThreadGuard::enter(underlayNetns_.get());
    if (!home) return fail(home.error().context("enter the underlay's namespace"));
    auto nl = sys::Netlink::open();
    if (!nl) return fail(nl.error());
    KUIGA_TRY(nl->createVxlan({.name = name,
                               .vni = vni(run),
                               .local = underlay_,
                               .port = kVxlanPort,
                               .mtu = kDeviceMtu,
                               .netnsFd = netnsFd()}),
              "run " + std::to_string(run) + " tunnel");
  }
  return withRadioSocket(netnsFd(), generation_, [&](sys::Netlink& nl) -> VoidResult {
    auto core = nl.linkIndex(runCoreLink(run));
    if (!core) return fail(core.error());
    KUIGA_TRY(nl.setMaster(name, *core), "run tunnel");
    // All multicast crosses: the other workers' devices listen too, and their listener reports
    // are answered by their own core. Unknown unicast floods across as on any port.
    auto idx = nl.linkIndex(name);
    if (!idx) return fail(idx.error());
    sys::Netlink::BridgePort port;
    port.multicastRouter = 2;
    KUIGA_TRY(nl.setBridgePort(*idx, port), "run tunnel");
    return nl.setUp(name, true, false);
  });
}

VoidResult RadioNetwork::setRelayLocked(RunId run, bool relay) {
  const std::string tunnel = tunnelLink(run);
  // A link whose MAC changes loses its neighbours, permanent ones too (neigh_changeaddr()): the
  // gateway's own devices' come back here, the other hosts' with addEntriesLocked().
  auto mac = withRadioSocket(netnsFd(), generation_, [&](sys::Netlink& nl) -> VoidResult {
    const std::string core = runCoreLink(run);
    KUIGA_TRY(nl.setMac(core, relay ? kRelayCoreMac : kGatewayMac), "set MAC");
    if (relay) return {};
    for (const auto& [id, leaf] : leafOf_) {
      if (id.run != run) continue;
      KUIGA_TRY(nl.addNeighbour(core, ipv4Address(id), macAddress(id)), "device");
      KUIGA_TRY(nl.addNeighbour(core, ipv6Address(id), macAddress(id)), "device");
    }
    return {};
  });
  if (!mac) return fail(mac.error().context("run " + std::to_string(run) + " core"));
  auto inRadio = sys::netns::ThreadGuard::enter(netnsFd());
  if (!inRadio) return fail(inRadio.error().context("enter radio namespace"));
  auto r = setRelayed(tunnel, relay);
  if (!r && relay) return fail(r.error().context("relay the run's gateway"));
  return {};  // deleting what is not there (a filter never set up) is no error
}

void RadioNetwork::forgetRelayLocked(RunId run) {
  auto it = peers_.find(run);
  if (it == peers_.end() || !holdsCell(it->second)) return;
  if (auto inRadio = sys::netns::ThreadGuard::enter(netnsFd()))
    (void)setRelayed(tunnelLink(run), false);
}

VoidResult RadioNetwork::removeEntriesLocked(RunId run, const PeerMap& have, const PeerMap& want,
                                             const std::set<uint32_t>& wanted) {
  return withRadioSocket(netnsFd(), generation_, [&](sys::Netlink& nl) -> VoidResult {
    auto rx = nl.linkIndex(tunnelLink(run));
    if (!rx) return fail(rx.error());
    const std::string core = runCoreLink(run);
    for (const auto& [address, indices] : have) {
      const auto w = want.find(address);
      if (w == want.end()) KUIGA_TRY(nl.deleteTunnelEntry(*rx, kAllZero, address), "peer");
      for (uint32_t i : indices) {
        if (w != want.end() && w->second.count(i)) continue;
        const auto mac = entryMac(run, i);
        KUIGA_TRY(nl.deleteTunnelEntry(*rx, mac, address), "peer device");
        if (wanted.count(i)) continue;
        KUIGA_TRY(nl.deleteBridgeFdbEntry(*rx, mac), "peer device");
        if (i == kCellEntry || leafOf_.count({run, i})) continue;
        for (const auto& ip : {ipv4Address({run, i}), ipv6Address({run, i})})
          if (auto d = nl.deleteNeighbour(core, ip); !d && d.error().code != ENOENT) return d;
      }
    }
    return {};
  });
}

VoidResult RadioNetwork::addEntriesLocked(RunId run, const PeerMap& have, const PeerMap& want,
                                          bool refill) {
  const bool relay = holdsCell(want);
  return withRadioSocket(netnsFd(), generation_, [&](sys::Netlink& nl) -> VoidResult {
    auto rx = nl.linkIndex(tunnelLink(run));
    if (!rx) return fail(rx.error());
    const std::string core = runCoreLink(run);
    // Broadcast, multicast and unknown unicast go to every peer; each remote device's frames
    // go to its own worker, and the core sends them to the tunnel without flooding first. The
    // cell's host knows every device's address statically, as it knows its own devices'
    // (a core whose MAC changed lost them all: setRelayLocked()).
    for (const auto& [address, indices] : want) {
      const auto h = have.find(address);
      if (h == have.end()) KUIGA_TRY(nl.addTunnelEntry(*rx, kAllZero, address, true), "peer");
      for (uint32_t i : indices) {
        const auto mac = entryMac(run, i);
        const bool known = h != have.end() && h->second.count(i);
        if (!known) {
          KUIGA_TRY(nl.addTunnelEntry(*rx, mac, address), "peer device");
          KUIGA_TRY(nl.addBridgeFdbEntry(*rx, mac), "peer device");
        }
        if (relay || i == kCellEntry || (known && !refill)) continue;
        KUIGA_TRY(nl.addNeighbour(core, ipv4Address({run, i}), mac), "peer device");
        KUIGA_TRY(nl.addNeighbour(core, ipv6Address({run, i}), mac), "peer device");
      }
    }
    return {};
  });
}

VoidResult RadioNetwork::setPeers(RunId run, const std::vector<RadioPeer>& given) {
  std::lock_guard lock(mu_);
  PeerMap want;
  for (const auto& p : given) {
    if (p.underlay == underlay_) continue;  // this host: its cell is here, if it is anyone's
    auto& indices = want[p.underlay];
    indices.insert(p.indices.begin(), p.indices.end());
    if (p.cell) indices.insert(kCellEntry);
  }
  if (!want.empty() && underlay_.empty())
    return failMsg(fmt::format(
        "run {} spans workers, but this worker has no underlay address (--underlay-address): "
        "its devices cannot reach the others'",
        run));
  auto tree = treeLocked(run);
  if (!tree) return fail(tree.error());
  PeerMap& have = peers_[run];
  const bool wasRelay = holdsCell(have), relay = holdsCell(want);
  std::error_code ec;
  if (want.empty()) {
    // The remote devices' permanent neighbours are the core's, not the tunnel's: they go first
    // (the tunnel's entries would go with it).
    if (!have.empty())
      if (auto gone = removeEntriesLocked(run, have, want, {}); !gone)
        spdlog::warn("radio network: run {}: {}", run, gone.error().message);
    auto r = withRadioSocket(netnsFd(), generation_,
                             [&](sys::Netlink& nl) { return nl.deleteLink(tunnelLink(run)); });
    if (wasRelay) KUIGA_TRY(setRelayLocked(run, false), "the run's gateway back here");
    peers_.erase(run);
    std::filesystem::remove(peersPath(run), ec);
    if (!r && r.error().code != ENODEV) return r;
    return {};
  }
  KUIGA_TRY(openTunnelLocked(run), "run " + std::to_string(run) + " tunnel");
  // Before the entries: the gateway's frames go to the tunnel only once the core is not it.
  if (relay && !wasRelay) KUIGA_TRY(setRelayLocked(run, true), "relay the run's gateway");
  std::set<uint32_t> wanted;
  for (const auto& [address, indices] : want) wanted.insert(indices.begin(), indices.end());
  // What goes first, so that a device that moved between workers ends up behind its new one;
  // the core turns the gateway again before the entries that need it are made.
  auto applied = removeEntriesLocked(run, have, want, wanted);
  if (applied && wasRelay && !relay) applied = setRelayLocked(run, false);
  if (applied) applied = addEntriesLocked(run, have, want, wasRelay && !relay);
  if (!applied) {
    // Part of it may be set: the tunnel goes with its entries, and the next call sets all.
    (void)withRadioSocket(netnsFd(), generation_,
                          [&](sys::Netlink& nl) { return nl.deleteLink(tunnelLink(run)); });
    if (relay || wasRelay) (void)setRelayLocked(run, false);
    peers_.erase(run);
    std::filesystem::remove(peersPath(run), ec);
    return applied;
  }
  have = std::move(want);
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [address, indices] : have) j[address] = indices;
  std::filesystem::create_directories(std::filesystem::path(peersPath(run)).parent_path(), ec);
  if (auto w = sys::replaceFile(peersPath(run), j.dump()); !w)
    spdlog::warn("radio network: {}", w.error().message);
  return {};
}

std::map<std::string, std::set<uint32_t>> RadioNetwork::peers(RunId run) const {
  std::lock_guard lock(mu_);
  auto it = peers_.find(run);
  if (it == peers_.end()) return {};
  PeerMap out = it->second;
  for (auto& [address, indices] : out) indices.erase(kCellEntry);
  return out;
}

std::string RadioNetwork::cellPeer(RunId run) const {
  std::lock_guard lock(mu_);
  if (auto it = peers_.find(run); it != peers_.end())
    for (const auto& [address, indices] : it->second)
      if (indices.count(kCellEntry)) return address;
  return "";
}

}  // namespace kuiga::worker::net
