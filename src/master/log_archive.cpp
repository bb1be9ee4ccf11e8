#include "master/log_archive.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <fmt/format.h>

namespace kuiga::master {

Result<std::unique_ptr<LogArchive>> LogArchive::open() {
  std::unique_ptr<LogArchive> la(new LogArchive());
  la->a_ = archive_write_new();
  if (!la->a_) return failMsg("libarchive: out of memory");
  auto write = [](archive*, void* self, const void* buf, size_t n) -> la_ssize_t {
    static_cast<LogArchive*>(self)->out_.append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  // No block padding of the output: each piece goes out as soon as the compressor yields it.
  if (archive_write_add_filter_gzip(la->a_) != ARCHIVE_OK ||
      archive_write_set_format_pax_restricted(la->a_) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(la->a_, 0) != ARCHIVE_OK ||
      archive_write_open2(la->a_, la.get(), nullptr, write, nullptr, nullptr) != ARCHIVE_OK)
    return failMsg(fmt::format("libarchive: {}", archive_error_string(la->a_)));
  return la;
}

LogArchive::~LogArchive() {
  if (a_) archive_write_free(a_);  // closes it too, if finish() was not called
}

VoidResult LogArchive::add(const std::string& path, const std::string& data, int64_t mtimeSeconds) {
  archive_entry* e = archive_entry_new();
  if (!e) return failMsg("libarchive: out of memory");
  archive_entry_set_pathname(e, path.c_str());
  archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_mtime(e, static_cast<time_t>(mtimeSeconds), 0);
  bool ok = archive_write_header(a_, e) == ARCHIVE_OK &&
            (data.empty() || archive_write_data(a_, data.data(), data.size()) ==
                                 static_cast<la_ssize_t>(data.size()));
  archive_entry_free(e);
  if (!ok) return failMsg(fmt::format("libarchive: {}: {}", path, archive_error_string(a_)));
  return {};
}

VoidResult LogArchive::finish() {
  if (finished_) return {};
  finished_ = true;
  if (archive_write_close(a_) != ARCHIVE_OK)
    return failMsg(fmt::format("libarchive: {}", archive_error_string(a_)));
  return {};
}

std::string LogArchive::take() {
  std::string s;
  s.swap(out_);
  return s;
}

}  // namespace kuiga::master
