#include "http/body.hpp"

#include <fcntl.h>
#include <microhttpd.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstring>

#include <fmt/format.h>

namespace kuiga::http {

namespace {

MHD_Result onPart(void* cls, MHD_ValueKind, const char* key, const char* filename, const char*,
                  const char*, const char* data, uint64_t off, size_t size) {
  return static_cast<BodyReader*>(cls)->part(key, filename, data, off, size) ? MHD_YES : MHD_NO;
}

std::optional<uint64_t> contentLength(const Request& req) {
  auto v = req.header("content-length");
  if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoull(v);
}

std::string limitText(uint64_t bytes) {
  return bytes >= (1 << 20) && bytes % (1 << 20) == 0 ? fmt::format("{} MiB", bytes >> 20)
                                                      : fmt::format("{} bytes", bytes);
}

}  // namespace

tl::expected<std::unique_ptr<BodyReader>, HttpError> BodyReader::begin(MHD_Connection* c,
                                                                       Request& req, Body kind,
                                                                       const ServerConfig& config) {
  std::unique_ptr<BodyReader> r(new BodyReader(kind, config));
  const bool isMultipart =
      kind == Body::Multipart && req.header("content-type").rfind("multipart/form-data", 0) == 0;
  // What a body may be, all parts and framing counted: an upload and 1 MiB for the rest.
  const uint64_t limit = isMultipart ? config.maxUpload + config.maxTextBody : config.maxTextBody;
  if (auto n = contentLength(req); n && *n > limit)
    return tl::unexpected(
        HttpError{413, fmt::format("the request body of {} bytes is larger than the limit of {}",
                                   *n, limitText(limit))});
  if (isMultipart) {
    r->post_ = MHD_create_post_processor(c, 64 << 10, &onPart, r.get());
    if (!r->post_) return tl::unexpected(HttpError{400, "the multipart body has no boundary"});
    req.multipart = true;
  }
  return r;
}

BodyReader::~BodyReader() {
  if (post_) MHD_destroy_post_processor(post_);
  if (spoolFd_ >= 0) ::close(spoolFd_);
  if (upload_ && !upload_->path.empty()) ::unlink(upload_->path.c_str());
}

void BodyReader::setError(int status, std::string message) {
  if (!error_) error_ = HttpError{status, std::move(message)};
}

bool BodyReader::feed(const char* data, size_t n) {
  received_ += n;
  // A body that never ends (chunked, so no length was checked) is cut off well past the limits.
  if (received_ > 2 * (config_.maxUpload + config_.maxTextBody)) return false;
  if (error_) return true;
  if (post_) {
    if (MHD_post_process(post_, data, n) != MHD_YES)
      setError(400, "the multipart body is malformed");
    return true;
  }
  if (text_.size() + n > config_.maxTextBody)
    setError(413, fmt::format("a request body is limited to {}", limitText(config_.maxTextBody)));
  else
    text_.append(data, n);
  return true;
}

bool BodyReader::spool(const char* data, size_t size) {
  static std::atomic<uint64_t> seq{0};
  if (spoolFd_ < 0) {
    upload_->path = fmt::format("{}/upload-{}-{}", config_.uploadDir, ::getpid(), seq++);
    spoolFd_ = ::open(upload_->path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (spoolFd_ < 0) {
      int err = errno;
      upload_->path.clear();
      setError(err == ENOSPC || err == EDQUOT ? 507 : 500,
               fmt::format("cannot spool the upload in '{}': {}", config_.uploadDir,
                           std::strerror(err)));
      return false;
    }
  }
  while (size > 0) {
    ssize_t w = ::write(spoolFd_, data, size);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int err = w < 0 ? errno : ENOSPC;
      setError(
          err == ENOSPC || err == EDQUOT ? 507 : 500,
          fmt::format("cannot spool the upload to '{}': {}", upload_->path, std::strerror(err)));
      return false;
    }
    data += w;
    size -= static_cast<size_t>(w);
  }
  return true;
}

bool BodyReader::part(const char* key, const char* filename, const char* data, uint64_t,
                      size_t size) {
  std::string name = key ? key : "";
  if (filename) {
    if (upload_ && upload_->field != name) {
      setError(400, "more than one file part ('" + upload_->field + "' and '" + name + "')");
      return false;
    }
    if (!upload_) upload_ = Upload{name, filename, {}, 0};
    upload_->size += size;
    if (upload_->size > config_.maxUpload) {
      setError(413, fmt::format("the file '{}' is larger than the upload limit of {}",
                                upload_->fileName, limitText(config_.maxUpload)));
      return false;
    }
    return size == 0 || spool(data, size);
  }
  auto& f = fields_[name];
  if (f.size() + size > config_.maxTextBody) {
    setError(413, fmt::format("form field '{}' is larger than {}", name,
                              limitText(config_.maxTextBody)));
    return false;
  }
  f.append(data, size);
  return true;
}

std::optional<HttpError> BodyReader::finish(Request& req) {
  if (post_) {
    if (MHD_destroy_post_processor(post_) != MHD_YES)
      setError(400, "the multipart body is malformed or incomplete");
    post_ = nullptr;
  }
  if (spoolFd_ >= 0) {
    if (::close(spoolFd_) < 0)
      setError(
          errno == ENOSPC || errno == EDQUOT ? 507 : 500,
          fmt::format("cannot spool the upload to '{}': {}", upload_->path, std::strerror(errno)));
    spoolFd_ = -1;
  }
  if (error_) {
    if (upload_ && !upload_->path.empty()) ::unlink(upload_->path.c_str());
    upload_.reset();  // nothing of a refused upload stays behind
    return error_;
  }
  if (kind_ != Body::None) req.body = std::move(text_);
  req.fields = std::move(fields_);
  if (upload_) {
    if (upload_->path.empty() && upload_->size == 0) {  // an empty file: spool nothing
      upload_->path = fmt::format("{}/upload-{}-empty", config_.uploadDir, ::getpid());
      int fd = ::open(upload_->path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd >= 0) ::close(fd);
    }
    req.upload = std::move(upload_);
    upload_.reset();
  }
  return std::nullopt;
}

std::optional<std::string> maybeCompress(const Request& req, const Response& r) {
  if (r.body.size() < 256 || req.header("accept-encoding").find("gzip") == std::string::npos)
    return std::nullopt;
  if (r.type.rfind("application/json", 0) != 0 && r.type.rfind("text/", 0) != 0 &&
      r.type.rfind("application/javascript", 0) != 0)
    return std::nullopt;
  z_stream z{};
  // 15 + 16: a gzip wrapper; level 1: a 1.5 MB listing compresses in a few ms, to about 10%.
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return std::nullopt;
  std::string out(deflateBound(&z, r.body.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(r.body.data()));
  z.avail_in = static_cast<uInt>(r.body.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

}  // namespace kuiga::http
