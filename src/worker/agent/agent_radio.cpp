// The agent's side of the runs' radios: the run's layer-2 network on this worker, its cell and
// ZEP dispatcher when the master places them here, and the peers that join them across hosts.
#include <set>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "rpc/control.grpc.pb.h"
#include "worker/agent/agent.hpp"

namespace kuiga::worker {

VoidResult Agent::openZep(RunId run, const std::string& zepJson, uint32_t count) {
  if (zepJson.empty()) return {};
  if (!zep_) return failMsg("this worker has no ZEP dispatcher to give the run an 802.15.4 radio");
  auto j = nlohmann::json::parse(zepJson, nullptr, false);
  if (j.is_discarded()) return failMsg("ZEP spec from the master is not JSON");
  auto spec = plexer::ZepSpec::fromJson(j);
  if (!spec) return fail(spec.error());
  return zep_->addRun(run, *spec, count, spec->seed.value_or(0));
}

VoidResult Agent::openCell(RunId run, const std::string& radioJson) {
  if (radioJson.empty()) return {};
  if (!forwarder_) return failMsg("this worker has no Plexer to give run a radio");
  auto j = nlohmann::json::parse(radioJson, nullptr, false);
  if (j.is_discarded()) return failMsg("radio spec from the master is not JSON");
  auto spec = plexer::RadioSpec::fromJson(j);
  if (!spec) return fail(spec.error());
  return forwarder_->addCell(run, *spec);
}

void Agent::routeDevicePrefixes(std::span<const InstanceSpec> specs, BulkResult& created) {
  std::set<InstanceId> failed;
  for (const auto& f : created.failed) failed.insert(f.first);
  for (const auto& s : specs) {
    if (s.net != NetMode::Tun || failed.count(s.id)) continue;
    VoidResult r = forwarder_ ? plexer::routeDevicePrefix(forwarder_->radioNetnsFd(), s.id)
                              : failMsg("this worker has no Plexer to route the device's prefix");
    if (!r) {
      created.failed.emplace_back(s.id, r.error().context("network"));
      --created.ok;
    }
  }
}

void Agent::closeIdleCells() {
  std::set<RunId> live;
  {
    std::lock_guard lock(mu_);
    live = hosted_;
  }
  for (const auto& st : runtime_.list()) live.insert(st.id.run);
  if (forwarder_)
    for (RunId run : forwarder_->cells())
      if (!live.count(run)) forwarder_->removeCell(run);
  if (zep_)
    for (RunId run : zep_->runs())
      if (!live.count(run)) zep_->removeRun(run);
  if (forwarder_)
    if (auto d = plexer::dropDevicePrefixes(forwarder_->radioNetnsFd(), live); !d)
      spdlog::warn("worker {}: {}", config_.name, d.error().message);
  if (radio_)
    for (RunId run : radio_->runs())
      if (!live.count(run)) closeRadio(run);
  // A run that ended here keeps no file open: its capture stays readable until purged.
  if (capture_)
    for (RunId run : capture_->runs())
      if (!live.count(run)) capture_->closeRun(run);
}

void Agent::closeRadio(RunId run) {
  if (!radio_) return;
  if (auto r = plexer::closeGateway(radio_->netnsFd(), run); !r)
    spdlog::warn("worker {}: {}", config_.name, r.error().message);
  if (auto r = radio_->closeRun(run); !r)
    spdlog::warn("worker {}: run {}'s radio network: {}", config_.name, run, r.error().message);
}

VoidResult Agent::openRadio(RunId run, NetMode net) {
  if (net == NetMode::None || !radio_) return {};
  return radio_->openRun(run);
}

VoidResult Agent::setRadioPeers(const rpc::RadioPeers& p) {
  if (!radio_) return failMsg("this worker has no radio network");
  std::vector<net::RadioPeer> peers;
  bool elsewhere = false;
  for (const auto& q : p.peers()) {
    peers.push_back({q.underlay_address(), {q.indices().begin(), q.indices().end()}, q.cell()});
    elsewhere = elsewhere || q.cell();
  }
  const bool here = !p.radio().empty() || !p.zep().empty();
  // The cell moved to another host (this one was lost meanwhile, or the master chose again):
  // it closes here before the core stops being the gateway. A plexer told of no cell here
  // holds nothing of the run any more.
  if (elsewhere || (config_.plexer && !here)) {
    closeCell(p.run());
    std::lock_guard lock(mu_);
    hosted_.erase(p.run());
  }
  KUIGA_TRY(radio_->setPeers(p.run(), peers), "radio peers");
  if (config_.plexer && !here) {
    closeIdleCells();  // its tree and capture go, with no instance of the run here
    return {};
  }
  if (here && config_.plexer) {
    std::lock_guard lock(mu_);
    hosted_.insert(p.run());
  }
  // The cell is here (idempotent when it already was): the core is the gateway again.
  KUIGA_TRY(openCell(p.run(), p.radio()), "the run's cell");
  return openZep(p.run(), p.zep(), p.run_count());
}

void Agent::closeCell(RunId run) {
  if (forwarder_) forwarder_->removeCell(run);
  if (zep_) zep_->removeRun(run);
  if (radio_)
    if (auto r = plexer::closeGateway(radio_->netnsFd(), run); !r)
      spdlog::warn("worker {}: {}", config_.name, r.error().message);
}

}  // namespace kuiga::worker
