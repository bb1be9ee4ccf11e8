#include "worker/agent/worker_node.hpp"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "sys/file.hpp"

#include "worker/net/radio_network.hpp"

namespace kuiga::worker {

Result<std::unique_ptr<WorkerNode>> WorkerNode::start(WorkerNodeConfig config) {
  std::unique_ptr<WorkerNode> n(new WorkerNode());
  config.stateDir = std::filesystem::absolute(config.stateDir).lexically_normal();
  // Its logs, captures and images are runs' (and so users') own.
  KUIGA_TRY(sys::makePrivateDir(config.stateDir), "worker " + config.name + " state directory");
  n->config_ = config;
  n->link_ = std::make_unique<MasterLink>(MasterLinkConfig{config.master, config.name,
                                                           config.stateDir, config.joinToken,
                                                           config.apiCaPem, config.credentials});
  // Where images come from, first: a wrong bucket or key stops the worker before it sets up.
  if (config.s3) {
    auto s3 = imagestore::S3ImageStore::open(*config.s3);
    if (!s3) return fail(s3.error().context("worker " + config.name));
    spdlog::info("worker {}: images from {}", config.name, (*s3)->describe());
    n->blobs_ = std::move(*s3);
  } else {
    n->blobs_ = std::make_unique<LinkBlobSource>(*n->link_);
  }
  ns::NsRuntimeConfig cfg;
  cfg.name = config.name;
  cfg.capacity = config.capacity;
  cfg.stateDir = config.stateDir;
  cfg.initPath = config.initPath;
  cfg.exposed = config.exposed;
  cfg.uidBase = config.uidBase;
  if (config.runtime == "docker") {
    docker::DockerRuntimeConfig dc;
    dc.name = config.name;
    dc.stateDir = config.stateDir;
    dc.socket = config.dockerSocket;
    dc.gatePath = config.gatePath;
    dc.uidBase = config.uidBase;
    auto rt = docker::DockerRuntime::open(dc, n->events_.sink());
    if (!rt) return fail(rt.error().context("worker " + config.name));
    n->docker_ = rt->get();
    n->radioNetnsFd_ = (*rt)->radioNetnsFd();
    n->runtime_ = std::move(*rt);
  } else if (config.runtime == "ns") {
    auto rt = ns::NsRuntime::open(cfg, n->events_.sink());
    if (!rt) return fail(rt.error().context("worker " + config.name));
    n->ns_ = rt->get();
    n->radioNetnsFd_ = (*rt)->radioNetnsFd();
    n->runtime_ = std::move(*rt);
  } else {
    return failMsg("worker " + config.name + ": unknown runtime '" + config.runtime +
                   "' (ns or docker)");
  }
  net::RadioNetwork& radio = n->ns_ ? n->ns_->radioNetwork() : n->docker_->radioNetwork();
  radio.setUnderlayAddress(config.underlayAddress);
  auto rep = n->runtime_->recover();
  if (!rep) return fail(rep.error().context("recover worker " + config.name));
  if (rep->adopted || rep->reaped)
    spdlog::info("worker {}: re-adopted {} instances, reaped {}", config.name, rep->adopted,
                 rep->reaped);
  // The Plexer of the radio network: its capture, its cells' uplinks, its ZEP dispatcher.
  auto plexer = plexer::Plexer::start(n->radioNetnsFd_, cfg.stateDir, "worker " + config.name);
  if (!plexer) return fail(plexer.error().context("worker " + config.name));
  n->plexer_ = std::move(*plexer);
  AgentConfig ac;
  ac.name = config.name;
  ac.capacity = config.capacity;
  ac.labels = config.labels;
  ac.cacheDir = cfg.stateDir + "/images";
  ac.stateDir = cfg.stateDir;
  ac.underlayAddress = config.underlayAddress;
  ac.plexer = config.plexer;
  n->agent_ = std::make_unique<Agent>(ac, *n->link_, *n->runtime_, n->events_, *n->blobs_,
                                      n->plexer_.get(), &radio);
  n->thread_ = std::jthread([a = n->agent_.get()](std::stop_token st) { a->run(st); });
  return n;
}

void WorkerNode::disconnect() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
  plexer_.reset();  // before the radio namespace may go
}

VoidResult WorkerNode::destroy() {
  disconnect();
  destroyed_ = true;
  return ns_ ? ns_->destroyAll() : docker_->destroyAll();
}

WorkerNode::~WorkerNode() {
  disconnect();
  if (config_.removeOnExit && runtime_ && !destroyed_)
    if (auto r = ns_ ? ns_->destroyAll() : docker_->destroyAll(); !r)
      spdlog::error("{}", r.error().message);
}

}  // namespace kuiga::worker
