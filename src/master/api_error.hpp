#pragma once
// Errors the API answers with: an HTTP status, a stable code for scripts and a message for
// people, as JSON {"error": CODE, "message": TEXT}.
#include <string>

#include <tl/expected.hpp>

namespace kuiga::master {

struct ApiError {
  int status = 500;
  std::string code = "internal";
  std::string message;

  static ApiError badRequest(std::string m) { return {400, "bad_request", std::move(m)}; }
  static ApiError notFound(std::string m) { return {404, "not_found", std::move(m)}; }
  static ApiError conflict(std::string m) { return {409, "conflict", std::move(m)}; }
  static ApiError internal(std::string m) { return {500, "internal", std::move(m)}; }
};

template <class T>
using ApiResult = tl::expected<T, ApiError>;

inline tl::unexpected<ApiError> apiFail(ApiError e) {
  return tl::unexpected<ApiError>(std::move(e));
}

}  // namespace kuiga::master
