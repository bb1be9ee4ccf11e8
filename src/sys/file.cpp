#include "sys/file.hpp"

#include <cstdio>

#include <fstream>

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace kuiga::sys {

Result<UniqueFd> openFile(const std::string& path, int flags, int mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return failSys("open '" + path + "'");
  return UniqueFd(fd);
}

Result<std::string> readFile(const std::string& path, uint64_t from) {
  auto fd = openFile(path, O_RDONLY);
  if (!fd) return fail(fd.error());
  if (from > 0 && ::lseek(fd->get(), static_cast<off_t>(from), SEEK_SET) < 0)
    return failSys("seek '" + path + "'");
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return failSys("read '" + path + "'");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

VoidResult writeAll(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return failSys("write");
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return {};
}

VoidResult writeFile(const std::string& path, const std::string& data) {
  auto fd = openFile(path, O_WRONLY);
  if (!fd) return fail(fd.error());
  ssize_t n = ::write(fd->get(), data.data(), data.size());
  if (n < 0) return failSys("write '" + data + "' to '" + path + "'");
  if (static_cast<size_t>(n) != data.size()) return failMsg("short write to '" + path + "'");
  return {};
}

VoidResult makeDirs(const std::string& path, int mode) {
  if (path.empty()) return {};
  size_t pos = 0;
  do {
    pos = path.find('/', pos + 1);
    std::string part = path.substr(0, pos);
    if (::mkdir(part.c_str(), static_cast<mode_t>(mode)) < 0 && errno != EEXIST)
      return failSys("mkdir '" + part + "'");
  } while (pos != std::string::npos);
  return {};
}

VoidResult makePrivateDir(const std::string& path) {
  if (path.empty()) return failMsg("no directory given");
  struct stat st {};
  if (::stat(path.c_str(), &st) < 0) {
    if (errno != ENOENT) return failSys("stat '" + path + "'");
    auto slash = path.find_last_of('/');
    if (slash != std::string::npos && slash > 0)
      KUIGA_TRY(makeDirs(path.substr(0, slash)), "mkdir");
    if (::mkdir(path.c_str(), 0700) < 0 && errno != EEXIST) return failSys("mkdir '" + path + "'");
    if (::stat(path.c_str(), &st) < 0) return failSys("stat '" + path + "'");
  }
  if (!S_ISDIR(st.st_mode)) return failMsg("'" + path + "' is not a directory");
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return failMsg("'" + path + "' may be read by others (mode " + mode + "): chmod 700 it, or " +
                   "choose a directory of your own");
  }
  return {};
}

static VoidResult removeAt(int dirfd, const char* name, dev_t dev) {
  struct stat st {};
  if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? VoidResult{} : failSys(std::string("stat '") + name + "'");
  if (S_ISDIR(st.st_mode)) {
    if (st.st_dev != dev) return failMsg(std::string("'") + name + "' is on another mount");
    int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return failSys(std::string("open '") + name + "'");
    DIR* d = ::fdopendir(fd);
    if (!d) {
      ::close(fd);
      return failSys("fdopendir");
    }
    VoidResult r;
    while (auto* e = ::readdir(d)) {
      if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
      auto sub = removeAt(fd, e->d_name, dev);
      if (!sub && r) r = sub;
    }
    ::closedir(d);
    if (!r) return r;
    if (::unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
      return failSys(std::string("rmdir '") + name + "'");
    return {};
  }
  if (::unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
    return failSys(std::string("unlink '") + name + "'");
  return {};
}

VoidResult removeTree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) < 0)
    return errno == ENOENT ? VoidResult{} : failSys("stat '" + path + "'");
  auto r = removeAt(AT_FDCWD, path.c_str(), st.st_dev);
  if (!r) return fail(r.error().context("remove '" + path + "'"));
  return {};
}

bool exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

VoidResult raiseFileLimit(unsigned long want) {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) < 0) return failSys("getrlimit");
  if (rl.rlim_cur >= want) return {};
  unsigned long nrOpen = want;
  if (auto s = readFile("/proc/sys/fs/nr_open")) nrOpen = std::stoul(*s);
  rlim_t target = std::min<rlim_t>(want, nrOpen);
  struct rlimit next {
    target, std::max<rlim_t>(rl.rlim_max, target)
  };
  if (::setrlimit(RLIMIT_NOFILE, &next) < 0) {
    next = {rl.rlim_max, rl.rlim_max};  // unprivileged: as far as the hard limit goes
    if (::setrlimit(RLIMIT_NOFILE, &next) < 0) return failSys("setrlimit(NOFILE)");
  }
  return {};
}

Result<std::pair<std::string, uint64_t>> readConcatenated(
    const std::vector<std::pair<std::string, uint64_t>>& files, uint64_t offset, uint64_t max) {
  std::string out;
  uint64_t pos = 0;
  for (const auto& [path, size] : files) {
    if (offset < pos + size && out.size() < max) {
      std::ifstream in(path, std::ios::binary);
      if (!in) return failSys("open '" + path + "'");
      uint64_t from = offset > pos ? offset - pos : 0;
      uint64_t n = std::min<uint64_t>(size - from, max - out.size());
      in.seekg(static_cast<std::streamoff>(from));
      std::string buf(n, '\0');
      in.read(buf.data(), static_cast<std::streamsize>(n));
      buf.resize(static_cast<size_t>(in.gcount()));
      out += buf;
      offset = pos + from + buf.size();
    }
    pos += size;
  }
  return std::make_pair(std::move(out), std::min(offset, pos));
}

VoidResult replaceFile(const std::string& path, const std::string& data, int mode) {
  KUIGA_TRY(makeDirs(std::filesystem::path(path).parent_path()), "save " + path);
  std::error_code ec;  // a .tmp left by a crash would keep its old mode
  std::filesystem::remove(path + ".tmp", ec);
  auto fd = openFile(path + ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (!fd) return fail(fd.error());
  KUIGA_TRY(writeAll(fd->get(), data.data(), data.size()), "save " + path);
  if (::fsync(fd->get()) < 0 || ::rename((path + ".tmp").c_str(), path.c_str()) < 0)
    return failSys("save " + path);
  return {};
}

}  // namespace kuiga::sys
