#include "worker/ns/root_skeleton.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "sys/file.hpp"
#include "sys/mount.hpp"

namespace kuiga::worker::ns {
namespace {

namespace fs = std::filesystem;

// What a dynamically linked ELF needs of the host, and nothing else: no home directories,
// /root, /var, /srv, /opt, /mnt, nor any data or state directory. The system directories are
// bound read-only (a merged-/usr system has /bin, /lib and /sbin as symlinks into /usr, which
// are copied as symlinks).
const char* kSystemDirs[] = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"};
// Of /etc, the loader's cache and what the C library and common tools read; copied (or, for
// symlinks, re-made), never bound, so a file the host adds to /etc later stays out.
const char* kEtcFiles[] = {"ld.so.cache", "ld.so.conf", "localtime", "timezone", "services",
                           "protocols",   "os-release", "host.conf", "gai.conf", "mime.types"};
// Directories of /etc whose contents are public and which tools follow into /usr: the
// alternatives' symlinks and the CA certificates (bound read-only).
const char* kEtcDirs[] = {"alternatives", "ssl"};
// Written here: the instance knows no host user, no host name and no resolver.
const std::pair<const char*, const char*> kEtcMade[] = {
    {"passwd",
     "root:x:0:0:root:/root:/usr/sbin/nologin\n"
     "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
    {"group", "root:x:0:\nnogroup:x:65534:\n"},
    {"hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
    {"nsswitch.conf",
     "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"
     "networks: files\nprotocols: files\nservices: files\n"},
    {"resolv.conf", "# Kuiga Box: devices have no resolver\n"},
};
// Mount points each instance fills in its own mount namespace, and where /tmp points.
const char* kMountPoints[] = {"app", "work", "run", "proc", "sys"};
// Bumped when what the skeleton holds changes: a skeleton left by a worker of another layout
// is replaced (instances already running keep the copy they pivoted into).
constexpr const char* kLayout = "kuiga root skeleton 2";

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

// A new file of the skeleton holding `data` (mode 0644).
VoidResult writeNew(const std::string& path, const std::string& data) {
  auto fd = sys::openFile(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (!fd) return fail(fd.error());
  return sys::writeAll(fd->get(), data.data(), data.size());
}

// Re-makes the host's symlink `src` at `dst`; false if `src` is no symlink.
Result<bool> copySymlink(const std::string& src, const std::string& dst) {
  char target[4096];
  ssize_t n = ::readlink(src.c_str(), target, sizeof target - 1);
  if (n < 0) return false;
  target[n] = 0;
  if (::symlink(target, dst.c_str()) < 0) return failSys("symlink '" + dst + "'");
  return true;
}

// A read-only bind of the host's `src` at `dst` (made: a directory, or an empty file).
VoidResult bindReadOnly(const std::string& src, const std::string& dst, bool recursive,
                        std::vector<std::string>& bound) {
  struct stat st {};
  if (::stat(src.c_str(), &st) < 0) return failSys("stat '" + src + "'");
  std::error_code ec;
  fs::create_directories(fs::path(dst).parent_path(), ec);
  if (S_ISDIR(st.st_mode)) {
    if (::mkdir(dst.c_str(), 0755) < 0 && errno != EEXIST) return failSys("mkdir '" + dst + "'");
  } else if (int fd = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644); fd >= 0) {
    ::close(fd);
  } else {
    return failSys("create '" + dst + "'");
  }
  if (::mount(src.c_str(), dst.c_str(), nullptr, MS_BIND | (recursive ? MS_REC : 0), nullptr) < 0)
    return failSys("bind '" + src + "'");
  bound.push_back(dst);
  return {};
}

VoidResult makeEtc(const std::string& root, std::vector<std::string>& bound) {
  const std::string etc = root + "/etc";
  if (::mkdir(etc.c_str(), 0755) < 0) return failSys("mkdir '" + etc + "'");
  for (const char* f : kEtcFiles) {
    std::string src = std::string("/etc/") + f, dst = etc + "/" + f;
    auto link = copySymlink(src, dst);
    if (!link) return fail(link.error());
    if (*link || !sys::exists(src)) continue;
    auto data = sys::readFile(src);
    if (!data) continue;  // unreadable: the instance goes without it
    KUIGA_TRY(writeNew(dst, *data), "copy '" + src + "'");
  }
  for (const char* d : kEtcDirs)
    if (sys::exists(std::string("/etc/") + d))
      KUIGA_TRY(bindReadOnly(std::string("/etc/") + d, etc + "/" + d, true, bound), "etc");
  for (const auto& [name, text] : kEtcMade)
    KUIGA_TRY(writeNew(etc + "/" + name, text), "write etc");
  return {};
}

std::string marker(const std::vector<std::string>& exposed) {
  std::string m = std::string(kLayout) + "\n";
  for (const auto& p : exposed) m += p + "\n";
  return m;
}

}  // namespace

Result<RootSkeleton> RootSkeleton::prepare(const std::string& path,
                                           const std::vector<std::string>& exposed) {
  KUIGA_TRY(sys::makeDirs(path, 0755), "create root skeleton");
  if (sys::isMountPoint(path)) {
    // Left by an earlier worker process: re-used if it is of this layout and exposes the same
    // paths; else replaced.
    if (sys::readFile(path + "/.kuiga-skeleton").value_or("") == marker(exposed))
      return RootSkeleton(path);
    if (::umount2(path.c_str(), MNT_DETACH) < 0) return failSys("replace skeleton '" + path + "'");
  }
  for (const auto& p : exposed)
    if (p.empty() || p[0] != '/' || fs::path(p).lexically_normal() != fs::path(p) || p == "/")
      return failMsg("an exposed path must be absolute and normal, not '" + p + "'");

  // Not nodev: the skeleton's /dev holds the instances' device nodes.
  if (::mount("tmpfs", path.c_str(), "tmpfs", MS_NOSUID, "mode=755,size=4m") < 0)
    return failSys("mount tmpfs at '" + path + "'");
  RootSkeleton sk(path);
  auto undo = [&](Error e) {
    (void)destroy(path);
    return fail(e.context("prepare root skeleton at '" + path + "'"));
  };
  // Private: nothing mounted here reaches the host's peers, and the reverse.
  if (::mount(nullptr, path.c_str(), nullptr, MS_PRIVATE, nullptr) < 0)
    return undo(Error::sys("make private"));

  std::vector<std::string> bound;
  for (const char* name : kSystemDirs) {
    std::string src = std::string("/") + name, dst = path + "/" + name;
    auto link = copySymlink(src, dst);
    if (!link) return undo(link.error());
    if (*link || !sys::exists(src)) continue;
    if (auto r = bindReadOnly(src, dst, true, bound); !r) return undo(r.error());
  }
  if (auto r = makeEtc(path, bound); !r) return undo(r.error());
  for (const char* m : kMountPoints) {
    std::string dst = path + "/" + m;
    if (::mkdir(dst.c_str(), 0755) < 0) return undo(Error::sys("mkdir '" + dst + "'"));
  }
  // /sys without what the host mounts below it (cgroup hierarchies, bpf, tracing), which an
  // instance has no business reading, and every mount is copied into each of thousands of
  // instances (about 0.4 KiB of kernel memory each, and time in every clone).
  if (::mount("/sys", (path + "/sys").c_str(), nullptr, MS_BIND, nullptr) < 0)
    return undo(Error::sys("bind '/sys'"));
  bound.push_back(path + "/sys");
  const std::string var = path + "/var";
  if (::mkdir(var.c_str(), 0755) < 0 || ::symlink("/run/tmp", (path + "/tmp").c_str()) < 0 ||
      ::symlink("/run/tmp", (var + "/tmp").c_str()) < 0 ||
      ::symlink("/run", (var + "/run").c_str()) < 0)
    return undo(Error::sys("make /tmp and /var"));
  if (auto r = makeDev(path); !r) return undo(r.error());
  // What the operator exposes on top (kuiga worker --expose PATH), read-only.
  for (const auto& p : exposed)
    if (auto r = bindReadOnly(p, path + p, true, bound); !r)
      return undo(r.error().context("expose '" + p + "'"));
  if (auto r = writeNew(path + "/.kuiga-skeleton", marker(exposed)); !r) return undo(r.error());
  if (::mount(nullptr, path.c_str(), nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
    return undo(Error::sys("make tree private"));

  // Read-only, recursively, in one call (5.12+); older kernels get each bind.
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
