#pragma once
// Mount helpers.
#include <string>

#include "common/result.hpp"
#include "sys/fd.hpp"

namespace kuiga::sys {

// True when `path` is the root of a mount (its device differs from its parent's).
bool isMountPoint(const std::string& path);
// Mounts a private tmpfs at `path` (created if missing) unless one is there already.
VoidResult ensureTmpfs(const std::string& path, const std::string& options);
// Lazily unmounts `path` if it is a mount point and removes the directory; missing is success.
VoidResult unmountAndRemove(const std::string& path);
// A detached copy of the mount at `path` (open_tree(OPEN_TREE_CLONE), not recursive), as a
// bind of it would be, that another mount namespace can take with move_mount(). The descriptor
// is close-on-exec; closing it before that drops the copy.
Result<UniqueFd> detachedTree(const std::string& path);

}  // namespace kuiga::sys
