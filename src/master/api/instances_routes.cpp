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

// The body's "instances": indexes (none when absent; `empty`: an empty list is allowed too).
ApiResult<std::vector<uint32_t>> instanceList(const json& j, bool empty) {
  std::vector<uint32_t> indexes;
  if (!j.contains("instances")) return indexes;
  const auto& a = j["instances"];
  if (!a.is_array() || (!empty && a.empty()) || a.size() > kMaxInstancesPerRun)
    return apiFail(ApiError::badRequest(empty ? "'instances' is an array of instance indexes"
                                              : "'instances' is a non-empty array of indexes"));
  for (const auto& k : a) {
    if (!k.is_number_unsigned() || k.get<uint64_t>() > UINT32_MAX)
      return apiFail(ApiError::badRequest("'instances' holds instance indexes"));
    indexes.push_back(k.get<uint32_t>());
  }
  return indexes;
}

http::Response consoleMany(RunService& m, const http::Request& req) {
  auto id = runIdOf(req);
  if (!id) return replyError(id.error());
  auto j = parseJson(req.body);
  if (!j) return replyError(j.error());
  auto line = consoleLine(*j, R"({"line": "...", "instances": [K, ...], "rate": N})");
  if (!line) return replyError(line.error());
  auto indexes = instanceList(*j, true);
  if (!indexes) return replyError(indexes.error());
  uint32_t rate = 100;
  if (j->contains("rate")) {
    const auto& r = (*j)["rate"];
    if (!r.is_number_unsigned() || r.get<uint64_t>() < 1 || r.get<uint64_t>() > 10000)
      return replyError(ApiError::badRequest("'rate' is 1 to 10000 instances a second"));
    rate = r.get<uint32_t>();
  }
  auto n = m.consoleMany(*id, *line, *indexes, rate);
  if (!n) return replyError(n.error());
  return reply(202, {{"instances", *n}, {"rate", rate}});
}

// {"instances": [K, ...]} (every device of the run when missing), and for a stop "grace_ms".
http::Response churn(RunService& m, const http::Request& req, bool stop) {
  auto id = runIdOf(req);
  if (!id) return replyError(id.error());
  json j = json::object();
  if (!req.body.empty()) {
    auto parsed = parseJson(req.body);
    if (!parsed) return replyError(parsed.error());
    j = std::move(*parsed);
  }
  if (!j.is_object())
    return replyError(ApiError::badRequest(R"(send {"instances": [K, ...], "grace_ms": N})"));
  auto indexes = instanceList(j, false);
  if (!indexes) return replyError(indexes.error());
  uint64_t grace = 5000;
  if (j.contains("grace_ms")) {
    if (!stop) return replyError(ApiError::badRequest("'grace_ms' is for a stop"));
    const auto& g = j["grace_ms"];
    if (!g.is_number_unsigned() || g.get<uint64_t>() > 600000)
      return replyError(ApiError::badRequest("'grace_ms' is 0 to 600000"));
    grace = g.get<uint64_t>();
  }
  auto n = stop ? m.stopInstances(*id, *indexes, std::chrono::milliseconds(grace))
                : m.startInstances(*id, *indexes);
  if (!n) return replyError(n.error());
  return reply(202, {{"instances", *n}});
}

json churnDoc(bool stop) {
  using namespace doc;
  json props = {{"instances", {{"type", "array"}, {"items", {{"type", "integer"}}}}}};
  if (stop) props["grace_ms"] = {{"type", "integer"}};
  return op(stop ? "Stop some devices of a running run (all by default): SIGTERM, then SIGKILL "
                   "after grace_ms (5000)"
                 : "Start devices of a running run again (all by default): a terminated one "
                   "is made anew with its identity, its log appended to",
            with({{"202", ok("accepted", {{"type", "object"}})}}, {400, 404, 409}),
            {{"parameters", {runId()}},
             {"requestBody", jsonBody({{"type", "object"}, {"properties", props}})}});
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
  for (bool stop : {true, false})
    r.push_back({"POST",
                 stop ? "/api/v1/runs/{id}/instances/stop" : "/api/v1/runs/{id}/instances/start",
                 Role::User, Scope::Run, churnDoc(stop),
                 [&m, stop](http::Request& req, const Caller&) { return churn(m, req, stop); },
                 http::Body::Text});
  // One line to many consoles (all of the run's by default), paced.
  r.push_back({"POST", "/api/v1/runs/{id}/console", Role::User, Scope::Run, consoleManyDoc(),
               [&m](http::Request& req, const Caller&) { return consoleMany(m, req); },
               http::Body::Text});
  return r;
}

}  // namespace kuiga::master::api
