#include "master/metrics.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <set>

#include "master/http_api.hpp"

namespace kuiga::master {
namespace {

const std::vector<double> kRequestBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,   0.25,   0.5,   1,    2.5,   10};

// A label value, escaped as the format wants (backslash, quote, newline).
std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"')
      out += '\\', out += c;
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string number(double v) {
  return fmt::format("{}", v);
}

const std::string kOther = "other";

}  // namespace

void Histogram::observe(double seconds) {
  size_t k = 0;
  while (k < bounds_.size() && seconds > bounds_[k]) ++k;
  if (k < bounds_.size()) ++counts_[k];
  ++count_;
  sum_ += seconds;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t k = 0; k < bounds_.size(); ++k) {
    cumulative += counts_[k];
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, number(bounds_[k]),
                       cumulative);
  }
  out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, count_);
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out +=
      fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces, number(sum_), name, braces, count_);
}

void Metrics::request(const std::string& method, const std::string& route, int status,
                      double seconds) {
  const std::string& r = route;
  // The server logs requests it refused too, with whatever method they named.
  static const std::set<std::string> kMethods = {"GET",    "HEAD",  "POST",   "PUT",
                                                 "DELETE", "PATCH", "OPTIONS"};
  const std::string& m = kMethods.count(method) ? method : kOther;
  std::lock_guard lock(mu_);
  ++requests_[{m, r, status}];
  requestSeconds_.try_emplace(r, kRequestBounds).first->second.observe(seconds);
}

void Metrics::instance(Phase phase, double seconds) {
  std::lock_guard lock(mu_);
  phases_[static_cast<size_t>(phase)].observe(seconds);
}

