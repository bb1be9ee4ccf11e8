#pragma once
// The master's events as server-sent events, for any number of clients (internal): each event
// is formatted once into a bounded log, and every open stream reads the log from its own place.
// A client that falls behind by more than the log holds is told so ("overflow") and goes on from
// the oldest event kept: it reloads what it shows, as Kuiga Web does.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "http/server.hpp"
#include "master/run_service.hpp"

namespace kuiga::master::api {

class EventHub {
 public:
  explicit EventHub(RunService& master, size_t keepEvents = 4096, size_t keepBytes = 8u << 20);
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;
  // A stream of the events from now on, with a keep-alive comment every `keepAlive`: those of
  // `owner`'s runs, or every run's when `owner` is empty.
  std::shared_ptr<http::Source> open(std::chrono::milliseconds keepAlive, std::string owner);

  // For the streams: `owner`'s events from `seq` on (at most `maxBytes`), and the sequence
  // number after those read; `overflow` when events before the oldest kept were asked for.
  uint64_t read(uint64_t seq, const std::string& owner, std::string& out, size_t maxBytes,
                bool& overflow);
  uint64_t next();
  uint64_t watch(std::function<void()> wake);
  void unwatch(uint64_t id);

 private:
  void publish(const MasterEvent& ev);
  RunService& master_;
  uint64_t subscription_ = 0;
  const size_t keepEvents_, keepBytes_;
  std::mutex mu_;
  struct Entry {
    std::string owner;
    std::string frame;
  };
  std::deque<Entry> log_;
  uint64_t first_ = 0;  // sequence number of log_.front()
  size_t bytes_ = 0;
  std::map<uint64_t, std::function<void()>> watchers_;
  uint64_t nextWatcher_ = 1;
};

}  // namespace kuiga::master::api
