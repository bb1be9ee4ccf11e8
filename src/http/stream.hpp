#pragma once
// Server internals: the handler pool, a timer, and a streamed response's state between the
// event loop (which drains it) and the pool (which fills it from its Source).
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/server.hpp"

struct MHD_Connection;

namespace kuiga::http {

// A fixed set of threads taking jobs in order.
class WorkPool {
 public:
  explicit WorkPool(unsigned threads);
  ~WorkPool();
  // false once closed: the job is not run.
  bool submit(std::function<void()> job);
  // Runs what is queued, then joins the threads.
  void close();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Runs jobs at their time, on its own thread (which must not block: it hands work to the pool).
class Timer {
 public:
  Timer();
  ~Timer();
  void at(std::chrono::steady_clock::time_point when, std::function<void()> job);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

// One streamed body. The event loop calls read(); when nothing is buffered it suspends the
// connection and asks for a pull; a pull (on the pool) appends what the source gave and resumes
// the connection. A source that waits is pulled again after its wait, or at once when woken.
class Stream : public std::enable_shared_from_this<Stream> {
 public:
  Stream(std::shared_ptr<Source> source, MHD_Connection* conn, WorkPool& pool, Timer& timer);
  // The body's next bytes for the event loop: a count, 0 after suspending the connection, or
  // -1 at the end and -2 on failure (as libmicrohttpd's reader callback wants them).
  ssize_t read(char* buf, size_t max);
  void wake();
  // The response is gone (the client left, or the server stops): nothing is resumed any more.
  void closed();
  // Ends the stream with an error at its next read, resuming it if suspended (server stop).
  void abort();

 private:
  enum class State : uint8_t { Idle, Pulling, Waiting, Done };
  void schedulePullLocked();  // mu_ held
  void pull();
  void resumeIfNeeded(std::unique_lock<std::mutex>& lock);

  std::mutex mu_;
  std::shared_ptr<Source> source_;
  MHD_Connection* conn_;
  WorkPool& pool_;
  Timer& timer_;
  std::string buf_;
  size_t off_ = 0;
  State state_ = State::Idle;
  uint64_t waitGeneration_ = 0;
  bool wokenWhilePulling_ = false;
  bool suspended_ = false;
  bool closed_ = false;
  bool aborted_ = false;
};

}  // namespace kuiga::http
