#pragma once
// One epoll thread that serves every instance's output FIFO. Handlers get a key, not a
// pointer, so an event that races with an instance's removal finds nothing.
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

#include "common/result.hpp"
#include "sys/fd.hpp"

namespace kuiga::worker::ns {

class IoLoop {
 public:
  using Handler = std::function<void(uint64_t key, uint32_t events)>;
  using Tick = std::function<void()>;

  static Result<std::unique_ptr<IoLoop>> start(Handler handler, Tick tick, int tickMs);
  ~IoLoop();

  VoidResult add(int fd, uint64_t key);
  void remove(int fd);
  // True when called from the loop's own thread.
  [[nodiscard]] bool inLoop() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  IoLoop(sys::UniqueFd ep, sys::UniqueFd wake, Handler h, Tick t, int tickMs);
  void run();

  sys::UniqueFd epoll_, wake_;
  Handler handler_;
  Tick tick_;
  int tickMs_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace kuiga::worker::ns
