#pragma once
// One thread following many HTTP streams of the Docker engine with libcurl's multi interface:
// every container's output (into its instance log) and the engine's event stream.
#include <curl/curl.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "worker/docker/engine.hpp"
#include "worker/log_writer.hpp"

namespace kuiga::worker::docker {

// Nanoseconds since the epoch of an RFC 3339 UTC time as Docker writes it; 0 if it is not one.
int64_t parseDockerTime(std::string_view ts);

class Follower {
 public:
  // `eventsPath`: the engine's /events request (with its filters); `onEvent` gets each event,
  // `tick` runs every 50 ms; both on the follower's thread.
  Follower(const Engine& engine, std::string eventsPath,
           std::function<void(const nlohmann::json&)> onEvent, std::function<void()> tick);
  ~Follower();
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  // Follows a container's stdout and stderr into `log`, from `sinceNs` (lines up to that time
  // are skipped: they were written before a restart). The last non-empty line is kept in
  // *lastLine under *lastLineMu, for failure reasons. `onEnd` runs (on the follower's thread)
  // once the engine has ended the stream, i.e. the container's output is all in the log.
  void follow(const std::string& key, const std::string& container, std::unique_ptr<LogWriter> log,
              std::shared_ptr<std::mutex> lastLineMu, std::shared_ptr<std::string> lastLine,
              int64_t sinceNs, std::function<void()> onEnd);
  void unfollow(const std::string& key);

  struct Stream {
    Follower* owner = nullptr;
    std::string key;  // empty for the event stream
    std::string path, url;
    std::string buffer;
    std::unique_ptr<LogWriter> log;  // null for the event stream
    std::shared_ptr<std::mutex> lastLineMu;
    std::shared_ptr<std::string> lastLine;
    int64_t skipUntilNs = 0;
    int64_t lastEventNs = 0;
    bool logErrorReported = false;
    std::function<void()> onEnd;
    void received(std::string_view bytes);
  };

 private:
  void run(std::stop_token st);
  void add(std::unique_ptr<Stream> s);
  void drop(CURL* h);

  const Engine& engine_;
  std::string eventsPath_;
  std::function<void(const nlohmann::json&)> onEvent_;
  std::function<void()> tick_;
  CURLM* multi_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Stream>> toAdd_;
  std::vector<std::string> toRemove_;
  std::map<CURL*, std::unique_ptr<Stream>> streams_;  // the thread's own
  std::unique_ptr<Stream> eventsRetry_;               // reopened at eventsRetryAt_
  std::chrono::steady_clock::time_point eventsRetryAt_{};
  std::jthread thread_;
};

}  // namespace kuiga::worker::docker
