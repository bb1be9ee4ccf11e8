#pragma once
// The REST API's route table as data (internal to the master): each route has its method, its
// path pattern, the role it needs, what it is scoped to, its OpenAPI operation and its handler.
// The router, /api/v1/openapi.json, the route labels of /metrics (the pattern) and the
// authorization check are all made from this one table, so a route cannot have one and miss
// another.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/server.hpp"
#include "master/auth/gate.hpp"

namespace kuiga::master::api {

// What a route's path names, which must be the caller's own (unless the caller is an admin):
// another user's run or image is a 404 to them, as if it did not exist.
enum class Scope : uint8_t {
  None,
  Run,    // the first path parameter is a run id
  Image,  // the first path parameter is an image digest
  Test,   // the first path parameter is a test id
};

using Handler = std::function<http::Response(http::Request&, const Caller&)>;

struct ApiRoute {
  std::string method;
  std::string pattern;
  Role role = Role::User;
  Scope scope = Scope::None;
  // The OpenAPI operation object (summary, parameters, responses, ...); null for routes that
  // are not part of the API (Kuiga Web's files).
  nlohmann::json doc;
  Handler handler;
  http::Body body = http::Body::None;
  bool inlined = false;  // cheap and never blocking: run on the event loop, not the pool
};
using Routes = std::vector<ApiRoute>;

// The OpenAPI 3 document of a route table.
nlohmann::json openApiDocument(const Routes& routes);

// Pieces of OpenAPI operations, for the route files.
namespace doc {
using json = nlohmann::json;
json ref(const std::string& schema);
json jsonBody(const json& schema);
json ok(const std::string& description, const json& schema);
// A response without a JSON schema: its description names the media type.
json raw(const std::string& description);
json errors(std::initializer_list<int> codes);
json param(const std::string& name, const std::string& in, const std::string& type,
           bool required = true);
json runId();
json instanceIndex();
// An operation: its summary, its responses, and more fields (parameters, requestBody).
json op(const std::string& summary, json responses, json extra = json::object());
// `responses` with the errors `codes` added.
json with(json responses, std::initializer_list<int> codes);
}  // namespace doc

}  // namespace kuiga::master::api
