// Instances of a run: the paged listing, one instance with its history, and consoles.
#include <fmt/format.h>

#include "master/api/api_common.hpp"
#include "master/views.hpp"

namespace kuiga::master::api {

namespace {

// {"line": "..."}: one line, no newline, at most 4096 bytes.
ApiResult<std::string> consoleLine(const json& j, const char* usage) {
  if (!j.is_object() || !j.contains("line") || !j["line"].is_string())
    return apiFail(ApiError::badRequest(std::string("send ") + usage));
  std::string line = j["line"];
  if (line.find('\n') != std::string::npos || line.size() > 4096)
    return apiFail(ApiError::badRequest("'line' is one line of at most 4096 bytes"));
  return line;
}

http::Response consoleMany(RunService& m, const http::Request& req) {
  auto id = runIdOf(req);
  if (!id) return replyError(id.error());
  auto j = parseJson(req.body);
  if (!j) return replyError(j.error());
  auto line = consoleLine(*j, R"({"line": "...", "instances": [K, ...], "rate": N})");
  if (!line) return replyError(line.error());
  std::vector<uint32_t> indexes;
  if (j->contains("instances")) {
    const auto& a = (*j)["instances"];
    if (!a.is_array() || a.size() > kMaxInstancesPerRun)
      return replyError(ApiError::badRequest("'instances' is an array of instance indexes"));
    for (const auto& k : a) {
      if (!k.is_number_unsigned() || k.get<uint64_t>() > UINT32_MAX)
        return replyError(ApiError::badRequest("'instances' holds instance indexes"));
      indexes.push_back(k.get<uint32_t>());
    }
  }
  uint32_t rate = 100;
  if (j->contains("rate")) {
    const auto& r = (*j)["rate"];
    if (!r.is_number_unsigned() || r.get<uint64_t>() < 1 || r.get<uint64_t>() > 10000)
      return replyError(ApiError::badRequest("'rate' is 1 to 10000 instances a second"));
    rate = r.get<uint32_t>();
  }
  auto n = m.consoleMany(*id, *line, indexes, rate);
  if (!n) return replyError(n.error());
  return reply(202, {{"instances", *n}, {"rate", rate}});
}

http::Response listInstances(RunService& m, const http::Request& req) {
  auto id = runIdOf(req);
  if (!id) return replyError(id.error());
  auto offset = queryNumber(req, "offset", 0, 0, UINT32_MAX);
  auto limit = queryNumber(req, "limit", 1000, 1, 10000);
  if (!offset || !limit)
    return replyError(ApiError::badRequest("'offset' must be 0 or more and 'limit' 1 to 10000"));
  auto list = m.instances(*id, req.arg("state"), static_cast<uint32_t>(*offset),
                          static_cast<uint32_t>(*limit));
  return answer(list, 200, [&](const std::vector<InstanceRecord>& v) {
    json items = json::array();
    for (const auto& i : v) items.push_back(toJson(i));
    return json{{"offset", *offset}, {"limit", *limit}, {"items", items}};
  });
}

http::Response consoleOne(RunService& m, const http::Request& req) {
  auto id = instanceIdOf(req);
  if (!id) return replyError(id.error());
  auto j = parseJson(req.body);
  if (!j) return replyError(j.error());
  auto line = consoleLine(*j, R"({"line": "..."})");
  if (!line) return replyError(line.error());
  if (auto sent = m.console(*id, *line); !sent) return replyError(sent.error());
  return reply(200, {{"sent", true}});
}

json consoleManyDoc() {
  using namespace doc;
  json body = {{"type", "object"},
               {"properties",
                {{"line", {{"type", "string"}}},
                 {"instances", {{"type", "array"}, {"items", {{"type", "integer"}}}}},
                 {"rate", {{"type", "integer"}}}}}};
  return op("Write a line to many instances' stdin (all running ones by default), paced",
            with({{"202", ok("accepted", {{"type", "object"}})}}, {400, 404, 409}),
            {{"parameters", {runId()}}, {"requestBody", jsonBody(body)}});
}

}  // namespace

Routes instanceRoutes(Context& c) {
  using namespace doc;
  RunService& m = c.runs;
  Routes r;
  r.push_back({"GET", "/api/v1/runs/{id}/instances", Role::User, Scope::Run,
               op("Instances, by state and page",
                  with({{"200", ok("page", {{"type", "object"}})}}, {400, 404}),
                  {{"parameters",
                    {runId(), param("state", "query", "string", false),
                     param("offset", "query", "integer", false),
                     param("limit", "query", "integer", false)}}}),
               [&m](http::Request& req, const Caller&) { return listInstances(m, req); }});
  r.push_back(
      {"GET", "/api/v1/runs/{id}/instances/{index}", Role::User, Scope::Run,
       op("One instance with its history", with({{"200", ok("instance", ref("Instance"))}}, {404}),
          {{"parameters", {runId(), instanceIndex()}}}),
       [&m](http::Request& req, const Caller&) {
         auto id = instanceIdOf(req);
         if (!id) return replyError(id.error());
         return answer(m.instance(*id), 200, [](const json& j) { return j; });
       }});
  r.push_back(
      {"POST", "/api/v1/runs/{id}/instances/{index}/console", Role::User, Scope::Run,
       op("Write a line to the instance's stdin",
          with({{"200", ok("sent", {{"type", "object"}})}}, {400, 404, 409, 502}),
          {{"parameters", {runId(), instanceIndex()}},
           {"requestBody",
            jsonBody({{"type", "object"}, {"properties", {{"line", {{"type", "string"}}}}}})}}),
       [&m](http::Request& req, const Caller&) { return consoleOne(m, req); }, http::Body::Text});
  // One line to many consoles (all of the run's by default), paced.
  r.push_back({"POST", "/api/v1/runs/{id}/console", Role::User, Scope::Run, consoleManyDoc(),
               [&m](http::Request& req, const Caller&) { return consoleMany(m, req); },
               http::Body::Text});
  return r;
}

}  // namespace kuiga::master::api
