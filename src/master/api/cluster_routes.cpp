// The cluster and the master itself: Kuiga Web's files, the OpenAPI document, health, the
// workers, /metrics and the event stream.
#include <fmt/format.h>

#include "master/api/api_common.hpp"
#include "master/api/event_hub.hpp"
#include "master/views.hpp"
#include "web/web_assets.hpp"

namespace kuiga::master::api {

Routes clusterRoutes(Context& c) {
  Master& m = c.master;
  const HttpApiConfig& cfg = c.config;
  EventHub& hub = c.events;
  Routes r;
  // Kuiga Web: its three files, compiled in, cached by the browser until they change.
  for (const auto& a : web::assets()) {
    std::string etag = fmt::format("\"{:016x}\"", std::hash<std::string_view>{}(a.data));
    r.push_back({"GET", std::string(a.path),
                 [&a, etag](http::Request& req) {
                   http::Response res;
                   res.headers = {{"ETag", etag}, {"Cache-Control", "no-cache"}};
                   if (req.header("if-none-match") == etag) {
                     res.status = 304;
                     res.type = std::string(a.contentType);
                     return res;
                   }
                   res.type = std::string(a.contentType);
                   res.body = std::string(a.data);
                   return res;
                 },
                 http::Body::None, true});
  }
  r.push_back({"GET", "/healthz",
               [](http::Request&) {
                 return reply(200, {{"ok", true}});
               },
               http::Body::None, true});
  r.push_back({"GET", "/api/v1/openapi.json",
               [](http::Request&) {
                 return http::Response::text(200, "application/json", openApiDocument());
               },
               http::Body::None, true});
  r.push_back({"GET", "/api/v1/cluster", [&m, &cfg](http::Request&) {
                 return reply(200, {{"rpc_port", cfg.rpcPort},
                                    {"cluster_id", m.clusterId()},
                                    {"free_capacity", m.freeCapacity()},
                                    {"max_upload_bytes", cfg.maxUploadBytes}});
               }});
  r.push_back({"GET", "/api/v1/workers", [&m](http::Request&) {
                 return answer(m.workers(), 200, [](const std::vector<WorkerView>& v) {
                   json a = json::array();
                   for (const auto& w : v) a.push_back(toJson(w));
                   return a;
                 });
               }});
  r.push_back({"GET", "/metrics", [&m](http::Request&) {
                 return http::Response::text(200, "text/plain; version=0.0.4; charset=utf-8",
                                             m.metricsText());
               }});
  // Server-sent events: run views and batches of instance state changes, for any number of
  // clients on the event loop (no thread each).
  r.push_back({"GET", "/api/v1/events",
               [&hub](http::Request&) {
                 http::Response res;
                 res.type = "text/event-stream";
                 res.headers = {{"Cache-Control", "no-cache"}};
                 res.source = hub.open(std::chrono::seconds(15));
                 return res;
               },
               http::Body::None, true});
  return r;
}

}  // namespace kuiga::master::api
