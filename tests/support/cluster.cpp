#include "tests/support/cluster.hpp"

#include <chrono>

#include <fmt/format.h>

namespace kuiga::test {

bool eventually(const std::function<bool()>& pred, int timeoutMs) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

TestMaster::TestMaster(master::ServerConfig cfg) : cfg_(std::move(cfg)) {
  cfg_.dataDir = dir_.path() + "/data";
  cfg_.port = 0;
  cfg_.master.heartbeat = std::chrono::milliseconds(200);
  cfg_.master.lostAfter = std::chrono::milliseconds(1500);
  auto s = master::Server::start(cfg_);
  if (!s) throw std::runtime_error(s.error().message);
  server_ = std::move(*s);
  cfg_.port = server_->port();  // a restart comes back on the same port
  useAdminToken();
}

void TestMaster::useAdminToken() {
  auto conf = client::readConfig(server_->clientConfigPath());
  if (!conf) throw std::runtime_error(conf.error().message);
  adminToken_ = conf->token;
  api_ = std::make_unique<client::ApiClient>(server_->url(), adminToken_, conf->caPem);
}

TestMaster::~TestMaster() = default;

void TestMaster::restart() {
  stop();
  start();
}

void TestMaster::startFresh() {
  stop();
  cfg_.dataDir = fmt::format("{}/data{}", dir_.path(), ++generation_);
  start();
  useAdminToken();  // a new cluster, a new first admin
}

void TestMaster::stop() {
  server_.reset();
}

void TestMaster::start() {
  for (int i = 0; i < 50; ++i) {
    auto s = master::Server::start(cfg_);
    if (s) {
      server_ = std::move(*s);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("master did not restart");
}

std::string TestMaster::url() const {
  return server_->url();
}

std::string TestMaster::joinToken(const std::string& name) {
  auto made = api_->post("/api/v1/tokens", {{"name", name}, {"role", "join"}});
  if (!made) throw std::runtime_error("make join token " + name + ": " + made.error().message);
  return (*made)["token"];
}

client::ApiClient TestMaster::client(const std::string& role, const std::string& name) {
  auto made = api_->post("/api/v1/tokens", {{"name", name}, {"role", role}});
  if (!made) throw std::runtime_error("make token " + name + ": " + made.error().message);
  return client::ApiClient(server_->url(), (*made)["token"].get<std::string>());
}

worker::NodeCredentials credentialsFor(master::Server& master, const std::string& name) {
  auto c = master.issueNode(name);
  if (!c) throw std::runtime_error("credentials for " + name + ": " + c.error().message);
  return {c->keyPem, c->certPem, c->caPem};
}

FakeWorker::FakeWorker(const std::string& name, master::Server& master, uint32_t capacity)
    : FakeWorker(
          worker::MasterLinkConfig{
              master.url(), name, "", {}, master.apiCaPem(), credentialsFor(master, name)},
          capacity) {}

FakeWorker::FakeWorker(worker::MasterLinkConfig link, uint32_t capacity)
    : name_(link.name), url_(link.url) {
  runtime_ = std::make_unique<FakeRuntime>(dir_.path() + "/logs", events_.sink());
  link.stateDir = dir_.path();
  link_ = std::make_unique<worker::MasterLink>(std::move(link));
  blobs_ = std::make_unique<worker::LinkBlobSource>(*link_);
  worker::AgentConfig ac;
  ac.name = name_;
  ac.capacity = capacity;
  ac.cacheDir = dir_.path() + "/images";
  ac.stateDir = dir_.path();
  ac.flushEvery = std::chrono::milliseconds(20);
  ac.reconnectEvery = std::chrono::milliseconds(200);
  ac.runtimeName = "fake";
  agent_ = std::make_unique<worker::Agent>(ac, *link_, *runtime_, events_, *blobs_);
  connect();
}

FakeWorker::~FakeWorker() {
  disconnect();
}

void FakeWorker::disconnect() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
}

void FakeWorker::connect() {
  thread_ = std::jthread([a = agent_.get()](std::stop_token st) { a->run(st); });
}

std::string sampleAut() {
  return std::string(KUIGA_EXAMPLES) + "/periodic";
}

uint64_t totalDropped(const nlohmann::json& radio) {
  uint64_t n = 0;
  for (const auto& [k, v] : radio["dropped"].items()) n += v.get<uint64_t>();
  return n;
}

}  // namespace kuiga::test
