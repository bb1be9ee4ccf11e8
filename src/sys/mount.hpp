#pragma once
// Mount helpers.
#include <string>

#include "common/result.hpp"

namespace kuiga::sys {

// True when `path` is the root of a mount (its device differs from its parent's).
bool isMountPoint(const std::string& path);
// Mounts a private tmpfs at `path` (created if missing) unless one is there already.
VoidResult ensureTmpfs(const std::string& path, const std::string& options);
// Lazily unmounts `path` if it is a mount point and removes the directory; missing is success.
VoidResult unmountAndRemove(const std::string& path);

}  // namespace kuiga::sys