std::string Metrics::render(const Gauges& g) const {
  std::string out;
  auto header = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  header("kuiga_runs", "gauge", "Test runs by state.");
  for (const auto& [state, n] : g.runsByState)
    out += fmt::format("kuiga_runs{{state=\"{}\"}} {}\n", escape(state), n);
  header("kuiga_instances", "gauge", "Instances of runs not deleted, by state.");
  for (const auto& [state, n] : g.instancesByState)
    out += fmt::format("kuiga_instances{{state=\"{}\"}} {}\n", escape(state), n);
  header("kuiga_worker_up", "gauge", "1 while the worker is connected.");
  for (const auto& w : g.workers)
    out += fmt::format("kuiga_worker_up{{worker=\"{}\"}} {}\n", escape(w.name), w.online ? 1 : 0);
  header("kuiga_worker_capacity_instances", "gauge", "Instances the worker may hold.");
  for (const auto& w : g.workers)
    out += fmt::format("kuiga_worker_capacity_instances{{worker=\"{}\"}} {}\n", escape(w.name),
                       w.capacity);
  header("kuiga_worker_instances", "gauge", "Instances the worker holds now.");
  for (const auto& w : g.workers)
    out += fmt::format("kuiga_worker_instances{{worker=\"{}\"}} {}\n", escape(w.name), w.load);
  header("kuiga_worker_zep_unplaceable_datagrams_total", "counter",
         "Datagrams the worker's ZEP dispatcher could place in no run.");
  for (const auto& w : g.workers)
    out += fmt::format("kuiga_worker_zep_unplaceable_datagrams_total{{worker=\"{}\"}} {}\n",
                       escape(w.name), w.zepUnplaceable);

  // The Plexer's counters, one series per run (not per device: 10,000 devices would swamp any
  // Prometheus server; the per-device figures are in GET /runs/{id}/radio).
  struct RadioSeries {
    const char* name;
    const char* type;
    const char* help;
    uint64_t Metrics::Gauges::Radio::*field;
  };
  static const RadioSeries kRadio[] = {
      {"kuiga_plexer_sent_frames_total", "counter", "Frames the run's devices sent, captured.",
       &Gauges::Radio::sent},
      {"kuiga_plexer_delivered_frames_total", "counter",
       "Frames delivered to the run's devices, captured.", &Gauges::Radio::delivered},
      {"kuiga_plexer_missed_frames_total", "counter",
       "Frames the devices' kernels sent that the capture did not see.", &Gauges::Radio::missed},
      {"kuiga_plexer_ring_drops_total", "counter", "Frames the capture ring dropped.",
       &Gauges::Radio::ringDrops},
      {"kuiga_plexer_to_station_frames_total", "counter",
       "Frames the devices addressed to the base station.", &Gauges::Radio::toStation},
      {"kuiga_plexer_uplink_frames_total", "counter",
       "Frames forwarded through a UE to the base station.", &Gauges::Radio::uplink},
      {"kuiga_plexer_downlink_frames_total", "counter",
       "Frames from the base station delivered to a device.", &Gauges::Radio::downlink},
      {"kuiga_plexer_queued_frames", "gauge", "Frames waiting for a UE or for airtime.",
       &Gauges::Radio::queued},
      {"kuiga_plexer_ue_leases", "gauge", "UEs leased to a device now.", &Gauges::Radio::leases},
  };
  for (const auto& s : kRadio) {
    if (g.radios.empty()) break;
    header(s.name, s.type, s.help);
    for (const auto& r : g.radios)
      out += fmt::format("{}{{run=\"{}\"}} {}\n", s.name, r.run, r.*s.field);
  }
  if (!g.radios.empty()) {
    header("kuiga_plexer_dropped_frames_total", "counter",
           "Frames the Plexer dropped on their way to or from the base station, by cause.");
    for (const auto& r : g.radios)
      for (const auto& [cause, n] : r.dropped)
        out += fmt::format("kuiga_plexer_dropped_frames_total{{run=\"{}\",cause=\"{}\"}} {}\n",
                           r.run, escape(cause), n);
  }
  // The ZEP radio's, per run that has one.
  auto zepSeries = [&](const char* name, const char* help, const char* key) {
    bool any = false;
    for (const auto& r : g.radios) {
      auto it = r.zep.find(key);
      if (it == r.zep.end()) continue;
      if (!any) header(name, "counter", help);
      any = true;
      out += fmt::format("{}{{run=\"{}\"}} {}\n", name, r.run, it->second);
    }
  };
  zepSeries("kuiga_zep_sent_frames_total", "ZEP frames the run's devices put on the air.", "sent");
  zepSeries("kuiga_zep_received_frames_total",
            "Copies of ZEP frames delivered to the run's devices.", "received");
  zepSeries("kuiga_zep_malformed_datagrams_total",
            "Datagrams from the run's devices that were not ZEP v2 data or hello.", "malformed");
  zepSeries("kuiga_zep_acked_frames_total",
            "ZEP frames of the run's devices that their destination acknowledged.", "acks");
  zepSeries("kuiga_zep_retransmitted_frames_total",
            "ZEP frames of the run's devices that repeated a sequence number in the MAC's retry "
            "window.",
            "retransmissions");
  zepSeries("kuiga_zep_hellos_total", "ZEP hellos from the run's devices.", "hellos");
  static const char* kZepLost[] = {"dropped_channel", "no_listener", "lost_on_links", "unreachable",
                                   "send_errors"};
  bool zepHeader = false;
  for (const auto& r : g.radios)
    for (const char* cause : kZepLost)
      if (auto it = r.zep.find(cause); it != r.zep.end()) {
        if (!zepHeader)
          header("kuiga_zep_lost_total", "counter",
                 "ZEP frames (dropped_channel, no_listener) or copies (lost_on_links, "
                 "unreachable, send_errors) the run's radio lost, by cause.");
        zepHeader = true;
        out += fmt::format("kuiga_zep_lost_total{{run=\"{}\",cause=\"{}\"}} {}\n", r.run, cause,
                           it->second);
      }

  std::lock_guard lock(mu_);
  static const char* kPhase[] = {"kuiga_instance_create_seconds", "kuiga_instance_start_seconds",
                                 "kuiga_instance_stop_seconds"};
  static const char* kHelp[] = {"From a run's create request to each of its instances being ready.",
                                "From a run's start request to each of its instances running.",
                                "From a run's stop request to each of its instances terminated."};
  for (size_t k = 0; k < 3; ++k) {
    header(kPhase[k], "histogram", kHelp[k]);
    phases_[k].render(out, kPhase[k], "");
  }
  header("kuiga_http_requests_total", "counter", "API requests by method, route and status.");
  for (const auto& [key, n] : requests_) {
    const auto& [method, r, status] = key;
    out += fmt::format("kuiga_http_requests_total{{method=\"{}\",route=\"{}\",code=\"{}\"}} {}\n",
                       escape(method), escape(r), status, n);
  }
  header("kuiga_http_request_duration_seconds", "histogram", "API request latency by route.");
  for (const auto& [r, h] : requestSeconds_)
    h.render(out, "kuiga_http_request_duration_seconds", fmt::format("route=\"{}\"", escape(r)));
  return out;
}

}  // namespace kuiga::master
