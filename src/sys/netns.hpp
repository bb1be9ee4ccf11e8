#pragma once
// Network namespaces held by file descriptors. A namespace lives as long as a process is in it,
// an fd refers to it, or a bind mount pins it; pinning is optional because a bind mount per
// namespace makes mount tables grow when many mount namespaces exist.
#include <string>

#include "common/result.hpp"
#include "sys/fd.hpp"

namespace kuiga::sys::netns {

// A new, empty network namespace (loopback down), held by the returned fd.
Result<UniqueFd> create();
// The network namespace of a process.
Result<UniqueFd> ofPid(int pid);
// The calling thread's current network namespace.
Result<UniqueFd> current();
// Bind-mount the namespace at `path` (the file is created) so it outlives its holders.
VoidResult pin(int nsFd, const std::string& path);
// Open a pinned namespace.
Result<UniqueFd> openPinned(const std::string& path);
// Undo pin(); a missing path is success.
VoidResult unpin(const std::string& path);

// Moves the calling thread into a network namespace and back again when destroyed.
// Sockets opened in between belong to the target namespace for their whole life.
class ThreadGuard {
 public:
  static Result<ThreadGuard> enter(int nsFd);
  ThreadGuard(ThreadGuard&& o) noexcept
      : original_(std::move(o.original_)), active_(std::exchange(o.active_, false)) {}
  ThreadGuard& operator=(ThreadGuard&&) = delete;
  ~ThreadGuard();

 private:
  explicit ThreadGuard(UniqueFd original) : original_(std::move(original)) {}
  UniqueFd original_;  // for nested guards; the outermost returns to the thread's home
  bool active_ = true;
};

}  // namespace kuiga::sys::netns
