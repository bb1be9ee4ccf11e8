#pragma once
// The uids a worker gives its live instances, one each: no two live instances on a worker
// share a uid, so per-uid kernel limits (inotify instances, RLIMIT_NPROC, message queues) and
// permissions never join two devices, of one run or of two. A uid is recycled once its
// instance is removed; a restarted worker marks the uids of the instances it re-adopts.
#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace kuiga::worker {

class UidPool {
 public:
  UidPool(uid_t first, uint32_t count);
  // The lowest free uid, or nullopt when every one is taken.
  std::optional<uid_t> take();
  // Marks `uid` taken (a re-adopted instance's); false if it is out of range or taken already.
  bool claim(uid_t uid);
  void release(uid_t uid);
  [[nodiscard]] uid_t first() const { return first_; }
  [[nodiscard]] uint32_t count() const { return static_cast<uint32_t>(used_.size()); }
  [[nodiscard]] size_t inUse() const;

 private:
  uid_t first_;
  mutable std::mutex mu_;
  std::vector<bool> used_;
  size_t next_ = 0;  // no free uid below it
  size_t inUse_ = 0;
};

}  // namespace kuiga::worker
