#pragma once
// The master's Prometheus metrics (`GET /metrics`, text exposition format 0.0.4). Written by
// hand: Debian 12 has no C++ Prometheus client, and the format is a few lines of text. Gauges
// (runs, instances, workers) are read from the master when scraped; counters and histograms
// (API requests, instance latencies) are kept here.
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace kuiga::master {

// A histogram with fixed buckets (upper bounds in seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)), counts_(bounds_.size()) {}
  void observe(double seconds);
  // "name_bucket{labels,le=..} n" ..., "name_sum", "name_count".
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  uint64_t count_ = 0;
  double sum_ = 0;
};

class Metrics {
 public:
  // One API request: its method, its route's pattern ("/api/v1/runs/{id}", or "other" for a
  // path no route has: however many a client invents, they are one series), its status.
  void request(const std::string& method, const std::string& route, int status, double seconds);
  // How long an instance took from its run's create request to ready, from the start request
  // to running, from the stop request to terminated.
  enum class Phase { Create, Start, Stop };
  void instance(Phase phase, double seconds);

  // What the master knows when scraped.
  struct Gauges {
    std::map<std::string, uint64_t> runsByState, instancesByState;
    struct Worker {
      std::string name;
      bool online = false;
      uint64_t capacity = 0, load = 0;
      uint64_t zepUnplaceable = 0;
    };
    std::vector<Worker> workers;
    // The Plexer's counters of one run with a radio network, summed over its workers.
    struct Radio {
      uint32_t run = 0;
      uint64_t sent = 0, delivered = 0, missed = 0, ringDrops = 0;
      uint64_t toStation = 0, uplink = 0, downlink = 0, queued = 0, leases = 0;
      std::map<std::string, uint64_t> dropped;  // by cause
      // The ZEP radio's totals ("sent", "received", "lost_on_links", ... as in the radio
      // report); empty when the run has none.
      std::map<std::string, uint64_t> zep;
    };
    std::vector<Radio> radios;
  };
  std::string render(const Gauges& g) const;

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> requestSeconds_;  // by route
  // Create, start, stop: from 10 ms to 5 minutes (10,000 instances take a minute or more).
  static inline const std::vector<double> kPhaseBounds = {0.01, 0.05, 0.1, 0.25, 0.5, 1,  2.5,
                                                          5,    10,   30,  60,   120, 300};
  std::array<Histogram, 3> phases_{Histogram(kPhaseBounds), Histogram(kPhaseBounds),
                                   Histogram(kPhaseBounds)};
};

}  // namespace kuiga::master
