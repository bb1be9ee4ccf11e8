#pragma once
// The worker's radio network: a network namespace of its own (so no instance frame can reach
// the host's networks), holding a tree of Linux bridges. A bridge takes at most 1023 ports, so
// instances hang off leaf bridges of up to kPortsPerLeaf ports, and the leaves hang off one
// core bridge. The namespace is pinned under the state directory so a restarted worker finds it.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/identity.hpp"
#include "common/result.hpp"
#include "sys/fd.hpp"

namespace kuiga::worker::net {

class RadioNetwork {
 public:
  static constexpr int kPortsPerLeaf = 256;
  // The core bridge, at kGatewayMac: it carries the runs' gateway addresses.
  static constexpr const char* kGatewayLink = "rcore";

  // Opens the namespace pinned at `pinPath`, or creates and pins a new one.
  static Result<std::unique_ptr<RadioNetwork>> open(const std::string& pinPath);

  [[nodiscard]] int netnsFd() const { return netns_.get(); }
  // Creates the instance's link: radioLinkName(id) on a leaf bridge here, its peer "eth0" with
  // the instance's MAC inside `instanceNetns`, down (the instance side brings it up).
  // `multicastFlood`: deliver all multicast, as RIOT's stack needs (it sends no listener
  // reports); Linux stacks report, so their ports get only the groups they joined, and their
  // neighbour-discovery groups from the start.
  VoidResult attach(InstanceId id, int instanceNetns, bool multicastFlood);
  // Makes sure `ports` more instances can attach without a new leaf being made meanwhile:
  // creating leaves up front lets the multicast queriers settle once, not once per leaf.
  VoidResult reserve(size_t ports);
  // Forget the port (the link itself goes away with the instance's namespace).
  void released(InstanceId id);
  // Delete the instance's link now (for leftovers whose namespace still exists).
  VoidResult detach(InstanceId id);
  // Names of instance links present in the namespace.
  Result<std::vector<std::string>> instanceLinks();
  // Remove the namespace pin; the namespace ends when its last link and holder are gone.
  VoidResult destroy();
  // The leaves that did not count the core as their multicast querier at the last check (after
  // leaves were added), with what they counted instead; empty when all did.
  std::vector<std::string> queriersLagging() const;

 private:
  RadioNetwork(std::string pin, sys::UniqueFd fd);
  VoidResult setUpNamespace();
  Result<int> leafFor(InstanceId id);  // bridge ifindex with a free port; creates leaves
  Result<int> addLeafLocked();
  VoidResult settleQueriersLocked();

  std::string pinPath_;
  sys::UniqueFd netns_;
  uint64_t generation_;  // tells threads' cached sockets of different radio networks apart
  mutable std::mutex mu_;
  std::vector<int> leafPorts_;  // ports in use per leaf
  std::vector<int> leafIndex_;  // ifindex of each leaf bridge
  std::map<InstanceId, int> leafOf_;
  std::vector<std::string> lagging_;  // as of the last settleQueriersLocked()
};

}  // namespace kuiga::worker::net
