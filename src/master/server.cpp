#include "master/server.hpp"

#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sys/file.hpp"

namespace kuiga::master {

Result<std::unique_ptr<Server>> Server::start(ServerConfig config) {
  std::unique_ptr<Server> s(new Server());
  namespace fs = std::filesystem;
  // The data directory holds every user's AUTs and the state: an instance must not reach it,
  // and neither may other users of the host.
  KUIGA_TRY(sys::makePrivateDir(config.dataDir), "master data directory");
  auto store = Store::open(config.dataDir + "/state.db");
  if (!store) return fail(store.error());
  s->store_ = std::move(*store);
  imagestore::LocalImageStore* local = nullptr;
  if (config.s3) {
    auto images = imagestore::S3ImageStore::open(*config.s3);
    if (!images) return fail(images.error());
    s->images_ = std::move(*images);
  } else {
    auto images = imagestore::LocalImageStore::open(config.dataDir + "/images");
    if (!images) return fail(images.error());
    local = images->get();
    s->images_ = std::move(*images);
  }
  spdlog::info("images in {}", s->images_->describe());
  s->master_ = std::make_unique<Master>(*s->store_, *s->images_, config.master);
  auto rpc = RpcServer::start(*s->master_, config.rpcAddress);
  if (!rpc) return fail(rpc.error());
  s->rpc_ = std::move(*rpc);
  HttpApiConfig api;
  api.host = config.host;
  api.port = config.port;
  api.uploadDir = config.dataDir + "/uploads";
  api.maxUploadBytes = config.maxUploadBytes;
  api.connectionsPerAddress = config.connectionsPerAddress;
  api.connections = config.connections;
  api.rpcPort = s->rpc_->port();
  api.blobs = local;
  if (!local) api.blobsElsewhere = s->images_->describe();
  auto http = HttpApi::start(*s->master_, api);
  if (!http) return fail(http.error());
  s->api_ = std::move(*http);
  s->config_ = std::move(config);
  return s;
}

std::string Server::url() const {
  return fmt::format("http://{}:{}", config_.host, api_->port());
}

Server::~Server() {
  // Stop taking requests first, then drop the workers' streams, then the state.
  if (api_) api_->stop();
  if (master_) master_->beginShutdown();
  if (rpc_) rpc_->shutdown();
  rpc_.reset();
  api_.reset();  // its event stream is subscribed to the master
  master_.reset();
}

}  // namespace kuiga::master
