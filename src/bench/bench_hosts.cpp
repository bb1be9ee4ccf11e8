#include "bench/bench_hosts.hpp"

#include <fmt/format.h>

#include <thread>

#include "sys/netlink.hpp"
#include "sys/netns.hpp"
#include "worker/net/radio_network.hpp"

namespace kuiga::bench {
namespace {

// Addresses of the benchmark's own underlay, inside namespaces it made and removes.
std::string underlayAddress(unsigned k) {
  return fmt::format("10.215.0.{}", k + 1);
}

uint32_t indexOf(const worker::InstanceSpec& s) {
  return s.id.index;
}
uint32_t indexOf(const InstanceId& id) {
  return id.index;
}

}  // namespace

VoidResult BenchHosts::build(unsigned count) {
  auto sw = sys::netns::create();
  if (!sw) return fail(sw.error().context("underlay switch namespace"));
  switch_ = std::move(*sw);
  for (unsigned k = 0; k < count; ++k) {
    auto ns = sys::netns::create();
    if (!ns) return fail(ns.error().context("host namespace"));
    hosts_.push_back({std::move(*ns), underlayAddress(k), nullptr});
  }
  {
    auto in = sys::netns::ThreadGuard::enter(switch_.get());
    if (!in) return fail(in.error());
    auto nl = sys::Netlink::open();
    if (!nl) return fail(nl.error());
    KUIGA_TRY(nl->createBridge("br0"), "underlay switch");
    KUIGA_TRY(nl->setUp("br0", true, false), "underlay switch");
    auto br = nl->linkIndex("br0");
    if (!br) return fail(br.error());
    for (unsigned k = 0; k < count; ++k) {
      const std::string port = fmt::format("u{}", k);
      KUIGA_TRY(nl->createVeth(
                    {port, std::nullopt, *br, "ul0", std::nullopt, hosts_[k].netns.get(), false}),
                "underlay port");
      KUIGA_TRY(nl->setMtu(port, worker::net::RadioNetwork::kDeviceMtu +
                                     worker::net::RadioNetwork::kUnderlayOverhead),
                "underlay port");
      KUIGA_TRY(nl->setUp(port, true, false), "underlay port");
    }
  }
  for (auto& h : hosts_) {
    auto in = sys::netns::ThreadGuard::enter(h.netns.get());
    if (!in) return fail(in.error());
    auto nl = sys::Netlink::open();
    if (!nl) return fail(nl.error());
    KUIGA_TRY(nl->setMtu("ul0", worker::net::RadioNetwork::kDeviceMtu +
                                    worker::net::RadioNetwork::kUnderlayOverhead),
              "host underlay");
    KUIGA_TRY(nl->addAddress("ul0", h.underlay + "/24"), "host underlay");
    KUIGA_TRY(nl->setUp("ul0"), "host underlay");
    KUIGA_TRY(nl->setUp("lo"), "host loopback");
  }
  return {};
}

Result<std::unique_ptr<BenchHosts>> BenchHosts::open(unsigned count,
                                                     const worker::ns::NsRuntimeConfig& base,
                                                     const worker::EventSink& sink) {
  if (count < 1 || count > 8) return failMsg("--workers must be 1 to 8");
  std::unique_ptr<BenchHosts> b(new BenchHosts());
  if (count == 1) {
    auto rt = worker::ns::NsRuntime::open(base, sink);
    if (!rt) return fail(rt.error());
    b->hosts_.push_back({sys::UniqueFd(), "", std::move(*rt)});
    return b;
  }
  KUIGA_TRY(b->build(count), "benchmark hosts");
  for (unsigned k = 0; k < count; ++k) {
    auto cfg = base;
    cfg.name = fmt::format("{}h{}", base.name, k);
    cfg.stateDir = fmt::format("{}/h{}", base.stateDir, k);
    cfg.uidCount = base.uidCount / count;
    cfg.uidBase = base.uidBase + k * cfg.uidCount;
    // Opened from the host's namespace: its radio network's tunnels start there.
    auto in = sys::netns::ThreadGuard::enter(b->hosts_[k].netns.get());
    if (!in) return fail(in.error());
    auto rt = worker::ns::NsRuntime::open(cfg, sink);
    if (!rt) return fail(rt.error().context(fmt::format("host {}", k)));
    (*rt)->radioNetwork().setUnderlayAddress(b->hosts_[k].underlay);
    b->hosts_[k].runtime = std::move(*rt);
  }
  return b;
}

BenchHosts::~BenchHosts() {
  if (!destroyed_) (void)destroyAll();
}

VoidResult BenchHosts::destroyAll() {
  destroyed_ = true;
  VoidResult out;
  for (auto& h : hosts_) {
    if (!h.runtime) continue;
    if (auto r = h.runtime->destroyAll(); !r && out) out = r;
    h.runtime.reset();
  }
  hosts_.clear();  // the namespaces go with their last descriptor
  switch_.reset();
  return out;
}

VoidResult BenchHosts::join(RunId run, uint32_t count) {
  const size_t n = hosts_.size();
  if (n == 1) return {};
  std::vector<std::vector<uint32_t>> held(n);
  for (uint32_t i = 0; i < count; ++i) held[hostOf(i)].push_back(i);
  for (size_t k = 0; k < n; ++k) {
    std::vector<worker::net::RadioPeer> peers;
    for (size_t j = 0; j < n; ++j)
      if (j != k) peers.push_back({hosts_[j].underlay, held[j], j == 0});
    KUIGA_TRY(hosts_[k].runtime->radioNetwork().setPeers(run, peers),
              fmt::format("host {} radio peers", k));
  }
  return {};
}

Result<uint64_t> BenchHosts::tunnelReceived(RunId run) {
  if (hosts_.size() == 1) return uint64_t{0};
  auto in = sys::netns::ThreadGuard::enter(hosts_[0].runtime->radioNetnsFd());
  if (!in) return fail(in.error());
  auto nl = sys::Netlink::open();
  if (!nl) return fail(nl.error());
  auto l = nl->link(worker::net::RadioNetwork::tunnelLink(run));
  if (!l) return fail(l.error());
  return l->rxPackets;
}

template <typename T, typename Op>
worker::BulkResult BenchHosts::perHost(std::span<const T> items, Op op) {
  std::vector<std::vector<T>> share(hosts_.size());
  for (const auto& it : items) share[hostOf(indexOf(it))].push_back(it);
  std::vector<worker::BulkResult> results(hosts_.size());
  {
    std::vector<std::jthread> threads;
    for (size_t k = 0; k < hosts_.size(); ++k)
      threads.emplace_back([&, k] { results[k] = op(*hosts_[k].runtime, share[k]); });
  }
  worker::BulkResult out;
  for (auto& r : results) {
    out.ok += r.ok;
    for (auto& f : r.failed) out.failed.push_back(std::move(f));
  }
  return out;
}

worker::BulkResult BenchHosts::create(std::span<const worker::InstanceSpec> specs) {
  return perHost(specs, [](worker::ns::NsRuntime& rt, const std::vector<worker::InstanceSpec>& s) {
    return rt.create(s);
  });
}

worker::BulkResult BenchHosts::start(std::span<const InstanceId> ids) {
  return perHost(
      ids, [](worker::ns::NsRuntime& rt, const std::vector<InstanceId>& s) { return rt.start(s); });
}

worker::BulkResult BenchHosts::stop(std::span<const InstanceId> ids,
                                    std::chrono::milliseconds grace) {
  return perHost(ids, [grace](worker::ns::NsRuntime& rt, const std::vector<InstanceId>& s) {
    return rt.stop(s, grace);
  });
}

worker::BulkResult BenchHosts::remove(std::span<const InstanceId> ids) {
  return perHost(ids, [](worker::ns::NsRuntime& rt, const std::vector<InstanceId>& s) {
    return rt.remove(s);
  });
}

std::string BenchHosts::logPath(InstanceId id) const {
  return hosts_[hostOf(id.index)].runtime->logPath(id);
}

std::vector<worker::InstanceStatus> BenchHosts::list() const {
  std::vector<worker::InstanceStatus> all;
  for (const auto& h : hosts_) {
    auto mine = h.runtime->list();
    std::move(mine.begin(), mine.end(), std::back_inserter(all));
  }
  return all;
}

}  // namespace kuiga::bench
