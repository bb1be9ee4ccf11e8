// A run's radio network across workers: the kernel's VXLAN, one device per run on the run's
// core bridge, with head-end replication toward the other workers that hold its devices (no
// multicast in the underlay, no tunnel of our own).
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
using PeerMap = std::map<std::string, std::set<uint32_t>>;

namespace {
constexpr sys::Mac kAllZero{};
// Frames from the radio network itself (its bridges' queries, the gateway's answers) are each
// worker's own: what another worker's tunnel brings from there is dropped. 02:00:00:00:00:00/23
// holds the core's and the leaves' MACs (radio_network.cpp). nftables, because the kernels we
// run on have neither act_gact nor cls_flower for a tc filter.
constexpr const char* kTunnelFilter =
    "table bridge kuiga {\n"
    "  chain tunnel { type filter hook prerouting priority 0; policy accept; }\n"
    "}\n"
    "flush chain bridge kuiga tunnel\n"
    "add rule bridge kuiga tunnel iifname \"rx*\" "
    "ether saddr and ff:ff:fe:00:00:00 == 02:00:00:00:00:00 counter drop\n";
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

VoidResult RadioNetwork::setPeers(RunId run, const std::vector<RadioPeer>& given) {
  std::lock_guard lock(mu_);
  PeerMap want;
  for (const auto& p : given)
    if (p.underlay != underlay_) want[p.underlay].insert(p.indices.begin(), p.indices.end());
  if (!want.empty() && underlay_.empty())
    return failMsg(fmt::format(
        "run {} spans workers, but this worker has no underlay address (--underlay-address): "
        "its devices cannot reach the others'",
        run));
  auto tree = treeLocked(run);
  if (!tree) return fail(tree.error());
  PeerMap& have = peers_[run];
  std::error_code ec;
  if (want.empty()) {
    auto r = withRadioSocket(netnsFd(), generation_,
                             [&](sys::Netlink& nl) { return nl.deleteLink(tunnelLink(run)); });
    peers_.erase(run);
    std::filesystem::remove(peersPath(run), ec);
    if (!r && r.error().code != ENODEV) return r;
    return {};
  }
  KUIGA_TRY(openTunnelLocked(run), "run " + std::to_string(run) + " tunnel");
  std::set<uint32_t> wanted;
  for (const auto& [address, indices] : want) wanted.insert(indices.begin(), indices.end());
  auto applied = withRadioSocket(netnsFd(), generation_, [&](sys::Netlink& nl) -> VoidResult {
    auto rx = nl.linkIndex(tunnelLink(run));
    if (!rx) return fail(rx.error());
    // What goes first, so that a device that moved between workers ends up behind its new one.
    for (const auto& [address, indices] : have) {
      const auto w = want.find(address);
      if (w == want.end()) KUIGA_TRY(nl.deleteTunnelEntry(*rx, kAllZero, address), "peer");
      for (uint32_t i : indices) {
        if (w != want.end() && w->second.count(i)) continue;
        const auto mac = macAddress({run, i});
        KUIGA_TRY(nl.deleteTunnelEntry(*rx, mac, address), "peer device");
        if (!wanted.count(i)) KUIGA_TRY(nl.deleteBridgeFdbEntry(*rx, mac), "peer device");
      }
    }
    // Broadcast, multicast and unknown unicast go to every peer; each remote device's frames
    // go to its own worker, and the core sends them to the tunnel without flooding first.
    for (const auto& [address, indices] : want) {
      const auto h = have.find(address);
      if (h == have.end()) KUIGA_TRY(nl.addTunnelEntry(*rx, kAllZero, address, true), "peer");
      for (uint32_t i : indices) {
        if (h != have.end() && h->second.count(i)) continue;
        const auto mac = macAddress({run, i});
        KUIGA_TRY(nl.addTunnelEntry(*rx, mac, address), "peer device");
        KUIGA_TRY(nl.addBridgeFdbEntry(*rx, mac), "peer device");
      }
    }
    return {};
  });
  if (!applied) {
    // Part of it may be set: the tunnel goes with its entries, and the next call sets all.
    (void)withRadioSocket(netnsFd(), generation_,
                          [&](sys::Netlink& nl) { return nl.deleteLink(tunnelLink(run)); });
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
  return it == peers_.end() ? PeerMap{} : it->second;
}

}  // namespace kuiga::worker::net
