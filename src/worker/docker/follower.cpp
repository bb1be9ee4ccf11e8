// The docker runtime's follower: one thread and one libcurl multi handle holding every
// container's log stream (GET /containers/{id}/logs?follow=1) and the engine's event stream,
// so that N containers cost N sockets and no thread each.
#include "worker/docker/follower.hpp"

#include <ctime>
#include <thread>

#include "worker/instance.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace kuiga::worker::docker {

int64_t parseDockerTime(std::string_view ts) {
  // "2026-11-28T09:20:29.795793168Z"
  std::tm tm{};
  int frac = 0, fracDigits = 0;
  if (ts.size() < 20) return 0;
  std::string s(ts);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t ns = static_cast<int64_t>(::timegm(&tm)) * 1000000000;
  if (s.size() > 20 && s[19] == '.') {
    for (size_t i = 20; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) {
      if (fracDigits < 9) frac = frac * 10 + (s[i] - '0'), ++fracDigits;
    }
    while (fracDigits++ < 9) frac *= 10;
    ns += frac;
  }
  return ns;
}

namespace {

size_t onData(char* data, size_t size, size_t n, void* p) {
  static_cast<Follower::Stream*>(p)->received(std::string_view(data, size * n));
  return size * n;
}

}  // namespace

void Follower::Stream::received(std::string_view bytes) {
  buffer.append(bytes);
  if (!log) {
    // The event stream: one JSON object per line.
    size_t nl;
    while ((nl = buffer.find('\n')) != std::string::npos) {
      auto j = nlohmann::json::parse(buffer.substr(0, nl), nullptr, false);
      buffer.erase(0, nl + 1);
      if (j.is_object()) {
        if (j.contains("timeNano")) lastEventNs = j["timeNano"].get<int64_t>();
        owner->onEvent_(j);
      }
    }
    return;
  }
  // A log stream without a TTY is multiplexed: frames of [stream, 0, 0, 0, size (big endian)]
  // then `size` bytes; with timestamps=1 each message starts with its RFC 3339 time.
  size_t at = 0;  // consumed frames are erased once, not one by one
  while (buffer.size() - at >= 8) {
    auto b = reinterpret_cast<const unsigned char*>(buffer.data() + at);
    size_t len = (size_t{b[4]} << 24) | (size_t{b[5]} << 16) | (size_t{b[6]} << 8) | b[7];
    if (buffer.size() - at < 8 + len) break;
    std::string_view msg(buffer.data() + at + 8, len);
    auto space = msg.find(' ');
    int64_t ts = space == std::string_view::npos ? 0 : parseDockerTime(msg.substr(0, space));
    std::string_view text = ts ? msg.substr(space + 1) : msg;
    // Docker's times have nanoseconds: they stamp the line, and after a restart the lines up
    // to the last one written are skipped (compared in microseconds, as the log file keeps
    // them). Podman's have whole seconds: the line is stamped when it arrives, and only lines
    // of earlier seconds are skipped, so lines of the second the worker stopped in may come
    // twice, but none is lost.
    const bool fine =
        space != std::string_view::npos && msg.substr(0, space).find('.') != std::string_view::npos;
    bool fresh =
        fine ? ts / 1000 > skipUntilNs / 1000 : ts / 1000000000 >= skipUntilNs / 1000000000;
    if (!fine || !ts) ts = realtimeNs();
    if (fresh) {
      if (auto r = log->append(text, ts); !r && !logErrorReported) {
        spdlog::warn("{}: {}", log->path(), r.error().message);
        logErrorReported = true;
      }
      std::string_view line = text;
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
      if (!line.empty()) {
        std::lock_guard lock(*lastLineMu);
        *lastLine = std::string(line.substr(0, 200));
      }
    }
    at += 8 + len;
  }
  buffer.erase(0, at);
}

