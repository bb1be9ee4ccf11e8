// The OpenAPI 3.0 description of /api/v1, served at /api/v1/openapi.json: the shared schemas
// are written here, each route's operation sits with its handler in the route table, and the
// document is made from that table (tests check that every route it names answers, and that
// each needs the role it states).
#include <map>

#include "master/api/route.hpp"

namespace kuiga::master::api {

using json = nlohmann::json;

namespace doc {

json ref(const std::string& schema) {
  return {{"$ref", "#/components/schemas/" + schema}};
}

json jsonBody(const json& schema) {
  return {{"content", {{"application/json", {{"schema", schema}}}}}};
}

json ok(const std::string& description, const json& schema) {
  return {{"description", description}, {"content", {{"application/json", {{"schema", schema}}}}}};
}

json raw(const std::string& description) {
  return {{"description", description}};
}

json errors(std::initializer_list<int> codes) {
  json r = json::object();
  for (int c : codes) r[std::to_string(c)] = ok("error", ref("Error"));
  return r;
}

json param(const std::string& name, const std::string& in, const std::string& type, bool required) {
  return {{"name", name}, {"in", in}, {"required", required}, {"schema", {{"type", type}}}};
}

json runId() {
  return param("id", "path", "integer");
}

json instanceIndex() {
  return param("index", "path", "integer");
}

json op(const std::string& summary, json responses, json extra) {
  json o = {{"summary", summary}, {"responses", std::move(responses)}};
  for (auto& [k, v] : extra.items()) o[k] = v;
  return o;
}

json with(json responses, std::initializer_list<int> codes) {
  json e = errors(codes);
  for (auto& [k, v] : e.items()) responses[k] = v;
  return responses;
}

}  // namespace doc

namespace {

using doc::param;
using doc::ref;

json schemas() {
  return {
      {"Error",
       {{"type", "object"},
        {"required", {"error", "message"}},
        {"properties", {{"error", {{"type", "string"}}}, {"message", {{"type", "string"}}}}}}},
      {"RunSpec",
       {{"type", "object"},
        {"required", {"count"}},
        {"properties",
         {{"name", {{"type", "string"}}},
          {"image",
           {{"type", "string"}, {"description", "image digest, unless the AUT is uploaded"}}},
          {"count", {{"type", "integer"}, {"minimum", 1}, {"maximum", 50000}}},
          {"profile", {{"type", "string"}, {"enum", {"linux", "riot-native", "contiki-native"}}}},
          {"executable", {{"type", "string"}}},
          {"args",
           {{"oneOf", {{{"type", "string"}}, {{"type", "array"}, {"items", {{"type", "string"}}}}}},
            {"description",
             "template: {index} {count} {run} {tap} {mac} {ipv4} {ipv6} {start_ms} {period_ms} "
             "{seed}"}}},
          {"net", {{"type", "string"}, {"enum", {"veth", "tap", "tun", "none"}}}},
          {"limits",
           {{"type", "object"},
            {"properties",
             {{"memory_mb", {{"type", "integer"}}},
              {"pids", {{"type", "integer"}}},
              {"cpu_milli", {{"type", "integer"}}}}}}},
          {"policy", {{"type", "string"}, {"enum", {"dirty", "reschedule"}}}},
          {"start_ms", {{"type", "integer"}}},
          {"period_ms", {{"type", "integer"}}},
          {"seed", {{"type", "integer"}}},
          {"radio",
           {{"type", "object"},
            {"description",
             "the way to a base station through the Plexer: UE leases, a shaped medium, an "
             "uplink network namespace"},
            {"required", {"uplink"}},
            {"properties",
             {{"uplink", {{"type", "string"}, {"description", "network namespace (ip netns)"}}},
              {"ues", {{"type", "integer"}, {"minimum", 1}, {"maximum", 50000}}},
              {"idle_timeout_ms", {{"type", "integer"}}},
              {"ue_policy", {{"type", "string"}, {"enum", {"queue", "drop"}}}},
              {"ue_queue", {{"type", "integer"}}},
              {"rate_bps", {{"type", "integer"}}},
              {"delay_ms", {{"type", "number"}}},
              {"loss", {{"type", "number"}, {"minimum", 0}, {"maximum", 1}}},
              {"active_cap", {{"type", "integer"}}},
              {"active_window_ms", {{"type", "integer"}}},
              {"medium_queue", {{"type", "integer"}}},
              {"seed", {{"type", "integer"}}},
              {"ue_ipv4_prefix", {{"type", "string"}}},
              {"ue_ipv6_prefix", {{"type", "string"}}}}}}}}}}},
      {"Run",
       {{"type", "object"},
        {"properties",
         {{"id", {{"type", "integer"}}},
          {"name", {{"type", "string"}}},
          {"state",
           {{"type", "string"},
            {"enum", {"pending", "ready", "running", "stopped", "deleted", "dirty"}}}},
          {"reason", {{"type", "string"}}},
          {"count", {{"type", "integer"}}},
          {"spec", ref("RunSpec")},
          {"counts", {{"type", "object"}, {"additionalProperties", {{"type", "integer"}}}}},
          {"progress", {{"type", "object"}, {"nullable", true}}},
          {"cell",
           {{"type", "object"},
            {"nullable", true},
            {"description",
             "The worker holding the run's one cell (gateway, UE leases, medium, ZEP "
             "dispatcher), which every device of the run reaches over its radio network; "
             "null when the run has no radio, or its workers have no underlay address and "
             "each holds its own. moves: how often it was reopened on another worker."},
            {"properties", {{"worker", {{"type", "string"}}}, {"moves", {{"type", "integer"}}}}}}},
          {"created", {{"type", "string"}}},
          {"updated", {{"type", "string"}}}}}}},
      {"Instance",
       {{"type", "object"},
        {"properties",
         {{"run", {{"type", "integer"}}},
          {"index", {{"type", "integer"}}},
          {"name", {{"type", "string"}}},
          {"worker", {{"type", "string"}}},
          {"state", {{"type", "string"}}},
          {"reason", {{"type", "string"}}},
          {"history", {{"type", "array"}, {"items", {{"type", "object"}}}}}}}}},
      {"Image",
       {{"type", "object"},
        {"properties",
         {{"digest", {{"type", "string"}}},
          {"profile", {{"type", "string"}}},
          {"manifest", {{"type", "object"}}}}}}},
      {"Worker",
       {{"type", "object"},
        {"properties",
         {{"name", {{"type", "string"}}},
          {"role",
           {{"type", "string"},
            {"enum", {"worker", "plexer"}},
            {"description", "a plexer holds runs' cells and takes no instances"}}},
          {"capacity", {{"type", "integer"}}},
          {"load", {{"type", "integer"}}},
          {"online", {{"type", "boolean"}}},
          {"health", {{"type", "string"}}},
          {"zep_unplaceable_datagrams", {{"type", "integer"}}}}}}},
      {"JitterStats",
       {{"type", "object"},
        {"properties",
         {{"samples", {{"type", "integer"}}},
          {"min", {{"type", "number"}}},
          {"p25", {{"type", "number"}}},
          {"p50", {{"type", "number"}}},
          {"p75", {{"type", "number"}}},
          {"p95", {{"type", "number"}}},
          {"p99", {{"type", "number"}}},
          {"max", {{"type", "number"}}},
          {"mean", {{"type", "number"}}}}}}}};
}

}  // namespace

json openApiDocument(const Routes& routes) {
  json paths = json::object();
  for (const auto& r : routes) {
    if (r.doc.is_null()) continue;
    json o = r.doc;
    // Who may call it: the role as an extension, and the bearer scheme unless it is public.
    o["x-kuiga-role"] = toString(r.role);
    if (r.role == Role::Public) o["security"] = json::array();
    std::string method = r.method;
    for (auto& ch : method) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    paths[r.pattern][method] = std::move(o);
  }
  return {{"openapi", "3.0.3"},
          {"info", {{"title", "Kuiga Box API"}, {"version", "1"}}},
          {"security", {{{"bearer", json::array()}}}},
          {"paths", std::move(paths)},
          {"components",
           {{"schemas", schemas()},
            {"securitySchemes",
             {{"bearer",
               {{"type", "http"},
                {"scheme", "bearer"},
                {"description",
                 "a token from `kuiga token create` (or DATA/kuiga.conf); Kuiga Web uses a "
                 "session cookie from POST /api/v1/session instead"}}}}}}}};
}

}  // namespace kuiga::master::api
