#pragma once
// parallelFor: run fn(i) for i in [0, n) on `threads` threads, each taking the next index.
// Bulk operations on thousands of instances are syscall-bound, so a few threads per core pay.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace kuiga {

template <class Fn>
void parallelFor(size_t n, unsigned threads, Fn&& fn) {
  if (n == 0) return;
  threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(n)));
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) fn(i);
  };
  std::vector<std::jthread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
}

inline unsigned defaultThreads() {
  return std::max(2u, std::thread::hardware_concurrency() * 2);
}

}  // namespace kuiga
