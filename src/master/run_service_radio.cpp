// The master's view of a run's radio: the workers' capture, cell and ZEP counters of its
// devices, asked of every worker that holds some of them, put together per device and summed.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <filesystem>
#include <queue>
#include <random>
#include "master/run_service.hpp"
#include "master/run_service_internal.hpp"
#include "master/views.hpp"
#include "spec/identity.hpp"
#include "worker/instance.hpp"

namespace kuiga::master {

namespace {
// Adds `from`'s counters into `into`: a device's are reported by its own worker (capture) and
// by the run's cell host (cell, ZEP), each counter by one of them.
void addCounters(nlohmann::json& into, const nlohmann::json& from) {
  for (const auto& [k, v] : from.items()) {
    if (!into.contains(k) || into[k].is_null()) {
      into[k] = v;
    } else if (v.is_object()) {
      addCounters(into[k], v);
    } else if (v.is_number_unsigned() && into[k].is_number_unsigned()) {
      into[k] = into[k].get<uint64_t>() + v.get<uint64_t>();
    }
  }
}
}  // namespace

ApiResult<nlohmann::json> RunService::radio(RunId id) {
  auto workers = pcapWorkers(id);
  if (!workers) return apiFail(workers.error());
  std::map<std::string, std::string> placedOn;  // device name -> its worker
  for (const auto& [w, indices] : byWorker(id, false))
    for (uint32_t i : indices) placedOn[displayName({id, i})] = w;
  std::map<std::string, nlohmann::json> byName;
  uint64_t sent = 0, delivered = 0, drops = 0, kernelSent = 0, missed = 0, gatewayDrops = 0;
  uint64_t toStation = 0, uplink = 0, downlink = 0, queued = 0;
  nlohmann::json dropped = {{"loss", 0},  {"active_cap", 0},    {"medium_queue", 0},
                            {"no_ue", 0}, {"ue_queue_full", 0}, {"no_lease", 0}};
  nlohmann::json cells = nlohmann::json::array();
  nlohmann::json unreachable = nlohmann::json::array();
  nlohmann::json zep = nullptr;  // totals of the ZEP radio, when the run has one
  for (const auto& w : *workers) {
    rpc::Command cmd;
    cmd.mutable_radio_stats()->set_run(id);
    auto r = nodes_.call(w, cmd, std::chrono::seconds(10));
    if (!r || !r->ok()) {
      unreachable.push_back(w);  // its counts are missing; say so rather than fail
      continue;
    }
    drops += r->ring_drops();
    gatewayDrops += r->gateway_drops();
    if (r->has_cell()) {
      const auto& c = r->cell();
      dropped["no_lease"] = dropped["no_lease"].get<uint64_t>() + c.dropped_no_lease();
      cells.push_back({{"worker", w},
                       {"uplink", c.uplink()},
                       {"ues", c.ues()},
                       {"leases", c.leases()},
                       {"max_leases", c.max_leases()},
                       {"grants", c.grants()},
                       {"releases", c.releases()},
                       {"queue_depth", c.queue_depth()},
                       {"active_devices", c.active_devices()},
                       {"airtime_ms", static_cast<double>(c.airtime_ns()) / 1e6},
                       {"dropped_no_lease", c.dropped_no_lease()},
                       {"write_errors", c.write_errors()}});
    }
    for (const auto& d : r->devices()) {
      toStation += d.to_station_frames();
      uplink += d.uplink_frames();
      downlink += d.downlink_frames();
      queued += d.queued_frames();
      nlohmann::json deviceDropped = {{"loss", d.dropped_loss()},
                                      {"active_cap", d.dropped_active_cap()},
                                      {"medium_queue", d.dropped_medium_queue()},
                                      {"no_ue", d.dropped_no_ue()},
                                      {"ue_queue_full", d.dropped_ue_queue_full()}};
      for (const auto& [k, v] : deviceDropped.items())
        dropped[k] = dropped[k].get<uint64_t>() + v.get<uint64_t>();
      sent += d.sent_frames();
      delivered += d.delivered_frames();
      kernelSent += d.kernel_sent_frames();
      missed += d.missed_frames();
      nlohmann::json device = {{"name", d.name()},
                               {"sent_frames", d.sent_frames()},
                               {"sent_bytes", d.sent_bytes()},
                               {"delivered_frames", d.delivered_frames()},
                               {"delivered_bytes", d.delivered_bytes()},
                               {"kernel_sent_frames", d.kernel_sent_frames()},
                               {"missed_frames", d.missed_frames()},
                               {"to_station_frames", d.to_station_frames()},
                               {"to_station_bytes", d.to_station_bytes()},
                               {"uplink_frames", d.uplink_frames()},
                               {"uplink_bytes", d.uplink_bytes()},
                               {"downlink_frames", d.downlink_frames()},
                               {"downlink_bytes", d.downlink_bytes()},
                               {"queued_frames", d.queued_frames()},
                               {"dropped", deviceDropped}};
      if (d.zep()) {
        nlohmann::json z = {{"sent", d.zep_sent()},
                            {"received", d.zep_received()},
                            {"dropped_channel", d.zep_dropped_channel()},
                            {"lost_on_links", d.zep_lost_on_links()},
                            {"no_listener", d.zep_no_listener()},
                            {"unreachable", d.zep_unreachable()},
                            {"send_errors", d.zep_send_errors()},
                            {"malformed", d.zep_malformed()},
                            {"acks", d.zep_acks()},
                            {"retransmissions", d.zep_retransmissions()},
                            {"hellos", d.zep_hellos()},
                            {"own_acks", d.zep_own_acks()}};
        device["zep"] = z;
        if (zep.is_null()) {
          zep = nlohmann::json::object();
          for (const auto& [k, v] : z.items()) zep[k] = 0;
        }
        for (const auto& [k, v] : z.items()) zep[k] = zep[k].get<uint64_t>() + v.get<uint64_t>();
      }
      auto [at, fresh] = byName.try_emplace(d.name(), nlohmann::json::object());
      addCounters(at->second, device);
      auto placed = placedOn.find(d.name());
      at->second["worker"] = placed != placedOn.end() ? placed->second : w;
    }
  }
  nlohmann::json devices = nlohmann::json::array();
  for (auto& [name, d] : byName) devices.push_back(std::move(d));
  return nlohmann::json{
      {"run", id},
      {"devices", devices},
      {"sent_frames", sent},
      {"delivered_frames", delivered},
      {"ring_drops", drops},
      // Toward a base station, dropped by a worker's kernel before its Plexer read them (all
      // runs of those workers together).
      {"gateway_drops", gatewayDrops},
      {"kernel_sent_frames", kernelSent},
      {"missed_frames", missed},
      {"missed_ratio", kernelSent ? static_cast<double>(missed) / kernelSent : 0.0},
      {"to_station_frames", toStation},
      {"uplink_frames", uplink},
      {"downlink_frames", downlink},
      {"queued_frames", queued},
      {"dropped", dropped},
      {"cells", cells},
      {"zep", zep},
      {"unreachable_workers", unreachable}};
}

}  // namespace kuiga::master
