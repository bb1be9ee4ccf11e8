#include "sys/process.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>

#include "sys/file.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace kuiga::sys {

ExitStatus ExitStatus::fromWaitStatus(int status) {
  if (WIFEXITED(status)) return {true, WEXITSTATUS(status)};
  return {false, WTERMSIG(status)};
}

std::string ExitStatus::describe() const {
  if (exited) return "exited with code " + std::to_string(code);
  const char* name = sigabbrev_np(code);
  return std::string("killed by signal ") + std::to_string(code) +
         (name ? std::string(" (SIG") + name + ")" : "");
}

Result<UniqueFd> pidfdOpen(pid_t pid) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!fd) return failSys("pidfd_open");
  return fd;
}

VoidResult pidfdSignal(int pidfd, int sig) {
  if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) < 0)
    return failSys("pidfd_send_signal");
  return {};
}

Result<unsigned long long> processStartTime(pid_t pid) {
  auto stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return fail(stat.error());
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  auto close = stat->rfind(')');
  if (close == std::string::npos) return failMsg("malformed /proc stat");
  const char* p = stat->c_str() + close + 2;
  for (int field = 3; field < 22 && *p; ++p)
    if (*p == ' ') ++field;
  return std::strtoull(p, nullptr, 10);
}

char processState(pid_t pid) {
  auto stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return 0;
  auto close = stat->rfind(')');
  return close != std::string::npos && close + 2 < stat->size() ? (*stat)[close + 2] : 0;
}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    this->~Child();
    pid_ = std::exchange(o.pid_, -1);
    pidfd_ = std::move(o.pidfd_);
  }
  return *this;
}

Child::~Child() {
  if (pid_ <= 0 || !pidfd_) return;
  (void)pidfdSignal(pidfd_.get(), SIGKILL);
  siginfo_t info{};
  while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info, WEXITED) <
             0 &&
         errno == EINTR) {
  }
}

VoidResult Child::signal(int sig) const {
  if (!pidfd_) return failMsg("signal: no such child");
  return pidfdSignal(pidfd_.get(), sig);
}

static ExitStatus fromSiginfo(const siginfo_t& info) {
  if (info.si_code == CLD_EXITED) return {true, info.si_status};
  return {false, info.si_status};
}

Result<ExitStatus> Child::wait() {
  if (!pidfd_) return failMsg("wait: no such child");
  siginfo_t info{};
  while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info, WEXITED) <
         0)
    if (errno != EINTR) return failSys("waitid");
  pid_ = -1;
  pidfd_.reset();
  return fromSiginfo(info);
}

Result<std::optional<ExitStatus>> Child::tryWait() {
  if (!pidfd_) return failMsg("wait: no such child");
  siginfo_t info{};
  if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info,
               WEXITED | WNOHANG) < 0)
    return failSys("waitid");
  if (info.si_pid == 0) return std::optional<ExitStatus>{};
  pid_ = -1;
  pidfd_.reset();
  return std::optional<ExitStatus>{fromSiginfo(info)};
}

