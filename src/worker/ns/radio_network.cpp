#include "worker/ns/radio_network.hpp"

#include "sys/file.hpp"
#include "sys/netlink.hpp"
#include "sys/netns.hpp"

namespace kuiga::worker::ns {
namespace {

std::string leafName(size_t k) {
  return "rbr" + std::to_string(k);
}
constexpr const char* kCore = "rcore";

// Runs fn(Netlink&) on a socket opened inside the radio namespace.
template <class Fn>
auto inRadio(int netnsFd, Fn&& fn) -> decltype(fn(std::declval<sys::Netlink&>())) {
  auto guard = sys::netns::ThreadGuard::enter(netnsFd);
  if (!guard) return fail(guard.error().context("enter radio namespace"));
  auto nl = sys::Netlink::open();
  if (!nl) return fail(nl.error());
  return fn(*nl);
}

}  // namespace

Result<std::unique_ptr<RadioNetwork>> RadioNetwork::open(const std::string& pinPath) {
  if (sys::exists(pinPath)) {
    auto fd = sys::netns::openPinned(pinPath);
    if (fd) {
      std::unique_ptr<RadioNetwork> net(new RadioNetwork(pinPath, std::move(*fd)));
      // Re-learn the leaves a previous worker process made.
      auto names = net->instanceLinks();
      auto found = inRadio(net->netnsFd(), [&](sys::Netlink& nl) -> VoidResult {
        for (size_t k = 0;; ++k) {
          auto idx = nl.linkIndex(leafName(k));
          if (!idx) break;
          net->leafIndex_.push_back(*idx);
          net->leafPorts_.push_back(0);
        }
        return {};
      });
      if (!found) return fail(found.error());
      if (!net->leafIndex_.empty()) return net;
    }
    (void)sys::netns::unpin(pinPath);  // a stale pin file without a namespace behind it
  }
  auto fd = sys::netns::create();
  if (!fd) return fail(fd.error().context("create radio namespace"));
  KUIGA_TRY(sys::netns::pin(fd->get(), pinPath), "pin radio namespace");
  std::unique_ptr<RadioNetwork> net(new RadioNetwork(pinPath, std::move(*fd)));
  if (auto r = net->setUpNamespace(); !r) {
    (void)net->destroy();
    return fail(r.error().context("set up radio namespace"));
  }
  return net;
}

VoidResult RadioNetwork::setUpNamespace() {
  return inRadio(netnsFd(), [&](sys::Netlink& nl) -> VoidResult {
    // No IPv6 on bridges and ports: they would chatter (router solicitations, MLD) on a medium
    // whose every frame is the devices' own.
    (void)sys::writeFile("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    (void)sys::writeFile("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    KUIGA_TRY(nl.setUp("lo"), "loopback");
    KUIGA_TRY(nl.createBridge(kCore), "core bridge");
    KUIGA_TRY(nl.setUp(kCore), "core bridge");
    return {};
  });
}

Result<int> RadioNetwork::leafFor(InstanceId id) {
  std::lock_guard lock(mu_);
  size_t k = 0;
  while (k < leafPorts_.size() && leafPorts_[k] >= kPortsPerLeaf) ++k;
  if (k == leafPorts_.size()) {
    // A new leaf, joined to the core by a veth pair.
    auto made = inRadio(netnsFd(), [&](sys::Netlink& nl) -> Result<int> {
      std::string leaf = leafName(k), up = "rup" + std::to_string(k),
                  dn = "rdn" + std::to_string(k);
      KUIGA_TRY(nl.createBridge(leaf), "leaf bridge");
      auto leafIdx = nl.linkIndex(leaf);
      auto coreIdx = nl.linkIndex(kCore);
      if (!leafIdx || !coreIdx) return failMsg("leaf or core bridge vanished");
      KUIGA_TRY(nl.createVeth({up, std::nullopt, *leafIdx, dn, std::nullopt, -1}), "leaf uplink");
      KUIGA_TRY(nl.setMaster(dn, *coreIdx), "leaf uplink");
      for (const auto& l : {leaf, up, dn}) KUIGA_TRY(nl.setUp(l), "leaf bridge");
      return *leafIdx;
    });
    if (!made) return fail(made.error());
    leafIndex_.push_back(*made);
    leafPorts_.push_back(0);
  }
  ++leafPorts_[k];
  leafOf_[id] = static_cast<int>(k);
  return leafIndex_[k];
}

VoidResult RadioNetwork::attach(InstanceId id, int instanceNetns) {
  auto leaf = leafFor(id);
  if (!leaf) return fail(leaf.error());
  auto r = inRadio(netnsFd(), [&](sys::Netlink& nl) -> VoidResult {
    std::string name = radioLinkName(id);
    KUIGA_TRY(nl.createVeth({name, std::nullopt, *leaf, "eth0", macAddress(id), instanceNetns}),
              "attach to radio network");
    // The kernel refuses to create a veth with both ends up; this end comes up on its own.
    KUIGA_TRY(nl.setUp(name), "attach to radio network");
    return {};
  });
  if (!r) released(id);
  return r;
}

void RadioNetwork::released(InstanceId id) {
  std::lock_guard lock(mu_);
  auto it = leafOf_.find(id);
  if (it == leafOf_.end()) return;
  --leafPorts_[static_cast<size_t>(it->second)];
  leafOf_.erase(it);
}

void RadioNetwork::adopt(InstanceId id, int leaf) {
  std::lock_guard lock(mu_);
  if (leaf < 0 || static_cast<size_t>(leaf) >= leafPorts_.size()) return;
  ++leafPorts_[static_cast<size_t>(leaf)];
  leafOf_[id] = leaf;
}

VoidResult RadioNetwork::detach(InstanceId id) {
  auto r = inRadio(netnsFd(), [&](sys::Netlink& nl) { return nl.deleteLink(radioLinkName(id)); });
  released(id);
  if (!r && r.error().code == ENODEV) return {};
  return r;
}

Result<std::vector<std::string>> RadioNetwork::instanceLinks() {
  auto names = inRadio(netnsFd(), [](sys::Netlink& nl) { return nl.linkNames(); });
  if (!names) return fail(names.error());
  std::vector<std::string> out;
  for (auto& n : *names)
    if (n.rfind("kv", 0) == 0) out.push_back(n);
  return out;
}

size_t RadioNetwork::leafCount() const {
  std::lock_guard lock(mu_);
  return leafPorts_.size();
}

VoidResult RadioNetwork::destroy() {
  netns_.reset();
  return sys::netns::unpin(pinPath_);
}

}  // namespace kuiga::worker::ns
