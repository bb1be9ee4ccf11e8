// The agent's side of the runs' radios: the run's layer-2 network on this worker, its cell and
// ZEP dispatcher when the master places them here, and the peers that join them across hosts.
#include <set>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "rpc/control.grpc.pb.h"
#include "worker/agent/agent.hpp"

namespace kuiga::worker {

VoidResult Agent::openCell(RunId run, const std::string& radioJson, const std::string& zepJson,
                           uint32_t count, uint32_t groupSize) {
  if (radioJson.empty() && zepJson.empty()) return {};
  if (!plexer_) return failMsg("this worker has no Plexer to give the run a radio");
  return plexer_->openCell(run, radioJson, zepJson, count, groupSize);
}

void Agent::routeDevicePrefixes(std::span<const InstanceSpec> specs, BulkResult& created) {
  std::set<InstanceId> failed;
  for (const auto& f : created.failed) failed.insert(f.first);
  for (const auto& s : specs) {
    if (s.net != NetMode::Tun || failed.count(s.id)) continue;
    // A relay routes none: its devices' packets go to the cell's host, which routes them all
    // (setRadioPeers()). Opening the gateway here would make this core answer for it.
    if (radio_ && !radio_->cellPeer(s.id.run).empty()) continue;
    VoidResult r = plexer_ ? plexer_->routeDevice(s.id)
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
  if (plexer_) plexer_->closeIdle(live);
  if (radio_)
    for (RunId run : radio_->runs())
      if (!live.count(run)) closeRadio(run);
}

void Agent::closeRadio(RunId run) {
  closeCell(run);  // its cell, dispatcher and gateway first, then the tree they were on
  if (!radio_) return;
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
  const bool here = p.cell() || !p.radio().empty() || !p.zep().empty();
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
  if (p.tun()) KUIGA_TRY(routeRunPrefixes(p, elsewhere), "the run's device prefixes");
  if (elsewhere) return {};
  // The cell is here (idempotent when it already was): the core is the gateway again.
  return openCell(p.run(), p.radio(), p.zep(), p.run_count(), p.group_size());
}

VoidResult Agent::routeRunPrefixes(const rpc::RadioPeers& p, bool relay) {
  if (!plexer_) return failMsg("this worker has no Plexer to route the run's prefixes");
  std::set<uint32_t> indices;
  if (!relay) {  // this core is the run's router: every device's prefix, here or elsewhere
    for (const auto& q : p.peers()) indices.insert(q.indices().begin(), q.indices().end());
    for (const auto& st : runtime_.list())
      if (st.id.run == p.run()) indices.insert(st.id.index);
  }
  return plexer_->routeRun(p.run(), indices);
}

void Agent::closeCell(RunId run) {
  if (plexer_) plexer_->closeCell(run);
}

}  // namespace kuiga::worker
