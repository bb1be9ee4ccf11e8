#include "worker/uid_pool.hpp"

namespace kuiga::worker {

UidPool::UidPool(uid_t first, uint32_t count) : first_(first), used_(count, false) {}

std::optional<uid_t> UidPool::take() {
  std::lock_guard lock(mu_);
  while (next_ < used_.size() && used_[next_]) ++next_;
  if (next_ == used_.size()) return std::nullopt;
  used_[next_] = true;
  ++inUse_;
  return first_ + static_cast<uid_t>(next_++);
}

bool UidPool::claim(uid_t uid) {
  std::lock_guard lock(mu_);
  if (uid < first_ || uid - first_ >= used_.size() || used_[uid - first_]) return false;
  used_[uid - first_] = true;
  ++inUse_;
  return true;
}

void UidPool::release(uid_t uid) {
  std::lock_guard lock(mu_);
  if (uid < first_ || uid - first_ >= used_.size() || !used_[uid - first_]) return;
  used_[uid - first_] = false;
  --inUse_;
  next_ = std::min<size_t>(next_, uid - first_);
}

size_t UidPool::inUse() const {
  std::lock_guard lock(mu_);
  return inUse_;
}

}  // namespace kuiga::worker
