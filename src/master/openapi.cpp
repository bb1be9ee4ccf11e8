// The OpenAPI 3.0 description of /api/v1, served at /api/v1/openapi.json. Written as JSON here
// (not generated) because it is the contract: tests check that every route it names answers.
#include <nlohmann/json.hpp>

#include "master/http_api.hpp"

namespace kuiga::master {

namespace {

using json = nlohmann::json;

json ref(const std::string& name) {
  return {{"$ref", "#/components/schemas/" + name}};
}

json jsonBody(const json& schema) {
  return {{"content", {{"application/json", {{"schema", schema}}}}}};
}

json ok(const std::string& desc, const json& schema) {
  return {{"description", desc}, {"content", {{"application/json", {{"schema", schema}}}}}};
}

json errors(std::initializer_list<int> codes) {
  json r = json::object();
  for (int c : codes) r[std::to_string(c)] = ok("error", ref("Error"));
  return r;
}

json op(const std::string& summary, json responses, json extra = json::object()) {
  json o = {{"summary", summary}, {"responses", std::move(responses)}};
  for (auto& [k, v] : extra.items()) o[k] = v;
  return o;
}

json merge(json a, const json& b) {
  for (auto& [k, v] : b.items()) a[k] = v;
  return a;
}

json param(const std::string& name, const std::string& in, const std::string& type,
           bool required = true) {
  return {{"name", name}, {"in", in}, {"required", required}, {"schema", {{"type", type}}}};
}

json build() {
  json runId = param("id", "path", "integer");
  json index = param("index", "path", "integer");
  json schemas = {
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
          {"mean", {{"type", "number"}}}}}}},
  };
  json upload = {{"content",
                  {{"multipart/form-data",
                    {{"schema",
                      {{"type", "object"},
                       {"properties",
                        {{"aut", {{"type", "string"}, {"format", "binary"}}},
                         {"spec", {{"type", "string"}, {"description", "RunSpec as JSON"}}},
                         {"profile", {{"type", "string"}}}}}}}}}}}};
  json createBody = upload;
  createBody["content"]["application/json"] = {{"schema", ref("RunSpec")}};
  json text = {{"description", "text"},
               {"content", {{"text/plain", {{"schema", {{"type", "string"}}}}}}}};
  json follow = param("follow", "query", "integer", false);
  json paths = {
      {"/healthz",
       {{"get", op("Liveness: the master answers", {{"200", ok("ok", {{"type", "object"}})}})}}},
      {"/api/v1/openapi.json",
       {{"get", op("This document", {{"200", ok("OpenAPI", {{"type", "object"}})}})}}},
      {"/api/v1/cluster",
       {{"get", op("Where workers connect, free capacity",
                   {{"200", ok("cluster", {{"type", "object"}})}})}}},
      {"/api/v1/images",
       {{"get",
         op("List images", {{"200", ok("images", {{"type", "array"}, {"items", ref("Image")}})}})},
        {"post", op("Upload an AUT and build its image",
                    merge({{"201", ok("image", ref("Image"))}}, errors({400, 413, 507})),
                    {{"requestBody", upload}})}}},
      {"/api/v1/images/{digest}",
       {{"get", op("One image", merge({{"200", ok("image", ref("Image"))}}, errors({404})),
                   {{"parameters", {param("digest", "path", "string")}}})}}},
      {"/api/v1/blobs/{digest}",
       {{"get", op("A blob, for workers",
                   {{"200", {{"description", "bytes"}}}, {"404", ok("error", ref("Error"))}},
                   {{"parameters", {param("digest", "path", "string")}}})}}},
      {"/api/v1/runs",
       {{"get",
         op("A page of runs in id order (deleted runs only with deleted=1)",
            merge(
                {{"200", ok("page", {{"type", "object"},
                                     {"properties",
                                      {{"offset", {{"type", "integer"}}},
                                       {"limit", {{"type", "integer"}}},
                                       {"total", {{"type", "integer"}}},
                                       {"items", {{"type", "array"}, {"items", ref("Run")}}}}}})}},
                errors({400})),
            {{"parameters",
              {param("offset", "query", "integer", false),
               param("limit", "query", "integer", false), param("state", "query", "string", false),
               param("deleted", "query", "integer", false)}}})},
        {"post", op("Create a run (upload + spec, or spec naming an image)",
                    merge({{"201", ok("run", ref("Run"))}}, errors({400, 404, 409, 413, 507})),
                    {{"requestBody", createBody}})}}},
      {"/api/v1/runs/{id}",
       {{"get",
         op("One run with counts per instance state",
            merge({{"200", ok("run", ref("Run"))}}, errors({404})), {{"parameters", {runId}}})},
        {"delete", op("Delete a run and all its instances",
                      merge({{"202", ok("run", ref("Run"))}}, errors({404, 409})),
                      {{"parameters", {runId}}})}}},
      {"/api/v1/runs/{id}/history",
       {{"get",
         op("The run's history: the states it entered (with reasons) and its cell's moves",
            merge({{"200", ok("history",
                              {{"type", "object"},
                               {"properties",
                                {{"run", {{"type", "integer"}}},
                                 {"events",
                                  {{"type", "array"},
                                   {"items",
                                    {{"type", "object"},
                                     {"properties",
                                      {{"time", {{"type", "string"}}},
                                       {"kind", {{"type", "string"}, {"enum", {"state", "cell"}}}},
                                       {"state", {{"type", "string"}}},
                                       {"host", {{"type", "string"}}},
                                       {"detail", {{"type", "string"}}}}}}}}}}}})}},
                  errors({404})),
            {{"parameters", {runId}}})}}},
      {"/api/v1/runs/{id}/start",
       {{"post",
         op("Start a ready run", merge({{"202", ok("run", ref("Run"))}}, errors({404, 409})),
            {{"parameters", {runId}}})}}},
      {"/api/v1/runs/{id}/stop",
       {{"post",
         op("Stop a running run", merge({{"202", ok("run", ref("Run"))}}, errors({404, 409})),
            {{"parameters", {runId}}})}}},
      {"/api/v1/runs/{id}/instances",
       {{"get", op("Instances, by state and page",
                   merge({{"200", ok("page", {{"type", "object"}})}}, errors({400, 404})),
                   {{"parameters",
                     {runId, param("state", "query", "string", false),
                      param("offset", "query", "integer", false),
                      param("limit", "query", "integer", false)}}})}}},
      {"/api/v1/runs/{id}/instances/{index}",
       {{"get", op("One instance with its history",
                   merge({{"200", ok("instance", ref("Instance"))}}, errors({404})),
                   {{"parameters", {runId, index}}})}}},
      {"/api/v1/runs/{id}/instances/{index}/console",
       {{"post",
         op("Write a line to the instance's stdin",
            merge({{"200", ok("sent", {{"type", "object"}})}}, errors({400, 404, 409, 502})),
            {{"parameters", {runId, index}},
             {"requestBody", jsonBody({{"type", "object"},
                                       {"properties", {{"line", {{"type", "string"}}}}}})}})}}},
      {"/api/v1/runs/{id}/console",
       {{"post",
         op("Write a line to many instances' stdin (all running ones by default), paced",
            merge({{"202", ok("accepted", {{"type", "object"}})}}, errors({400, 404, 409})),
            {{"parameters", {runId}},
             {"requestBody",
              jsonBody({{"type", "object"},
                        {"properties",
                         {{"line", {{"type", "string"}}},
                          {"instances", {{"type", "array"}, {"items", {{"type", "integer"}}}}},
                          {"rate", {{"type", "integer"}}}}}})}})}}},
      {"/api/v1/runs/{id}/instances/{index}/logs",
       {{"get", op("The instance's log", merge({{"200", text}}, errors({404, 502})),
                   {{"parameters", {runId, index, follow}}})}}},
      {"/api/v1/runs/{id}/logs",
       {{"get", op("Every instance's log, merged by time; format=tar.gz: a tar.gz of one file "
                   "per instance",
                   merge({{"200", text}}, errors({400, 404})),
                   {{"parameters", {runId, follow, param("format", "query", "string", false)}}})}}},
      {"/api/v1/runs/{id}/pcap",
       {{"get",
         op("Every frame of the run's devices as pcapng, one interface per device",
            merge({{"200", {{"description", "application/vnd.tcpdump.pcap"}}}}, errors({404, 502})),
            {{"parameters", {runId, param("instance", "query", "integer", false)}}})}}},
      {"/api/v1/runs/{id}/radio",
       {{"get",
         op("What the Plexer counted: per device the capture (sent, delivered, missed) and the "
            "forwarding path (to the base station, forwarded, back, dropped by cause); per "
            "worker the run's cell (UEs, leases, queue, airtime)",
            merge({{"200", ok("radio", {{"type", "object"}})}}, errors({404})),
            {{"parameters", {runId}}})}}},
      {"/metrics",
       {{"get", op("Prometheus metrics (text format 0.0.4): runs, instances, workers, latencies",
                   {{"200", {{"description", "text/plain; version=0.0.4"}}}})}}},
      {"/api/v1/runs/{id}/radio/leases",
       {{"get", op("The run's UE lease log, one line per grant or release: "
                   "\"TIME grant|release ue=K device=run-R/dev-NNNN\"",
                   merge({{"200", {{"description", "text/plain"}}}}, errors({404, 502})),
                   {{"parameters", {runId}}})}}},
      {"/api/v1/runs/{id}/jitter",
       {{"get", op("Deadline jitter (report Eq. 5.1)",
                   merge({{"200", ok("jitter",
                                     {{"type", "object"},
                                      {"properties",
                                       {{"run", ref("JitterStats")},
                                        {"instances",
                                         {{"type", "array"}, {"items", ref("JitterStats")}}}}}})}},
                         errors({400, 404, 502})),
                   {{"parameters", {runId}}})}}},
      {"/api/v1/workers",
       {{"get", op("Workers with capacity and health",
                   {{"200", ok("workers", {{"type", "array"}, {"items", ref("Worker")}})}})}}},
      {"/api/v1/events",
       {{"get", op("Server-sent events: run and instance state changes",
                   {{"200", {{"description", "text/event-stream"}}}})}}},
  };
  return {{"openapi", "3.0.3"},
          {"info", {{"title", "Kuiga Box API"}, {"version", "1"}}},
          {"paths", paths},
          {"components", {{"schemas", schemas}}}};
}

}  // namespace

const std::string& openApiDocument() {
  static const std::string doc = build().dump(2);
  return doc;
}

}  // namespace kuiga::master
