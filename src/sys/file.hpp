#pragma once
// Small whole-file helpers for /proc, /sys and cgroup control files.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "sys/fd.hpp"

namespace kuiga::sys {

Result<UniqueFd> openFile(const std::string& path, int flags, int mode = 0644);
// From byte `from` on (0: the whole file).
Result<std::string> readFile(const std::string& path, uint64_t from = 0);
// Writes the whole string with one write(2), as control files require.
VoidResult writeFile(const std::string& path, const std::string& data);
VoidResult writeAll(int fd, const void* data, size_t len);
// Writes `path` whole or not at all: into "path.tmp", fsync, then rename over `path`
// (creating its directory). A crash leaves the old file or the new one, and maybe a .tmp.
// `mode` applies to a new file (0600 for keys and tokens).
VoidResult replaceFile(const std::string& path, const std::string& data, int mode = 0644);
VoidResult makeDirs(const std::string& path, int mode = 0755);
// A directory only its owner may enter: made (with its parents) as 0700, or refused when it
// exists and its group or others have any access to it, naming its mode.
VoidResult makePrivateDir(const std::string& path);
// rm -rf that does not cross into other mounts; a missing path is success.
VoidResult removeTree(const std::string& path);
bool exists(const std::string& path);
// Reads up to `max` bytes at `offset` of the concatenation of `files` ({path, size}, sizes as
// of a snapshot: bytes appended since are not read). Returns the bytes and the offset after
// them, which is at most the total size.
Result<std::pair<std::string, uint64_t>> readConcatenated(
    const std::vector<std::pair<std::string, uint64_t>>& files, uint64_t offset, uint64_t max);
// Raise RLIMIT_NOFILE to `want` (root may raise the hard limit up to fs.nr_open).
VoidResult raiseFileLimit(unsigned long want);

}  // namespace kuiga::sys
