#pragma once
// The read-only root that every `ns` instance pivots into, built once per worker: a tmpfs
// holding an allowlist of the host (read-only binds of /usr and the /lib*, /bin, /sbin a
// dynamically linked ELF needs, a minimal /etc, a shallow /sys), plus empty mount points (/app,
// /work, /run, /proc) that each instance fills in its own mount namespace. Nothing else of the
// host is there: no home directories, /root, /var, /srv, /opt, nor any data or state directory,
// whatever their modes. Instances hold a copy of this small tree instead of the host's whole
// mount table.
#include <string>
#include <vector>

#include "common/result.hpp"

namespace kuiga::worker::ns {

class RootSkeleton {
 public:
  // Builds the skeleton at `path`, or re-uses one left there by an earlier process of the same
  // layout. `exposed`: host paths an operator adds, bound read-only at the same place.
  static Result<RootSkeleton> prepare(const std::string& path,
                                      const std::vector<std::string>& exposed = {});
  [[nodiscard]] const std::string& path() const { return path_; }
  // Unmounts the whole tree and removes the mount point; a missing skeleton is success.
  static VoidResult destroy(const std::string& path);

 private:
  explicit RootSkeleton(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace kuiga::worker::ns
