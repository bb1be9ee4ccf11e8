#include "worker/log_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cstdio>

#include "sys/file.hpp"

namespace kuiga::worker {

std::string formatTimestamp(int64_t ns) {
  time_t sec = static_cast<time_t>(ns / 1000000000);
  struct tm tm {};
  gmtime_r(&sec, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>((ns % 1000000000) / 1000));
  return buf;
}

VoidResult LogWriter::append(std::string_view bytes, int64_t receivedNs) {
  std::string out;
  const std::string stamp = formatTimestamp(receivedNs);
  // A line longer than kMaxLine becomes several, however it arrived (in one read with its
  // newline, or over many).
  auto emit = [&](std::string_view line) {
    do {
      out += stamp;
      out += ' ';
      out.append(line.substr(0, kMaxLine));
      out += '\n';
      line.remove_prefix(std::min(line.size(), kMaxLine));
    } while (!line.empty());
  };
  size_t start = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] != '\n') continue;
    std::string_view piece = bytes.substr(start, i - start);
    if (!partial_.empty()) {
      partial_.append(piece);
      emit(partial_);
      partial_.clear();
    } else {
      emit(piece);
    }
    start = i + 1;
  }
  partial_.append(bytes.substr(start));
  while (partial_.size() >= kMaxLine) {
    emit(std::string_view(partial_).substr(0, kMaxLine));
    partial_.erase(0, kMaxLine);
  }
  if (out.empty()) return {};
  return write(out);
}

VoidResult LogWriter::finish(int64_t receivedNs) {
  if (partial_.empty()) return {};
  std::string out = formatTimestamp(receivedNs) + " " + partial_ + "\n";
  partial_.clear();
  return write(out);
}

VoidResult LogWriter::write(const std::string& formatted) {
  if (size_ && *size_ > 0 && *size_ + formatted.size() > maxBytes_) {
    if (::rename(path_.c_str(), (path_ + ".1").c_str()) < 0)
      return failSys("rotate '" + path_ + "'");
    size_ = 0;
  }
  auto fd = sys::openFile(path_, O_WRONLY | O_CREAT | O_APPEND, 0640);
  if (!fd) return fail(fd.error());
  if (!size_) {
    struct stat st {};
    size_ = ::fstat(fd->get(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    if (*size_ > 0 && *size_ + formatted.size() > maxBytes_) {  // rotate a log left by a restart
      fd->reset();
      if (::rename(path_.c_str(), (path_ + ".1").c_str()) < 0)
        return failSys("rotate '" + path_ + "'");
      size_ = 0;
      fd = sys::openFile(path_, O_WRONLY | O_CREAT | O_APPEND, 0640);
      if (!fd) return fail(fd.error());
    }
  }
  KUIGA_TRY(sys::writeAll(fd->get(), formatted.data(), formatted.size()),
            "write log '" + path_ + "'");
  *size_ += formatted.size();
  return {};
}

}  // namespace kuiga::worker
