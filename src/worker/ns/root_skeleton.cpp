#include "worker/ns/root_skeleton.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <set>
#include <vector>

#include "sys/file.hpp"
#include "sys/mount.hpp"

namespace kuiga::worker::ns {
namespace {

// Host directories an instance gets fresh copies of, or must not see.
const std::set<std::string> kSkipped{"proc", "dev", "tmp", "run", "app", "work", "lost+found"};
const char* kMountPoints[] = {"app", "work", "run", "proc"};
// Bound without what is mounted below them: under /sys a host mounts its cgroup hierarchies,
// bpf, tracing and debug filesystems, which an instance has no business reading, and every
// mount is copied into each of thousands of instances (about 0.4 KiB of kernel memory each,
// and time in every clone).
const std::set<std::string> kShallow{"sys"};

// /dev holds what IoT apps need and nothing more. It lives in the skeleton, shared read-only by
// every instance (device nodes work on a read-only mount); what must be writable points into
// the instance's own /run.
VoidResult makeDev(const std::string& root) {
  const std::string dev = root + "/dev";
  for (const auto& d : {dev, dev + "/net"})
    if (::mkdir(d.c_str(), 0755) < 0) return failSys("mkdir '" + d + "'");
  struct Node {
    const char* name;
    unsigned major, minor;
  };
  for (const Node& n :
       {Node{"null", 1, 3}, Node{"zero", 1, 5}, Node{"full", 1, 7}, Node{"random", 1, 8},
        Node{"urandom", 1, 9}, Node{"tty", 5, 0}, Node{"net/tun", 10, 200}}) {
    std::string path = dev + "/" + n.name;
    if (::mknod(path.c_str(), S_IFCHR | 0666, makedev(n.major, n.minor)) < 0 ||
        ::chmod(path.c_str(), 0666) < 0)
      return failSys("mknod '" + path + "'");
  }
  for (const auto& [target, name] :
       {std::pair{"/proc/self/fd", "fd"}, std::pair{"/proc/self/fd/0", "stdin"},
        std::pair{"/proc/self/fd/1", "stdout"}, std::pair{"/proc/self/fd/2", "stderr"},
        std::pair{"/run/shm", "shm"}}) {
    std::string path = dev + "/" + name;
    if (::symlink(target, path.c_str()) < 0) return failSys("symlink '" + path + "'");
  }
  return {};
}

}  // namespace

Result<RootSkeleton> RootSkeleton::prepare(const std::string& path) {
  KUIGA_TRY(sys::makeDirs(path, 0755), "create root skeleton");
  if (sys::isMountPoint(path)) return RootSkeleton(path);  // left by an earlier worker process

  // Not nodev: the skeleton's /dev holds the instances' device nodes.
  if (::mount("tmpfs", path.c_str(), "tmpfs", MS_NOSUID, "mode=755,size=1m") < 0)
    return failSys("mount tmpfs at '" + path + "'");
  RootSkeleton sk(path);
  auto undo = [&](Error e) {
    (void)destroy(path);
    return fail(e.context("prepare root skeleton at '" + path + "'"));
  };
  // Private: nothing mounted here reaches the host's peers, and the reverse.
  if (::mount(nullptr, path.c_str(), nullptr, MS_PRIVATE, nullptr) < 0)
    return undo(Error::sys("make private"));

  DIR* d = ::opendir("/");
  if (!d) return undo(Error::sys("opendir /"));
  std::vector<std::pair<std::string, unsigned char>> entries;
  while (auto* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || kSkipped.count(name)) continue;
    entries.emplace_back(name, e->d_type);
  }
  ::closedir(d);

  std::vector<std::string> bound;
  for (const auto& [name, type] : entries) {
    std::string src = "/" + name, dst = path + "/" + name;
    if (type == DT_LNK) {
      char target[4096];
      ssize_t n = ::readlink(src.c_str(), target, sizeof target - 1);
      if (n < 0) continue;
      target[n] = 0;
      if (::symlink(target, dst.c_str()) < 0) return undo(Error::sys("symlink '" + dst + "'"));
    } else if (type == DT_DIR) {
      if (::mkdir(dst.c_str(), 0755) < 0) return undo(Error::sys("mkdir '" + dst + "'"));
      const unsigned long rec = kShallow.count(name) ? 0 : MS_REC;
      if (::mount(src.c_str(), dst.c_str(), nullptr, MS_BIND | rec, nullptr) < 0)
        return undo(Error::sys("bind '" + src + "'"));
      bound.push_back(dst);
    }
  }
  for (const char* m : kMountPoints) {
    std::string dst = path + "/" + m;
    if (::mkdir(dst.c_str(), 0755) < 0) return undo(Error::sys("mkdir '" + dst + "'"));
  }
  if (::symlink("/run/tmp", (path + "/tmp").c_str()) < 0) return undo(Error::sys("symlink tmp"));
  if (auto r = makeDev(path); !r) return undo(r.error());
  if (::mount(nullptr, path.c_str(), nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
    return undo(Error::sys("make tree private"));

  // Read-only, recursively, in one call (5.12+); older kernels get each top-level bind.
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID;
  if (::syscall(SYS_mount_setattr, AT_FDCWD, path.c_str(), AT_RECURSIVE, &attr, sizeof attr) < 0) {
    if (errno != ENOSYS) return undo(Error::sys("make tree read-only"));
    for (const auto& b : bound)
      if (::mount(nullptr, b.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID,
                  nullptr) < 0)
        return undo(Error::sys("remount '" + b + "' read-only"));
    if (::mount(nullptr, path.c_str(), nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
                nullptr) < 0)
      return undo(Error::sys("remount skeleton read-only"));
  }
  return sk;
}

VoidResult RootSkeleton::destroy(const std::string& path) {
  return sys::unmountAndRemove(path);
}

}  // namespace kuiga::worker::ns
