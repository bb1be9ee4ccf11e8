// The cluster and the master itself: Kuiga Web's files, the OpenAPI document, health, /metrics
// and the event stream.
#include <fmt/format.h>

#include "master/api/api_common.hpp"
#include "master/api/event_hub.hpp"
#include "master/views.hpp"
#include "web/web_assets.hpp"

namespace kuiga::master::api {

namespace {

using namespace doc;

// Kuiga Web: its files, compiled in, cached by the browser until they change. They are public:
// they hold no data (the repository has them), and the page without a session is its login.
void webAssets(Routes& r) {
  for (const auto& a : web::assets()) {
    std::string etag = fmt::format("\"{:016x}\"", std::hash<std::string_view>{}(a.data));
    r.push_back({"GET", std::string(a.path), Role::Public, Scope::None, nullptr,
                 [&a, etag](http::Request& req, const Caller&) {
                   http::Response res;
                   res.headers = {{"ETag", etag}, {"Cache-Control", "no-cache"}};
                   res.type = std::string(a.contentType);
                   if (req.header("if-none-match") == etag) {
                     res.status = 304;
                     return res;
                   }
                   res.body = std::string(a.data);
                   return res;
                 },
                 http::Body::None, true});
  }
}

json object() {
  return {{"type", "object"}};
}

}  // namespace

Routes clusterRoutes(Context& c) {
  RunService& m = c.runs;
  const HttpApiConfig& cfg = c.config;
  EventHub& hub = c.events;
  const std::string& openapi = c.openapi;
  Routes r;
  webAssets(r);
  r.push_back({"GET", "/healthz", Role::Public, Scope::None,
               op("Liveness: the master answers", {{"200", ok("ok", object())}}),
               [](http::Request&, const Caller&) {
                 return reply(200, {{"ok", true}});
               },
               http::Body::None, true});
  r.push_back({"GET", "/api/v1/openapi.json", Role::User, Scope::None,
               op("This document", {{"200", ok("OpenAPI", object())}}),
               [&openapi](http::Request&, const Caller&) {
                 return http::Response::text(200, "application/json", openapi);
               },
               http::Body::None, true});
  r.push_back({"GET", "/api/v1/cluster", Role::User, Scope::None,
               op("The cluster: its id, free capacity, the upload limit",
                  {{"200", ok("cluster", object())}}),
               [&m, &cfg](http::Request&, const Caller&) {
                 return reply(200, {{"rpc_port", cfg.rpcPort},
                                    {"cluster_id", m.clusterId()},
                                    {"free_capacity", m.freeCapacity()},
                                    {"max_upload_bytes", cfg.maxUploadBytes}});
               }});
  r.push_back({"GET", "/metrics", Role::Metrics, Scope::None,
               op("Prometheus metrics (text format 0.0.4): runs, instances, workers, latencies",
                  {{"200", raw("text/plain; version=0.0.4")}}),
               [&m](http::Request&, const Caller&) {
                 return http::Response::text(200, "text/plain; version=0.0.4; charset=utf-8",
                                             m.metricsText());
               }});
  // Server-sent events: run views and batches of instance state changes, for any number of
  // clients on the event loop (no thread each); a user hears of their own runs only.
  r.push_back({"GET", "/api/v1/events", Role::User, Scope::None,
               op("Server-sent events: run and instance state changes (of the caller's runs)",
                  {{"200", raw("text/event-stream")}}),
               [&hub](http::Request&, const Caller& who) {
                 http::Response res;
                 res.type = "text/event-stream";
                 res.headers = {{"Cache-Control", "no-cache"}};
                 res.source = hub.open(std::chrono::seconds(15), who.ownerFilter());
                 return res;
               },
               http::Body::None, true});
  return r;
}

}  // namespace kuiga::master::api
