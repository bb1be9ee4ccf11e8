#pragma once
// Child processes started vfork-style with clone (CLONE_VM | CLONE_VFORK): new namespaces,
// CLONE_PIDFD so the handle cannot be confused by PID reuse, and the child joins its cgroup
// (cgroup v2) before it execs, so the program runs no instruction outside it.
#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "sys/fd.hpp"

namespace kuiga::sys {

struct SpawnOptions {
  std::string path;
  std::vector<std::string> argv;
  std::vector<std::string> env;
  int namespaces = 0;  // CLONE_NEW* flags
  int cgroupFd = -1;   // v2 group directory the child joins before exec, -1: stay in ours
  // {fd in this process, fd number in the child}; every other fd is closed in the child.
  std::vector<std::pair<int, int>> fds;
  bool newSession = true;  // setsid(): keep the terminal's signals away from the child
  // Signals blocked in the child across exec, so that they queue until it is ready for them.
  std::vector<int> blockedSignals;
  // Sent to the child when the thread that spawned it ends (PR_SET_PDEATHSIG), 0: none. Only
  // for children of a thread that outlives them: a benchmark's copies, which must not outlive
  // a benchmark that was killed.
  int parentDeathSignal = 0;
};

struct ExitStatus {
  bool exited = false;  // else killed by a signal
  int code = 0;         // exit code or signal number
  std::string describe() const;
  // From the status word of waitpid().
  static ExitStatus fromWaitStatus(int status);
};

// Owns a child: destroying it kills (SIGKILL) and reaps a child that has not been waited for.
class Child {
 public:
  Child() = default;
  Child(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  Child(Child&& o) noexcept : pid_(std::exchange(o.pid_, -1)), pidfd_(std::move(o.pidfd_)) {}
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] int pidfd() const { return pidfd_.get(); }
  VoidResult signal(int sig) const;
  // Blocks until the child exits and reaps it.
  Result<ExitStatus> wait();
  // Reaps the child if it has exited; nullopt-like empty optional while it runs.
  Result<std::optional<ExitStatus>> tryWait();
  // Give up ownership without killing (the process is left to someone else to reap).
  void release() { pid_ = -1, pidfd_.reset(); }

 private:
  pid_t pid_ = -1;
  UniqueFd pidfd_;
};

// Starts `opts.path`. Returns once the child has exec'd, or with the child's exec error
// ("exec '/app/x': Exec format error").
Result<Child> spawn(const SpawnOptions& opts);

// A pidfd of `pid` (close-on-exec), which names that process even once its pid is reused.
Result<UniqueFd> pidfdOpen(pid_t pid);
VoidResult pidfdSignal(int pidfd, int sig);
// Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat): with the pid
// it identifies a process across our own restarts.
Result<unsigned long long> processStartTime(pid_t pid);
// The state letter of a process (field 3 of /proc/PID/stat: 'R', 'S', 'Z'...), 0 when it is
// gone.
char processState(pid_t pid);

// Runs the calling thread at SCHED_FIFO `priority` (a thread whose timing is the product's,
// that sleeps between bursts of work: the kernel's real-time throttling stops a runaway), or,
// without CAP_SYS_NICE, at nice -10. Fails only when neither could be set.
VoidResult raiseThreadPriority(int priority);

}  // namespace kuiga::sys
