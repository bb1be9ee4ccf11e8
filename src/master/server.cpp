#include "master/server.hpp"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "client/config.hpp"
#include "master/test_service.hpp"
#include "sys/file.hpp"

namespace kuiga::master {

namespace {

bool loopback(const std::string& host) {
  in_addr a4{};
  if (::inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  return host == "::1" || host == "localhost";
}

// A host as a URL holds it: an IPv6 literal in brackets.
std::string urlHost(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

// The operator's admin token in `path`, if there is such a file: an optional Kubernetes Secret
// that was not made is no file, and the master makes a token of its own.
Result<std::optional<std::string>> operatorToken(const std::string& path) {
  struct stat st {};
  if (path.empty()) return std::optional<std::string>();
  if (::stat(path.c_str(), &st) < 0 && errno == ENOENT) {
    spdlog::info("no admin token in {}: the master makes one", path);
    return std::optional<std::string>();
  }
  auto secret = sys::readFile(path);
  if (!secret) return fail(secret.error().context("--admin-token-file"));
  while (!secret->empty() && std::isspace(static_cast<unsigned char>(secret->back())))
    secret->pop_back();
  return std::optional<std::string>(std::move(*secret));
}

}  // namespace

Result<std::string> Server::openState() {
  // The data directory holds every user's AUTs and the state: an instance must not reach it,
  // and neither may other users of the host.
  KUIGA_TRY(sys::makePrivateDir(config_.dataDir), "master data directory");
  auto store = Store::open(config_.dataDir + "/state.db");
  if (!store) return fail(store.error());
  store_ = std::move(*store);
  auto tokens = Tokens::open(*store_);
  if (!tokens) return fail(tokens.error());
  tokens_ = std::move(*tokens);
  auto pki = ClusterPki::open(config_.dataDir + "/pki");
  if (!pki) return fail(pki.error());
  pki_ = std::move(*pki);
  enrollment_ = std::make_unique<Enrollment>(*pki_, *store_);
  if (tokens_->hasRole(Role::Admin)) return std::string();
  auto given = operatorToken(config_.adminTokenFile);
  if (!given) return fail(given.error());
  if (*given) {
    auto adopted = tokens_->adopt("admin", Role::Admin, **given);
    if (!adopted)
      return failMsg("--admin-token-file " + config_.adminTokenFile + ": " +
                     adopted.error().message);
    return adopted->secret;
  }
  auto admin = tokens_->create("admin", Role::Admin, "admin", 0);
  if (!admin) return failMsg("make the first admin token: " + admin.error().message);
  return admin->secret;
}

VoidResult Server::tlsMaterial(HttpApiConfig& api) {
  const bool files = !config_.tlsCertFile.empty() || !config_.tlsKeyFile.empty();
  if (files && config_.tlsAuto) return failMsg("--tls auto or --tls-cert/--tls-key, not both");
  if (files) {
    auto cert = sys::readFile(config_.tlsCertFile);
    auto key = sys::readFile(config_.tlsKeyFile);
    if (!cert) return fail(cert.error().context("--tls-cert"));
    if (!key) return fail(key.error().context("--tls-key"));
    if (!pki::keyMatches(*key, *cert))
      return failMsg(fmt::format("--tls-key {} is not the key of --tls-cert {}", config_.tlsKeyFile,
                                 config_.tlsCertFile));
    api.tlsCert = *cert;
    api.tlsKey = *key;
  } else if (config_.tlsAuto) {
    std::vector<std::string> names, addresses;
    hostNamesAndAddresses(names, addresses);
    // The names clients use besides the host's own (a Kubernetes Service's, a DNS alias).
    for (const auto& n : config_.tlsNames) {
      in6_addr a6{};
      bool address =
          ::inet_pton(AF_INET, n.c_str(), &a6) == 1 || ::inet_pton(AF_INET6, n.c_str(), &a6) == 1;
      auto& list = address ? addresses : names;
      if (std::find(list.begin(), list.end(), n) == list.end()) list.push_back(n);
    }
    if (!loopback(config_.host) && config_.host != "0.0.0.0" && config_.host != "::" &&
        std::find(addresses.begin(), addresses.end(), config_.host) == addresses.end())
      addresses.push_back(config_.host);
    auto pair = pki_->apiCertificate(names, addresses);
    if (!pair) return fail(pair.error());
    std::tie(api.tlsKey, api.tlsCert) = *pair;
    apiCa_ = pki_->ca().certPem;
  } else if (!loopback(config_.host)) {
    if (!config_.insecure)
      return failMsg(fmt::format(
          "refusing to serve the API on {} without TLS: tokens and uploads would cross the "
          "network in clear. Give --tls auto (or --tls-cert and --tls-key), or --insecure on a "
          "network you trust",
          config_.host));
    spdlog::warn(
        "INSECURE: the API on {} is plain HTTP (--insecure): anyone on the network "
        "can read its tokens and uploads",
        config_.host);
  }
  api.gate.secureCookies = !api.tlsCert.empty();
  return {};
}

Result<std::unique_ptr<Server>> Server::start(ServerConfig config) {
  std::unique_ptr<Server> s(new Server());
  s->config_ = std::move(config);
  const ServerConfig& cfg = s->config_;
  auto adminToken = s->openState();
  if (!adminToken) return fail(adminToken.error());
  HttpApiConfig api;
  api.gate = cfg.gate;
  KUIGA_TRY(s->tlsMaterial(api), "the API's TLS");
  imagestore::LocalImageStore* local = nullptr;
  if (cfg.s3) {
    auto images = imagestore::S3ImageStore::open(*cfg.s3);
    if (!images) return fail(images.error());
    s->images_ = std::move(*images);
  } else {
    auto images = imagestore::LocalImageStore::open(cfg.dataDir + "/images");
    if (!images) return fail(images.error());
    local = images->get();
    s->images_ = std::move(*images);
  }
  spdlog::info("images in {}", s->images_->describe());
  s->master_ = std::make_unique<RunService>(*s->store_, cfg.master);
  s->imageService_ = std::make_unique<ImageService>(*s->store_, *s->images_);
  s->tests_ = std::make_unique<TestService>(*s->store_, *s->master_, cfg.dataDir + "/tests");
  auto rpc = RpcServer::start(*s->master_, {cfg.rpcAddress, s->enrollment_.get(), local,
                                            local ? std::string() : s->images_->describe()});
  if (!rpc) return fail(rpc.error());
  s->rpc_ = std::move(*rpc);
  api.host = cfg.host;
  api.port = cfg.port;
  api.uploadDir = cfg.dataDir + "/uploads";
  api.maxUploadBytes = cfg.maxUploadBytes;
  api.connectionsPerAddress = cfg.connectionsPerAddress;
  api.connections = cfg.connections;
  api.rpcPort = s->rpc_->port();
  api.caPin = s->pki_->pin();
  auto http = HttpApi::start(
      {*s->master_, *s->imageService_, *s->tokens_, *s->enrollment_, *s->tests_}, api);
  if (!http) return fail(http.error());
  s->api_ = std::move(*http);
  if (!adminToken->empty()) KUIGA_TRY(s->firstStart(*adminToken), "first start");
  return s;
}

VoidResult Server::firstStart(const std::string& adminToken) {
  client::ClientConfig c{
      config_.publicUrl.empty() ? url() : config_.publicUrl, adminToken, apiCa_, {}};
  KUIGA_TRY(client::writeConfig(clientConfigPath(), c), "write the client config");
  spdlog::info("first start: an admin token is in {} (mode 0600)", clientConfigPath());
  if (!config_.installUserConfig) return {};
  std::string user = client::userConfigPath();
  std::error_code ec;
  if (user.empty() || std::filesystem::exists(user, ec)) {
    if (!user.empty())
      spdlog::info("{} exists and stays as it is: to use this master, export KUIGA_CONFIG={}", user,
                   clientConfigPath());
    return {};
  }
  // The user's copy is a convenience: a master whose user has no writable home (a service's
  // dynamic user, say) goes on without it.
  if (auto r = client::writeConfig(user, c); !r)
    spdlog::warn("the client config is not installed as {}: {}", user, r.error().message);
  else
    spdlog::info("and installed as {}, where kuiga run ... reads it", user);
  return {};
}

std::string Server::url() const {
  // A local address a client can dial, whatever the API listens on.
  std::string host = config_.host == "0.0.0.0" ? "127.0.0.1"
                     : config_.host == "::"    ? "::1"
                                               : config_.host;
  const char* scheme = apiCa_.empty() && config_.tlsCertFile.empty() ? "http" : "https";
  return fmt::format("{}://{}:{}", scheme, urlHost(host), api_->port());
}

Server::~Server() {
  // Stop taking requests first, then drop the workers' streams, then the state.
  if (api_) api_->stop();
  // Tests under way end (their runs stopped and deleted) while the workers are still here.
  tests_.reset();
  if (master_) master_->beginShutdown();
  if (rpc_) rpc_->shutdown();
  rpc_.reset();
  api_.reset();  // its event stream is subscribed to the master
  master_.reset();
}

}  // namespace kuiga::master
