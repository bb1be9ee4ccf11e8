#include "master/api/event_hub.hpp"

#include <fmt/format.h>

namespace kuiga::master::api {

namespace {

class EventStream final : public http::Source {
 public:
  EventStream(EventHub& hub, std::chrono::milliseconds keepAlive, std::string owner)
      : hub_(hub), keepAlive_(keepAlive), owner_(std::move(owner)), seq_(hub.next()) {}
  ~EventStream() override {
    if (watch_) hub_.unwatch(watch_);
  }
  void attach(std::function<void()> wake) override { watch_ = hub_.watch(std::move(wake)); }
  Pull pull(std::string& out) override {
    bool overflow = false;
    seq_ = hub_.read(seq_, owner_, out, 1u << 20, overflow);
    if (overflow) out.insert(0, "event: overflow\ndata: {}\n\n");
    auto now = std::chrono::steady_clock::now();
    if (!out.empty()) {
      last_ = now;
    } else if (now - last_ >= keepAlive_ || first_) {
      out = ": keepalive\n\n";  // also the first bytes, so the client sees the stream open
      last_ = now;
    }
    first_ = false;
    return wait(keepAlive_);
  }

 private:
  EventHub& hub_;
  std::chrono::milliseconds keepAlive_;
  std::string owner_;
  uint64_t seq_;
  uint64_t watch_ = 0;
  bool first_ = true;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace

EventHub::EventHub(RunService& master, size_t keepEvents, size_t keepBytes)
    : master_(master), keepEvents_(keepEvents), keepBytes_(keepBytes) {
  subscription_ = master_.subscribe([this](const MasterEvent& ev) { publish(ev); });
}

EventHub::~EventHub() {
  master_.unsubscribe(subscription_);
}

void EventHub::publish(const MasterEvent& ev) {
  std::string frame =
      fmt::format("event: {}\ndata: {}\n\n", ev.kind,
                  ev.data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  std::vector<std::function<void()>> wake;
  {
    std::lock_guard lock(mu_);
    bytes_ += frame.size();
    log_.push_back({ev.owner, std::move(frame)});
    while (log_.size() > 1 && (log_.size() > keepEvents_ || bytes_ > keepBytes_)) {
      bytes_ -= log_.front().frame.size();
      log_.pop_front();
      ++first_;
    }
    for (const auto& [id, w] : watchers_) wake.push_back(w);
  }
  for (auto& w : wake) w();
}

uint64_t EventHub::read(uint64_t seq, const std::string& owner, std::string& out, size_t maxBytes,
                        bool& overflow) {
  std::lock_guard lock(mu_);
  overflow = seq < first_;
  if (overflow) seq = first_;
  while (seq < first_ + log_.size() && (out.empty() || out.size() < maxBytes)) {
    const auto& e = log_[seq++ - first_];
    if (owner.empty() || e.owner == owner) out += e.frame;
  }
  return seq;
}

uint64_t EventHub::next() {
  std::lock_guard lock(mu_);
  return first_ + log_.size();
}

uint64_t EventHub::watch(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  watchers_[nextWatcher_] = std::move(wake);
  return nextWatcher_++;
}

void EventHub::unwatch(uint64_t id) {
  std::lock_guard lock(mu_);
  watchers_.erase(id);
}

std::shared_ptr<http::Source> EventHub::open(std::chrono::milliseconds keepAlive,
                                             std::string owner) {
  return std::make_shared<EventStream>(*this, keepAlive, std::move(owner));
}

}  // namespace kuiga::master::api
