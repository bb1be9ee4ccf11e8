#include "http/stream.hpp"

#include <microhttpd.h>

#include <cstring>

namespace kuiga::http {

WorkPool::WorkPool(unsigned threads) {
  for (unsigned i = 0; i < std::max(1u, threads); ++i)
    threads_.emplace_back([this] {
      for (;;) {
        std::function<void()> job;
        {
          std::unique_lock lock(mu_);
          cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
          if (jobs_.empty()) return;
          job = std::move(jobs_.front());
          jobs_.pop_front();
        }
        job();
      }
    });
}

WorkPool::~WorkPool() {
  close();
}

void WorkPool::close() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

bool WorkPool::submit(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

Timer::Timer() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      if (jobs_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto first = jobs_.begin();
      if (first->first > std::chrono::steady_clock::now()) {
        cv_.wait_until(lock, first->first);
        continue;
      }
      auto job = std::move(first->second);
      jobs_.erase(first);
      lock.unlock();
      job();
      lock.lock();
    }
  });
}

Timer::~Timer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Timer::at(std::chrono::steady_clock::time_point when, std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    jobs_.emplace(when, std::move(job));
  }
  cv_.notify_all();
}

Stream::Stream(std::shared_ptr<Source> source, MHD_Connection* conn, WorkPool& pool, Timer& timer)
    : source_(std::move(source)), conn_(conn), pool_(pool), timer_(timer) {}

ssize_t Stream::read(char* buf, size_t max) {
  std::unique_lock lock(mu_);
  if (aborted_) return MHD_CONTENT_READER_END_WITH_ERROR;
  if (off_ < buf_.size()) {
    size_t n = std::min(max, buf_.size() - off_);
    std::memcpy(buf, buf_.data() + off_, n);
    off_ += n;
    if (off_ == buf_.size()) buf_.clear(), off_ = 0;
    return static_cast<ssize_t>(n);
  }
  if (state_ == State::Idle) schedulePullLocked();
  if (state_ == State::Done) return MHD_CONTENT_READER_END_OF_STREAM;
  // Nothing buffered: rest until a pull brings something (allowed from a reader callback). The
  // pull cannot finish before this: it takes mu_ to hand its bytes over.
  suspended_ = true;
  MHD_suspend_connection(conn_);
  return 0;
}

void Stream::schedulePullLocked() {
  state_ = State::Pulling;
  // A closed pool (the server stops) runs nothing more: the stream ends where it is.
  if (!pool_.submit([self = shared_from_this()] { self->pull(); })) state_ = State::Done;
}

void Stream::pull() {
  {
    std::lock_guard lock(mu_);
    if (closed_ || aborted_) {
      state_ = State::Done;
      return;
    }
  }
  std::string out;
  auto r = source_->pull(out);
  if (r.next == Source::Pull::Next::More && out.empty())
    r = Source::wait(std::chrono::milliseconds(10));
  std::unique_lock lock(mu_);
  if (closed_) return;
  buf_ += out;
  switch (r.next) {
    case Source::Pull::Next::Done:
      state_ = State::Done;
      break;
    case Source::Pull::Next::More:
      state_ = State::Idle;
      break;
    case Source::Pull::Next::Wait:
      if (wokenWhilePulling_) {  // woken for something this pull may not have seen
        wokenWhilePulling_ = false;
        schedulePullLocked();
        break;
      }
      state_ = State::Waiting;
      uint64_t gen = ++waitGeneration_;
      timer_.at(std::chrono::steady_clock::now() + r.wait, [weak = weak_from_this(), gen] {
        auto self = weak.lock();
        if (!self) return;
        std::lock_guard l(self->mu_);
        if (!self->closed_ && self->state_ == State::Waiting && self->waitGeneration_ == gen)
          self->schedulePullLocked();
      });
      break;
  }
  wokenWhilePulling_ = false;
  resumeIfNeeded(lock);
}

void Stream::resumeIfNeeded(std::unique_lock<std::mutex>& lock) {
  // A suspended connection is never closed by the server, so conn_ stays valid until resumed;
  // only one thread sees suspended_ set and resumes it.
  if (!suspended_ || (off_ >= buf_.size() && state_ != State::Done && !aborted_)) return;
  suspended_ = false;
  lock.unlock();
  MHD_resume_connection(conn_);
}

void Stream::wake() {
  std::lock_guard lock(mu_);
  if (closed_) return;
  if (state_ == State::Waiting)
    schedulePullLocked();
  else if (state_ == State::Pulling)
    wokenWhilePulling_ = true;
}

void Stream::closed() {
  std::lock_guard lock(mu_);
  closed_ = true;
  suspended_ = false;
}

void Stream::abort() {
  std::unique_lock lock(mu_);
  if (closed_) return;
  aborted_ = true;
  resumeIfNeeded(lock);
}

}  // namespace kuiga::http
