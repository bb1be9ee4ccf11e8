#include "sys/mount.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys/file.hpp"

namespace kuiga::sys {

bool isMountPoint(const std::string& path) {
  struct stat self {
  }, parent{};
  if (::stat(path.c_str(), &self) < 0) return false;
  if (::stat((path + "/..").c_str(), &parent) < 0) return false;
  return self.st_dev != parent.st_dev;
}

VoidResult ensureTmpfs(const std::string& path, const std::string& options) {
  KUIGA_TRY(makeDirs(path, 0700), "tmpfs mount point");
  if (isMountPoint(path)) return {};
  if (::mount("tmpfs", path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options.c_str()) <
      0)
    return failSys("mount tmpfs at '" + path + "'");
  if (::mount(nullptr, path.c_str(), nullptr, MS_PRIVATE, nullptr) < 0)
    return failSys("make '" + path + "' private");
  return {};
}

Result<UniqueFd> detachedTree(const std::string& path) {
  // Through syscall(): glibc 2.36 has open_tree(), older ones do not.
  constexpr unsigned kOpenTreeClone = 1;
  const int fd = static_cast<int>(
      ::syscall(SYS_open_tree, AT_FDCWD, path.c_str(), kOpenTreeClone | O_CLOEXEC));
  if (fd < 0) return failSys("open_tree '" + path + "'");
  return UniqueFd(fd);
}

VoidResult unmountAndRemove(const std::string& path) {
  if (!exists(path)) return {};
  if (isMountPoint(path) && ::umount2(path.c_str(), MNT_DETACH) < 0)
    return failSys("unmount '" + path + "'");
  if (::rmdir(path.c_str()) < 0 && errno != ENOENT) return failSys("remove '" + path + "'");
  return {};
}

}  // namespace kuiga::sys
