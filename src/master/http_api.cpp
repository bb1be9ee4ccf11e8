#include "master/http_api.hpp"

#include <spdlog/spdlog.h>

#include "http/server.hpp"
#include "master/api/api_common.hpp"
#include "master/api/event_hub.hpp"

namespace kuiga::master {

HttpApi::HttpApi(Master& master, HttpApiConfig config)
    : master_(master),
      config_(std::move(config)),
      events_(std::make_unique<api::EventHub>(master_)) {}

HttpApi::~HttpApi() {
  stop();
}

int HttpApi::port() const {
  return server_ ? server_->port() : 0;
}

void HttpApi::stop() {
  if (server_) server_->stop();
}

Result<std::unique_ptr<HttpApi>> HttpApi::start(Master& master, HttpApiConfig config) {
  std::unique_ptr<HttpApi> a(new HttpApi(master, std::move(config)));
  api::Context ctx{a->master_, a->config_, *a->events_};
  api::Routes routes;
  for (auto part : {&api::clusterRoutes, &api::imageRoutes, &api::runRoutes, &api::instanceRoutes,
                    &api::logRoutes, &api::radioRoutes})
    for (auto& r : part(ctx)) routes.push_back(std::move(r));
  http::ServerConfig sc;
  sc.host = a->config_.host;
  sc.port = a->config_.port;
  sc.uploadDir = a->config_.uploadDir;
  sc.maxUpload = a->config_.maxUploadBytes;
  sc.connectionsPerAddress = a->config_.connectionsPerAddress;
  sc.connections = a->config_.connections;
  sc.error = &api::serverError;
  Master* m = &a->master_;
  sc.done = [m](const std::string& label, const std::string& method, int status, double s) {
    m->metrics().request(method, label, status, s);
  };
  auto server = http::Server::start(std::move(sc), std::move(routes));
  if (!server) return fail(server.error().context("REST API"));
  a->server_ = std::move(*server);
  spdlog::info("API on http://{}:{}/api/v1/, Kuiga Web on http://{}:{}/", a->config_.host,
               a->port(), a->config_.host, a->port());
  return a;
}

}  // namespace kuiga::master
