#pragma once
// The worker's radio network: a network namespace of its own (so no instance frame can reach
// the host's networks), holding one tree of Linux bridges per run, so that a run is a layer-2
// domain of its own. A bridge takes at most 1023 ports, so instances hang off leaf bridges of up
// to kPortsPerLeaf ports, and a run's leaves hang off its core bridge (runCoreLink(run)), which
// carries the run's gateway. A run that spans workers is one layer-2 domain over all of them:
// its core has a VXLAN port (setPeers()) toward the other workers' cores. The namespace is
// pinned under the state directory so a restarted worker finds it, trees and tunnels included.
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "spec/identity.hpp"
#include "sys/fd.hpp"

namespace kuiga::worker::net {

// Another worker holding some of a run's devices: where its radio network is reached, which
// devices (instance indices) it holds, and whether it holds the run's cell (its gateway, the
// way to the base station and the ZEP dispatcher). A run has one cell: when another host has
// it, this host's core relays the devices' frames for the gateway through the tunnel.
struct RadioPeer {
  std::string underlay;  // IPv4 or IPv6 address
  std::vector<uint32_t> indices;
  bool cell = false;
};

class RadioNetwork {
 public:
  static constexpr int kPortsPerLeaf = 256;
  // The UDP port of the runs' VXLAN tunnels (IANA's).
  static constexpr uint16_t kVxlanPort = 4789;
  // Devices keep a 1500-byte MTU; a VXLAN frame is 50 bytes longer, so the underlay between
  // workers needs an MTU of at least 1550 (docs/architecture.md, "Radio across workers").
  static constexpr int kDeviceMtu = 1500;
  static constexpr int kUnderlayOverhead = 50;
  // Names of a run's bridges and links in the namespace (at most 15 characters).
  static std::string leafLink(RunId run, size_t k);      // "rb7.0": leaf k
  static std::string leafUplink(RunId run, size_t k);    // "ru7.0": its uplink, leaf side
  static std::string coreDownlink(RunId run, size_t k);  // "rd7.0": the same, core side
  static std::string tunnelLink(RunId run);              // "rx7": the run's VXLAN port
  static uint32_t vni(RunId run);                        // the run's VXLAN network identifier

  // Opens the namespace pinned at `pinPath`, or creates and pins a new one. The calling
  // thread's namespace is the underlay: tunnels to other workers start there.
  static Result<std::unique_ptr<RadioNetwork>> open(const std::string& pinPath);

  [[nodiscard]] int netnsFd() const { return netns_.get(); }
  // The address this worker's tunnels are bound to; without one, a run's radio stays on this
  // worker (setPeers() refuses peers).
  void setUnderlayAddress(std::string address);
  [[nodiscard]] std::string underlayAddress() const;
  // Makes the run's core bridge (idempotent): needed before its gateway can be opened.
  VoidResult openRun(RunId run);
  // Removes the run's tree and tunnel; its instances' links must be gone already.
  VoidResult closeRun(RunId run);
  // Runs that have a tree here.
  std::vector<RunId> runs() const;
  // Joins the run's radio network to the other workers holding its devices: a VXLAN port on
  // its core with head-end replication (an all-zero forwarding entry per peer: broadcast and
  // multicast go to each) and an entry per remote device's MAC. Entries of peers or devices no
  // longer listed go. No peers: the tunnel goes. Kept under the state directory, so a
  // restarted worker knows what it set.
  VoidResult setPeers(RunId run, const std::vector<RadioPeer>& peers);
  // What setPeers() last set for the run, by underlay address.
  std::map<std::string, std::set<uint32_t>> peers(RunId run) const;
  // The underlay address of the peer holding the run's cell; "" when it is here.
  std::string cellPeer(RunId run) const;
  // A core whose run's cell is elsewhere has this MAC, so that frames for the gateway
  // (kGatewayMac) are not its own and cross the tunnel. In the core's range, next to it.
  static constexpr std::array<uint8_t, 6> kRelayCoreMac = {0x02, 0, 0, 0xff, 0xff, 0xfe};
  // Creates the instance's link: radioLinkName(id) on a leaf bridge of its run here, its peer
  // "eth0" with the instance's MAC inside `instanceNetns`, down (the instance side brings it
  // up). `multicastFlood`: deliver all multicast, as RIOT's stack needs (it sends no listener
  // reports); Linux stacks report, so their ports get only the groups they joined, and their
  // neighbour-discovery groups from the start.
  VoidResult attach(InstanceId id, int instanceNetns, bool multicastFlood);
  // Makes sure `ports` more instances of `run` can attach without a new leaf being made
  // meanwhile: creating leaves up front lets the multicast queriers settle once, not per leaf.
  VoidResult reserve(RunId run, size_t ports);
  // Forget the port (the link itself goes away with the instance's namespace).
  void released(InstanceId id);
  // Delete the instance's link now (for leftovers whose namespace still exists).
  VoidResult detach(InstanceId id);
  // Names of instance links present in the namespace.
  Result<std::vector<std::string>> instanceLinks();
  // Remove the namespace pin; the namespace ends when its last link and holder are gone.
  VoidResult destroy();
  // The leaves that did not count their core as multicast querier at the last check (after
  // leaves were added), with what they counted instead; empty when all did.
  std::vector<std::string> queriersLagging() const;

 private:
  struct Tree {
    std::vector<int> leafPorts;  // ports in use per leaf
    std::vector<int> leafIndex;  // ifindex of each leaf bridge
  };
  RadioNetwork(std::string pin, sys::UniqueFd fd, sys::UniqueFd underlay);
  VoidResult setUpNamespace(bool fresh);
  VoidResult relearn();
  Result<Tree*> treeLocked(RunId run);     // creates the core
  Result<int> leafFor(InstanceId id);      // bridge ifindex with a free port; creates leaves
  size_t leafNumber(InstanceId id) const;  // the leaf leafFor() gave it
  Result<int> addLeafLocked(RunId run, Tree& tree);
  VoidResult settleQueriersLocked(RunId run, const Tree& tree);
  // radio_tunnel.cpp
  VoidResult openTunnelLocked(RunId run);
  // Makes the run's core a relay toward the cell at another peer, or the gateway again.
  VoidResult setRelayLocked(RunId run, bool relay);
  void forgetRelayLocked(RunId run);  // the run's tunnel is gone: not relayed any more
  using PeerMap = std::map<std::string, std::set<uint32_t>>;
  // setPeers()'s two halves: entries of `have` that `want` drops (`wanted`: every index still
  // wanted), then those `want` adds; `refill`: the core's MAC changed, so its neighbours go
  // back too.
  VoidResult removeEntriesLocked(RunId run, const PeerMap& have, const PeerMap& want,
                                 const std::set<uint32_t>& wanted);
  VoidResult addEntriesLocked(RunId run, const PeerMap& have, const PeerMap& want, bool refill);
  std::string peersPath(RunId run) const;
  void loadPeersLocked();

  std::string pinPath_;
  sys::UniqueFd netns_;
  sys::UniqueFd underlayNetns_;
  uint64_t generation_;  // tells threads' cached sockets of different radio networks apart
  mutable std::mutex mu_;
  std::string underlay_;
  std::map<RunId, Tree> trees_;
  std::map<InstanceId, int> leafOf_;
  std::map<RunId, std::map<std::string, std::set<uint32_t>>> peers_;
  std::vector<std::string> lagging_;  // as of the last settleQueriersLocked()
};

}  // namespace kuiga::worker::net