Follower::Follower(const Engine& engine, std::string eventsPath,
                   std::function<void(const nlohmann::json&)> onEvent, std::function<void()> tick)
    : engine_(engine),
      eventsPath_(std::move(eventsPath)),
      onEvent_(std::move(onEvent)),
      tick_(std::move(tick)),
      multi_(curl_multi_init()) {
  auto ev = std::make_unique<Stream>();
  ev->owner = this;
  ev->path = eventsPath_;
  toAdd_.push_back(std::move(ev));
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

Follower::~Follower() {
  thread_.request_stop();
  curl_multi_wakeup(multi_);
  if (thread_.joinable()) thread_.join();
  for (auto& [h, s] : streams_) {
    curl_multi_remove_handle(multi_, h);
    curl_easy_cleanup(h);
  }
  curl_multi_cleanup(multi_);
}

void Follower::follow(const std::string& key, const std::string& container,
                      std::unique_ptr<LogWriter> log, std::shared_ptr<std::mutex> lastLineMu,
                      std::shared_ptr<std::string> lastLine, int64_t sinceNs,
                      std::function<void()> onEnd) {
  auto s = std::make_unique<Stream>();
  s->onEnd = std::move(onEnd);
  s->owner = this;
  s->key = key;
  s->log = std::move(log);
  s->lastLineMu = std::move(lastLineMu);
  s->lastLine = std::move(lastLine);
  s->skipUntilNs = sinceNs;
  // `since` is in whole seconds here; lines of that second already written are skipped by
  // their time.
  s->path = fmt::format("/containers/{}/logs?follow=1&stdout=1&stderr=1&timestamps=1&since={}",
                        container, sinceNs / 1000000000);
  std::lock_guard lock(mu_);
  toAdd_.push_back(std::move(s));
  curl_multi_wakeup(multi_);
}

void Follower::unfollow(const std::string& key) {
  std::lock_guard lock(mu_);
  toRemove_.push_back(key);
  curl_multi_wakeup(multi_);
}

void Follower::add(std::unique_ptr<Stream> s) {
  CURL* h = curl_easy_init();
  s->url = engine_.url(s->path);
  curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, engine_.socketPath().c_str());
  curl_easy_setopt(h, CURLOPT_URL, s->url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onData);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, s.get());
  curl_multi_add_handle(multi_, h);
  streams_[h] = std::move(s);
}

void Follower::drop(CURL* h) {
  auto it = streams_.find(h);
  if (it == streams_.end()) return;
  if (it->second->log) (void)it->second->log->finish(realtimeNs());
  curl_multi_remove_handle(multi_, h);
  curl_easy_cleanup(h);
  streams_.erase(it);
}

void Follower::run(std::stop_token st) {
  auto nextTick = std::chrono::steady_clock::now();
  while (!st.stop_requested()) {
    {
      std::lock_guard lock(mu_);
      for (auto& s : toAdd_) add(std::move(s));
      toAdd_.clear();
      for (const auto& key : toRemove_) {
        for (auto& [h, s] : streams_)
          if (s->key == key) {
            drop(h);
            break;
          }
      }
      toRemove_.clear();
    }
    int running = 0;
    curl_multi_perform(multi_, &running);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      CURL* h = m->easy_handle;
      auto it = streams_.find(h);
      if (it == streams_.end()) continue;
      if (!it->second->log) {
        // The engine's event stream ended (the engine restarted?): reopen it from where it was.
        int64_t since = it->second->lastEventNs;
        spdlog::warn("docker event stream closed ({}); reopening",
                     curl_easy_strerror(m->data.result));
        drop(h);
        auto ev = std::make_unique<Stream>();
        ev->owner = this;
        ev->path =
            eventsPath_ +
            (since ? fmt::format("&since={}.{:09}", since / 1000000000, since % 1000000000) : "");
        ev->lastEventNs = since;
        eventsRetry_ = std::move(ev);
        eventsRetryAt_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        continue;
      }
      auto onEnd = std::move(it->second->onEnd);
      drop(h);  // the container's output ended
      if (onEnd) onEnd();
    }
    if (std::chrono::steady_clock::now() >= nextTick) {
      tick_();
      nextTick = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
    }
    if (eventsRetry_ && std::chrono::steady_clock::now() >= eventsRetryAt_)
      add(std::move(eventsRetry_));
    curl_multi_poll(multi_, nullptr, 0, 50, nullptr);
  }
}

}  // namespace kuiga::worker::docker
