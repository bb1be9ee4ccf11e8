#include "master/http_api.hpp"

#include <spdlog/spdlog.h>

#include "http/server.hpp"
#include "master/api/api_common.hpp"
#include "master/api/event_hub.hpp"
#include "master/api/local_api.hpp"
#include "master/test_service.hpp"

namespace kuiga::master {

HttpApi::HttpApi(Parts parts, HttpApiConfig config)
    : parts_(parts),
      config_(std::move(config)),
      gate_(parts_.tokens, config_.gate),
      events_(std::make_unique<api::EventHub>(parts_.runs)) {}

HttpApi::~HttpApi() {
  stop();
}

int HttpApi::port() const {
  return server_ ? server_->port() : 0;
}

void HttpApi::stop() {
  if (server_) server_->stop();
}

Result<std::unique_ptr<HttpApi>> HttpApi::start(Parts parts, HttpApiConfig config) {
  std::unique_ptr<HttpApi> a(new HttpApi(parts, std::move(config)));
  api::Context ctx{parts.runs, parts.images,     a->config_,  *a->events_,
                   a->gate_,   parts.enrollment, parts.tests, a->openapi_};
  api::Routes& table = a->table_;
  for (auto part : {&api::clusterRoutes, &api::workerRoutes, &api::accessRoutes, &api::imageRoutes,
                    &api::runRoutes, &api::instanceRoutes, &api::logRoutes, &api::radioRoutes,
                    &api::testRoutes})
    for (auto& r : part(ctx)) table.push_back(std::move(r));
  a->openapi_ = api::openApiDocument(table).dump(2);
  const api::Owners owners{parts.runs, parts.images, parts.tests};
  std::vector<http::Route> routes;
  for (const auto& r : table) routes.push_back(api::authorized(r, a->gate_, owners));
  parts.tests.setApi([&table, owners](const Caller& who) -> std::unique_ptr<scenario::Api> {
    return std::make_unique<api::LocalApi>(table, owners, who);
  });
  http::ServerConfig sc;
  sc.host = a->config_.host;
  sc.port = a->config_.port;
  sc.uploadDir = a->config_.uploadDir;
  sc.maxUpload = a->config_.maxUploadBytes;
  sc.connectionsPerAddress = a->config_.connectionsPerAddress;
  sc.connections = a->config_.connections;
  sc.error = &api::serverError;
  sc.tlsCert = a->config_.tlsCert;
  sc.tlsKey = a->config_.tlsKey;
  RunService* m = &parts.runs;
  sc.done = [m](const std::string& label, const std::string& method, int status, double s) {
    m->metrics().request(method, label, status, s);
  };
  auto server = http::Server::start(std::move(sc), std::move(routes));
  if (!server) return fail(server.error().context("REST API"));
  a->server_ = std::move(*server);
  const char* scheme = a->config_.tlsCert.empty() ? "http" : "https";
  spdlog::info("API on {}://{}:{}/api/v1/, Kuiga Web on {}://{}:{}/", scheme, a->config_.host,
               a->port(), scheme, a->config_.host, a->port());
  return a;
}

}  // namespace kuiga::master