namespace {

constexpr size_t kMaxFds = 16;

// Runs in the child between clone and exec. The child shares the parent's memory (CLONE_VM)
// and the parent may have other threads, so only async-signal-safe calls are allowed here: no
// allocation, no locks, no C++ library. Its error comes back through the shared memory.
struct ChildArgs {
  const char* path;
  char* const* argv;
  char* const* envp;
  const std::pair<int, int>* fds;
  size_t nfds;
  bool newSession;
  int parentDeathSignal;
  const sigset_t* mask;
  int cgroupFd;
  // With a pidfd of the parent, the child shares its descriptor table (CLONE_FILES) until it
  // takes one of its own holding only descriptors below keepBelow, and fetches the ones it
  // passes on with pidfd_getfd(); -1: the table was copied at clone.
  int parent;
  int keepBelow;
  volatile int err;
  volatile bool refused;  // pidfd_getfd() was refused (a ptrace policy): spawn copies instead
};

int childMain(void* p) {
  ChildArgs& a = *static_cast<ChildArgs*>(p);
  const auto* fds = a.fds;
  const size_t nfds = a.nfds;
  int moved[kMaxFds];
  int highest = 2;
  for (size_t i = 0; i < nfds; ++i) highest = fds[i].second > highest ? fds[i].second : highest;
  sigprocmask(SIG_SETMASK, a.mask, nullptr);
  signal(SIGPIPE, SIG_DFL);
  if (a.newSession) setsid();
  // The spawning thread waits (CLONE_VFORK) until the exec; only a SIGKILL of its process
  // before this line leaves the child without the signal.
  if (a.parentDeathSignal) prctl(PR_SET_PDEATHSIG, a.parentDeathSignal);
  // Into the cgroup before exec: writing 0 to cgroup.procs moves the writer.
  if (a.cgroupFd >= 0) {
    int procs = openat(a.cgroupFd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (procs < 0 || write(procs, "0", 1) != 1) goto fail;
    close(procs);
  }
  if (a.parent >= 0) {
    // A worker holds thousands of descriptors: copying its table at clone and closing them all
    // before exec took a quarter of the CPU of a 10,000-instance create (docs/performance.md).
    // Here only the few below keepBelow are copied, and the ones passed on are fetched.
    if (syscall(SYS_close_range, a.keepBelow, ~0U, CLOSE_RANGE_UNSHARE) < 0) goto fail;
    for (size_t i = 0; i < nfds; ++i) {
      int f = static_cast<int>(syscall(SYS_pidfd_getfd, a.parent, fds[i].first, 0));
      if (f < 0) {
        a.refused = errno == EPERM || errno == ENOSYS || errno == EACCES;
        goto fail;
      }
      // Out of the way of every target, so that a target never clobbers a later source.
      moved[i] = fcntl(f, F_DUPFD_CLOEXEC, highest + 1);
      close(f);
      if (moved[i] < 0) goto fail;
    }
  } else {
    for (size_t i = 0; i < nfds; ++i) {
      moved[i] = fcntl(fds[i].first, F_DUPFD_CLOEXEC, highest + 1);
      if (moved[i] < 0) goto fail;
    }
  }
  for (size_t i = 0; i < nfds; ++i)
    if (dup2(moved[i], fds[i].second) < 0) goto fail;
  // Close everything else.
  for (int fd = 0; fd <= highest; ++fd) {
    bool keep = false;
    for (size_t i = 0; i < nfds; ++i) keep |= fds[i].second == fd;
    if (!keep) close(fd);
  }
  syscall(SYS_close_range, highest + 1, ~0U, 0);
  execve(a.path, a.argv, a.envp);
fail:
  a.err = errno != 0 ? errno : EIO;
  _exit(127);
}

// A pidfd of this process, opened once per process (a forked child opens its own), as early
// as the library loads so that its number is low: the child keeps the descriptors below it.
std::mutex selfMu;
int selfFd = -1;
pid_t selfOwner = 0;
std::atomic<bool> getfdRefused{false};

int selfPidfd() {
  std::lock_guard lock(selfMu);
  if (selfOwner != ::getpid()) {
    selfFd = static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0));  // O_CLOEXEC
    selfOwner = ::getpid();
  }
  return selfFd;
}
[[maybe_unused]] const int kEarlySelfPidfd = selfPidfd();

// The stack the child runs on until exec, one per spawning thread: with CLONE_VFORK the parent
// thread waits until its child has exec'd, so the stack is free again when spawn() returns.
char* childStackTop() {
  constexpr size_t kSize = 128 << 10;
  thread_local char* stack = nullptr;
  if (!stack) {
    void* p = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                   -1, 0);
    if (p == MAP_FAILED) return nullptr;
    stack = static_cast<char*>(p);
  }
  return stack + kSize;
}

}  // namespace

Result<Child> spawn(const SpawnOptions& opts) {
  if (opts.fds.size() > kMaxFds) return failMsg("spawn: too many fds");
  // Everything the child touches is prepared here, before clone.
  std::vector<char*> argv, envp;
  for (const auto& a : opts.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : opts.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : opts.blockedSignals) sigaddset(&mask, sig);

  // vfork-style (CLONE_VM | CLONE_VFORK, as posix_spawn and Go's exec do): the child borrows
  // the parent's address space until exec instead of copying its page tables, which cost time
  // in proportion to the parent's size (a worker with an API server and thousands of
  // instances is large). The namespace flags combine with it; the pidfd comes back through
  // parent_tid, and the child joins its cgroup itself before exec.
  char* stackTop = childStackTop();
  if (!stackTop) return failSys("mmap child stack");
  for (bool share = !getfdRefused.load();; share = false) {
    const int self = share ? selfPidfd() : -1;
    ChildArgs ca{opts.path.c_str(),
                 argv.data(),
                 envp.data(),
                 opts.fds.data(),
                 opts.fds.size(),
                 opts.newSession,
                 opts.parentDeathSignal,
                 &mask,
                 opts.cgroupFd,
                 self,
                 self + 1 > 3 ? self + 1 : 3,
                 0,
                 false};
    int pidfd = -1;
    const int files = self >= 0 ? CLONE_FILES : 0;
    int pid = ::clone(childMain, stackTop,
                      opts.namespaces | files | CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &ca,
                      &pidfd);
    if (pid < 0) return failSys("clone");
    Child child(static_cast<pid_t>(pid), UniqueFd(pidfd));
    // The child has exec'd or exited: its error, if any, is in ca.
    const int childErr = ca.err;
    if (childErr == 0) return child;
    (void)child.wait();
    if (ca.refused && share) {
      getfdRefused = true;  // this host's policy: copy the table from now on
      continue;
    }
    return failSys("exec '" + opts.path + "'", childErr);
  }
}

VoidResult raiseThreadPriority(int priority) {
  sched_param sp{};
  sp.sched_priority = priority;
  // Reset on fork: a thread or process this one creates (a library's lazily started worker
  // thread) runs at normal priority, not at ours.
  if (::sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) == 0) return {};
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), -10) == 0) return {};
  return failSys("raise the thread's priority");
}

}  // namespace kuiga::sys
