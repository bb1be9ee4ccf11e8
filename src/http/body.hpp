#pragma once
// Server internals: reading a request's body within its limits (text, or multipart with a file
// part spooled to disk), and compressing what goes back.
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include <tl/expected.hpp>

#include "http/server.hpp"

struct MHD_Connection;
struct MHD_PostProcessor;

namespace kuiga::http {

struct HttpError {
  int status = 400;
  std::string message;
};

class BodyReader {
 public:
  // Checks what the headers announce (Content-Length against the limits) and prepares to read.
  static tl::expected<std::unique_ptr<BodyReader>, HttpError> begin(MHD_Connection* c, Request& req,
                                                                    Body kind,
                                                                    const ServerConfig& config);
  ~BodyReader();
  // Takes the next bytes. Past a limit the rest is read and dropped (the answer comes at the
  // end) unless it runs far past every limit: false then, and the connection is dropped.
  bool feed(const char* data, size_t n);
  // The body is complete: hands fields, text and the upload to `req`, or says what was wrong.
  std::optional<HttpError> finish(Request& req);

  // The multipart parser's callback, one part's piece at a time.
  bool part(const char* key, const char* filename, const char* data, uint64_t off, size_t size);

 private:
  BodyReader(Body kind, const ServerConfig& config) : kind_(kind), config_(config) {}
  void setError(int status, std::string message);
  bool spool(const char* data, size_t size);

  Body kind_;
  const ServerConfig& config_;
  MHD_PostProcessor* post_ = nullptr;
  uint64_t received_ = 0;
  std::string text_;
  std::map<std::string, std::string> fields_;
  std::optional<Upload> upload_;
  int spoolFd_ = -1;
  std::optional<HttpError> error_;
};

// The body gzip-compressed, when it is large, compressible and the client accepts gzip.
std::optional<std::string> maybeCompress(const Request& req, const Response& r);

}  // namespace kuiga::http
