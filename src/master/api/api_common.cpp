#include "master/api/api_common.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace kuiga::master::api {

http::Response reply(int status, const json& body) {
  return http::Response::text(status, "application/json",
                              body.dump(-1, ' ', false, json::error_handler_t::replace));
}

http::Response replyError(const ApiError& e) {
  return reply(e.status, {{"error", e.code}, {"message", e.message}});
}

http::Response serverError(int status, const std::string& message) {
  static const std::map<int, std::string> codes = {
      {400, "bad_request"}, {404, "not_found"},   {405, "method_not_allowed"},
      {413, "too_large"},   {503, "unavailable"}, {507, "insufficient_storage"}};
  auto it = codes.find(status);
  return replyError({status, it == codes.end() ? "internal" : it->second, message});
}

std::optional<uint64_t> number(const std::string& s, uint64_t max) {
  if (s.empty() || s.size() > 19 || !std::all_of(s.begin(), s.end(), ::isdigit))
    return std::nullopt;
  uint64_t v = std::stoull(s);
  if (v > max) return std::nullopt;
  return v;
}

ApiResult<uint64_t> queryNumber(const http::Request& req, const std::string& key, uint64_t dflt,
                                uint64_t min, uint64_t max) {
  if (!req.has(key)) return dflt;
  auto v = number(req.arg(key), max);
  if (!v || *v < min)
    return apiFail(ApiError::badRequest(
        fmt::format("'{}' must be a whole number from {} to {}", key, min, max)));
  return *v;
}

ApiResult<RunId> runIdOf(const http::Request& req) {
  auto v = number(req.params.at(0), UINT32_MAX);
  if (!v) return apiFail(ApiError::notFound("no run " + req.params.at(0)));
  return static_cast<RunId>(*v);
}

ApiResult<uint64_t> testIdOf(const http::Request& req) {
  auto id = number(req.params.at(0), UINT32_MAX);
  if (!id) return apiFail(ApiError::badRequest("a test id is a number"));
  return *id;
}

ApiResult<InstanceId> instanceIdOf(const http::Request& req) {
  auto run = runIdOf(req);
  if (!run) return apiFail(run.error());
  auto idx = number(req.params.at(1), UINT32_MAX);
  if (!idx) return apiFail(ApiError::notFound("no instance " + req.params.at(1)));
  return InstanceId{*run, static_cast<uint32_t>(*idx)};
}

ApiResult<json> parseJson(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return apiFail(ApiError::badRequest("the body is not valid JSON"));
  return j;
}

}  // namespace kuiga::master::api
