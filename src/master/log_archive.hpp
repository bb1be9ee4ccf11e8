#pragma once
// A gzip-compressed tar archive written piece by piece into memory, through libarchive: the
// run's logs download (`GET /runs/{id}/logs?format=tar.gz`) streams it out as it grows.
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.hpp"

struct archive;

namespace kuiga::master {

class LogArchive {
 public:
  static Result<std::unique_ptr<LogArchive>> open();
  ~LogArchive();
  LogArchive(const LogArchive&) = delete;
  LogArchive& operator=(const LogArchive&) = delete;

  // Adds a regular file (mode 0644) named `path` holding `data`.
  VoidResult add(const std::string& path, const std::string& data, int64_t mtimeSeconds);
  // Ends the archive (the gzip trailer and tar's end blocks are written to the output).
  VoidResult finish();
  // The compressed bytes written since the last call.
  std::string take();

 private:
  LogArchive() = default;
  archive* a_ = nullptr;
  std::string out_;
  bool finished_ = false;
};

}  // namespace kuiga::master
