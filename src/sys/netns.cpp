#include "sys/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>

namespace kuiga::sys::netns {

Result<UniqueFd> current() {
  int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return failSys("open /proc/thread-self/ns/net");
  return UniqueFd(fd);
}

Result<UniqueFd> create() {
  // unshare() acts on the calling thread only, so this thread creates the namespace, keeps an
  // fd to it and returns to where it was.
  auto original = current();
  if (!original) return fail(original.error());
  if (::unshare(CLONE_NEWNET) < 0) return failSys("unshare(CLONE_NEWNET)");
  auto created = current();
  if (::setns(original->get(), CLONE_NEWNET) < 0) {
    // A thread stuck in the wrong namespace would silently misroute every later operation.
    std::perror("kuiga: setns back to the original network namespace");
    std::abort();
  }
  return created;
}

Result<UniqueFd> ofPid(int pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return failSys("open '" + path + "'");
  return UniqueFd(fd);
}

VoidResult pin(int nsFd, const std::string& path) {
  int f = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
  if (f < 0) return failSys("create '" + path + "'");
  ::close(f);
  std::string src = "/proc/self/fd/" + std::to_string(nsFd);
  if (::mount(src.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) < 0)
    return failSys("bind-mount namespace at '" + path + "'");
  return {};
}

Result<UniqueFd> openPinned(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return failSys("open '" + path + "'");
  return UniqueFd(fd);
}

VoidResult unpin(const std::string& path) {
  if (::umount2(path.c_str(), MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    return failSys("unmount '" + path + "'");
  if (::unlink(path.c_str()) < 0 && errno != ENOENT) return failSys("unlink '" + path + "'");
  return {};
}

namespace {
// Bulk operations enter thousands of namespaces per thread; the namespace a thread returns to
// from an outermost guard is opened once per thread, not once per guard.
thread_local UniqueFd tHome;
thread_local int tDepth = 0;
}  // namespace

Result<ThreadGuard> ThreadGuard::enter(int nsFd) {
  UniqueFd original;
  if (tDepth == 0) {
    if (!tHome) {
      auto home = current();
      if (!home) return fail(home.error());
      tHome = std::move(*home);
    }
  } else {
    auto cur = current();
    if (!cur) return fail(cur.error());
    original = std::move(*cur);
  }
  if (::setns(nsFd, CLONE_NEWNET) < 0) return failSys("setns(CLONE_NEWNET)");
  ++tDepth;
  return ThreadGuard(std::move(original));
}

ThreadGuard::~ThreadGuard() {
  if (!active_) return;
  --tDepth;
  int target = original_ ? original_.get() : tHome.get();
  if (::setns(target, CLONE_NEWNET) < 0) {
    std::perror("kuiga: setns back to the original network namespace");
    std::abort();
  }
}

}  // namespace kuiga::sys::netns
