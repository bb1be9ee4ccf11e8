#pragma once
// What the REST API's route files share (internal to the master): the context handlers use,
// JSON replies and errors, and reading ids and numbers from a request.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/server.hpp"
#include "master/api/route.hpp"
#include "master/http_api.hpp"
#include "master/images.hpp"
#include "master/run_service.hpp"

namespace kuiga::master::api {

using json = nlohmann::json;

class EventHub;
}  // namespace kuiga::master::api

namespace kuiga::master {
class Enrollment;
class TestService;
}  // namespace kuiga::master

namespace kuiga::master::api {

// What the route files make their handlers from. It lives only while the table is made: a
// handler captures the references it holds, never the Context itself.
struct Context {
  RunService& runs;
  ImageService& images;
  const HttpApiConfig& config;
  EventHub& events;
  Gate& gate;
  Enrollment& enrollment;
  TestService& tests;
  const std::string& openapi;  // the document made from the whole table
  // The hash of the cluster CA's public key, which join tokens carry.
  [[nodiscard]] const std::string& joinPin() const { return config.caPin; }
};

http::Response reply(int status, const json& body);
http::Response replyError(const ApiError& e);
// The JSON error body of a status the HTTP server answers itself.
http::Response serverError(int status, const std::string& message);

template <class T, class Fn>
http::Response answer(const ApiResult<T>& r, int okStatus, Fn&& toBody) {
  if (!r) return replyError(r.error());
  return reply(okStatus, toBody(*r));
}

// A path or query number: plain decimal digits, at most `max`.
std::optional<uint64_t> number(const std::string& s, uint64_t max);
// A query number with a default when absent; an error naming the parameter when malformed.
ApiResult<uint64_t> queryNumber(const http::Request& req, const std::string& key, uint64_t dflt,
                                uint64_t min, uint64_t max);
// The run id of /runs/{id}..., and the instance of .../instances/{index}.
ApiResult<RunId> runIdOf(const http::Request& req);
ApiResult<InstanceId> instanceIdOf(const http::Request& req);
// The test id of /tests/{id}...
ApiResult<uint64_t> testIdOf(const http::Request& req);
ApiResult<json> parseJson(const std::string& body);

// Whether a token of role `has` may call a route that needs `needed`.
bool allows(Role needed, Role has);
// The server's route for a table entry: the handler behind the authorization check.
// Who owns what a route's path names (Scope), for the check.
struct Owners {
  RunService& runs;
  ImageService& images;
  TestService& tests;
};
// The route for the HTTP server: the caller from their token or session (Gate), their role,
// their session's CSRF token, and their ownership of what the path names, checked before the
// handler runs.
http::Route authorized(ApiRoute r, Gate& gate, const Owners& owners);
// The same checks, and the handler, for a caller already known (LocalApi).
http::Response authorizedCall(const ApiRoute& r, const Owners& owners, http::Request& req,
                              const Caller& who);
// The multipart body of an upload, for the operations that take one.
json uploadRequestBody();

Routes accessRoutes(Context& c);
Routes imageRoutes(Context& c);
Routes runRoutes(Context& c);
Routes instanceRoutes(Context& c);
Routes logRoutes(Context& c);
Routes radioRoutes(Context& c);
Routes clusterRoutes(Context& c);
Routes workerRoutes(Context& c);
Routes testRoutes(Context& c);

}  // namespace kuiga::master::api
