#include "worker/ns/io_loop.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <memory>

namespace kuiga::worker::ns {

constexpr uint64_t kWakeKey = ~0ULL;

Result<std::unique_ptr<IoLoop>> IoLoop::start(Handler handler, Tick tick, int tickMs) {
  sys::UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep) return failSys("epoll_create1");
  sys::UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return failSys("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeKey;
  if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, wake.get(), &ev) < 0) return failSys("epoll_ctl");
  return std::unique_ptr<IoLoop>(
      new IoLoop(std::move(ep), std::move(wake), std::move(handler), std::move(tick), tickMs));
}

IoLoop::IoLoop(sys::UniqueFd ep, sys::UniqueFd wake, Handler h, Tick t, int tickMs)
    : epoll_(std::move(ep)),
      wake_(std::move(wake)),
      handler_(std::move(h)),
      tick_(std::move(t)),
      tickMs_(tickMs),
      thread_([this] { run(); }) {}

IoLoop::~IoLoop() {
  stop_ = true;
  uint64_t one = 1;
  ssize_t ignored = ::write(wake_.get(), &one, sizeof one);
  (void)ignored;
  if (thread_.joinable()) thread_.join();
}

VoidResult IoLoop::add(int fd, uint64_t key) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = key;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) return failSys("epoll_ctl(ADD)");
  return {};
}

void IoLoop::remove(int fd) {
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void IoLoop::run() {
  epoll_event events[256];
  while (!stop_) {
    int n = ::epoll_wait(epoll_.get(), events, 256, tickMs_);
    for (int i = 0; i < n && !stop_; ++i)
      if (events[i].data.u64 != kWakeKey) handler_(events[i].data.u64, events[i].events);
    tick_();
  }
}

}  // namespace kuiga::worker::ns
