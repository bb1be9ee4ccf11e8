// Where each run's cell is (its gateway, UE leases, medium and ZEP dispatcher), and the radio
// network that joins its devices to it: the master tells every participant, as the run is
// placed, rescheduled or shrinks, which others hold which of its devices and who holds its cell.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "master/run_service.hpp"
#include "master/run_service_internal.hpp"

namespace kuiga::master {

std::pair<std::string, std::string> cellSpecs(const RunSpec& spec) {
  std::pair<std::string, std::string> out;
  if (spec.radio) {
    auto radio = *spec.radio;
    if (!radio.seed) radio.seed = spec.seed;
    out.first = radio.toJson().dump();
  }
  if (spec.zep) {
    auto zep = *spec.zep;
    if (!zep.seed) zep.seed = spec.seed;
    out.second = zep.toJson().dump();
  }
  return out;
}

bool RunService::opensCell(RunId id, const std::string& worker) {
  std::string host;
  {
    std::lock_guard lock(mu_);
    auto it = runs_.find(id);
    if (it == runs_.end()) return false;
    host = it->second->cellHost;
  }
  if (host.empty() || host == worker) return true;
  auto s = nodes_.find(worker);
  return s && s->underlay.empty();
}

std::string RunService::cellPlexer(RunId id) {
  std::lock_guard lock(mu_);
  auto it = runs_.find(id);
  if (it == runs_.end() || !nodes_.isPlexer(it->second->cellHost)) return "";
  return it->second->cellHost;
}

void RunService::closeCellOn(const std::string& node, RunId id) {
  rpc::Command cmd;
  cmd.mutable_radio_peers()->set_run(id);  // no peers, no cell: nothing of it stays
  auto r = nodes_.call(node, cmd, config_.commandTimeout);
  if (!r)
    spdlog::info("run {}: close its cell on {}: {}", id, node, r.error().message);
  else if (!r->ok())
    spdlog::warn("run {}: close its cell on {}: {}", id, node, r->error());
}

std::string RunService::placeCellLocked(RunMem& mem, Participants& participants,
                                        const std::map<std::string, std::string>& underlay,
                                        std::string& moved) {
  const bool reachable = std::any_of(underlay.begin(), underlay.end(),
                                     [](const auto& u) { return !u.second.empty(); });
  CellChoice c{participants, underlay, {}, mem.cellHost, false};
  // A plexer away (a restarted master waits for it, as for workers) keeps its cells.
  c.currentIsPlexer = nodes_.isPlexer(mem.cellHost) && !nodes_.givenUp(mem.cellHost);
  const auto online = nodes_.all();
  for (const auto& n : online)
    if (n.plexer && !n.underlay.empty() && reachable) c.plexers[n.name] = 0;
  for (const auto& [other, m] : runs_)
    if (auto p = c.plexers.find(m->cellHost); p != c.plexers.end()) ++p->second;
  const std::string host = chooseCellHost(c);
  if (!mem.cellHost.empty() && host != mem.cellHost && !host.empty()) {
    moved = mem.cellHost;
    ++mem.cellMoves;
  }
  mem.cellHost = host;
  for (const auto& n : online)
    if (n.name == host && n.plexer) participants[host];  // the plexer takes part with no devices
  return host;
}

namespace {

// What worker `w` is told of the run's radio network: the others (by underlay address, with
// their devices), which of them holds the cell, and the cell's specs when it is `w` itself.
rpc::Command peersCommand(RunId id, const std::string& w, const std::string& host,
                          const std::map<std::string, std::vector<uint32_t>>& participants,
                          const std::map<std::string, std::string>& underlay, const RunSpec& spec) {
  rpc::Command cmd;
  auto* p = cmd.mutable_radio_peers();
  p->set_run(id);
  p->set_tun(spec.net == NetMode::Tun);
  if (w == host) {
    p->set_cell(true);
    const auto [radioJson, zepJson] = cellSpecs(spec);
    p->set_radio(radioJson);
    p->set_zep(zepJson);
    p->set_run_count(spec.count);
    p->set_group_size(spec.isolation == Isolation::Group ? spec.groupSize : 0);
  }
  const std::string& address = underlay.at(w);
  for (const auto& [other, indices] : participants) {
    auto a = underlay.find(other);
    if (other == w || a == underlay.end()) continue;  // offline: its devices come back with it
    if (a->second.empty() || address.empty()) continue;
    auto* peer = p->add_peers();
    peer->set_underlay_address(a->second);
    peer->set_cell(other == host);
    for (uint32_t i : indices) peer->add_indices(i);
  }
  return cmd;
}

}  // namespace

void RunService::syncRadioPeers(RunId id) {
  std::lock_guard serial(radioPeersMu_);
  RunSpec spec;
  {
    std::lock_guard lock(mu_);
    auto it = runs_.find(id);
    if (it == runs_.end()) return;
    spec = it->second->spec;
  }
  if (spec.net.value_or(NetMode::Veth) == NetMode::None) return;
  auto participants = byWorker(id, true);
  std::map<std::string, std::string> underlay;  // of the participants online
  std::string host, moved, was;
  uint32_t moves = 0;
  bool alone = false, movedLost = false;
  {
    std::lock_guard lock(mu_);
    auto it = runs_.find(id);
    if (it == runs_.end()) return;
    RunMem& mem = *it->second;
    was = mem.cellHost;
    for (const auto& [w, indices] : participants)
      if (auto n = nodes_.find(w)) underlay[w] = n->underlay;
    // A tun-mode run has one too when it has neither: its devices' prefixes are routed in
    // one place, the cell's host, where every device of the run is known.
    const bool tun = spec.net == NetMode::Tun;
    if ((spec.radio || spec.zep || tun) && !participants.empty())
      host = placeCellLocked(mem, participants, underlay, moved);
    movedLost = !moved.empty() && (nodes_.givenUp(moved) || !nodes_.online(moved));
    if (auto n = nodes_.find(host)) underlay[host] = n->underlay;
    moves = mem.cellMoves;
    const bool spans = participants.size() > 1;
    alone = !spans && !mem.radioPeered;  // alone on one worker, and always was
    if (!alone) mem.radioPeered = spans;
  }
  if (host != was) {
    std::string event = was.empty()    ? "cell on " + host
                        : host.empty() ? "cell on " + was + " closed: no devices"
                                       : fmt::format(
                                             "cell moved from {}{} to {} (move {}): its radio "
                                             "counters start again",
                                             was, movedLost ? " (lost)" : "", host, moves);
    if (auto r = store_.setRunCell(id, host, moves, event, nowNs()); !r)
      spdlog::warn("run {}: {}", id, r.error().message);
  }
  if (!moved.empty())
    spdlog::warn("run {}: its cell moves from {} to {}; its radio counters start again", id, moved,
                 host);
  // Its host away: the others are told when it is back (or lost), not told meanwhile that the
  // cell is nowhere, which would turn their cores into gateways.
  if (alone || (!host.empty() && !underlay.count(host))) return;
  std::vector<std::string> without;
  for (const auto& [w, address] : underlay)
    if (address.empty()) without.push_back(w);
  if (!without.empty())
    spdlog::warn(
        "run {}: its devices on {} are on a radio network of their own: no underlay "
        "address (--underlay-address)",
        id, fmt::join(without, ", "));
  std::vector<std::jthread> perWorker;
  for (const auto& [w, address] : underlay) {
    perWorker.emplace_back(
        [this, id, w = w, cmd = peersCommand(id, w, host, participants, underlay, spec)] {
          auto r = nodes_.call(w, cmd, config_.commandTimeout);
          if (!r)
            spdlog::warn("run {}: radio peers of {}: {}", id, w, r.error().message);
          else if (!r->ok())
            spdlog::warn("run {}: radio peers of {}: {}", id, w, r->error());
        });
  }
}

}  // namespace kuiga::master
