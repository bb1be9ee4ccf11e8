#pragma once
// The read-only view of the host root that every `ns` instance pivots into. Built once per
// worker: a tmpfs holding a recursive read-only bind of each top-level host directory, plus
// empty mount points (/app, /work, /tmp, /run, /dev, /proc) that each instance fills in its own
// mount namespace. Instances then hold a copy of this small tree instead of the host's whole
// mount table.
#include <string>

#include "common/result.hpp"

namespace kuiga::worker::ns {

class RootSkeleton {
 public:
  // Builds the skeleton at `path`, or re-uses one left there by an earlier process.
  static Result<RootSkeleton> prepare(const std::string& path);
  [[nodiscard]] const std::string& path() const { return path_; }
  // Unmounts the whole tree and removes the mount point; a missing skeleton is success.
  static VoidResult destroy(const std::string& path);

 private:
  explicit RootSkeleton(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace kuiga::worker::ns
