#pragma once
// One instance's log: every line of its stdout/stderr with the time the worker received it,
// "2026-11-27T22:33:17.123456Z <line>". Size-capped: past maxBytes the file rotates to
// "<path>.1" (replacing the older one), so a chatty AUT costs at most twice the cap on disk.
// The file is opened for each write and closed again: a worker may hold no more than one file
// descriptor per instance (see ns_instance.hpp).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace kuiga::worker {

class LogWriter {
 public:
  static constexpr size_t kMaxLine = 4096;  // longer output is split into lines of this size

  LogWriter(std::string path, uint64_t maxBytes) : path_(std::move(path)), maxBytes_(maxBytes) {}
  // Appends output bytes; complete lines are written now, a trailing partial line is kept.
  VoidResult append(std::string_view bytes, int64_t receivedNs);
  // Writes a kept partial line (at end of output).
  VoidResult finish(int64_t receivedNs);
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  VoidResult write(const std::string& formatted);
  std::string path_;
  uint64_t maxBytes_;
  std::optional<uint64_t> size_;  // known after the first write
  std::string partial_;
};

std::string formatTimestamp(int64_t realtimeNs);

}  // namespace kuiga::worker
