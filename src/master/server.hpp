#pragma once
// A whole master: state store, image store, scheduler, worker endpoint and REST API, on one
// data directory. `kuiga master` and `kuiga up` run one; tests start several.
#include <memory>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "imagestore/s3_store.hpp"
#include "master/auth/enrollment.hpp"
#include "master/http_api.hpp"
#include "master/images.hpp"
#include "master/rpc_server.hpp"
#include "master/run_service.hpp"

namespace kuiga::master {

class TestService;

struct ServerConfig {
  std::string dataDir = "kuiga-data";  // state.db, images/, uploads/
  std::string host = "127.0.0.1";
  int port = 8750;
  std::string rpcAddress = "127.0.0.1:0";  // where workers connect (port 0: any free one)
  uint64_t maxUploadBytes = 256ull << 20;
  unsigned connectionsPerAddress = 256;  // open API connections from one client address
  unsigned connections = 4096;           // open API connections in all
  // Images in this S3 bucket instead of <dataDir>/images. Workers then fetch them from the
  // bucket with their own (read-only) credentials; the master does not serve them.
  std::optional<imagestore::S3Config> s3;
  MasterConfig master;
  GateConfig gate;
  // At the first start, besides DATA/kuiga.conf, install the client config as the user's
  // (~/.config/kuiga/config) when they have none (kuiga up and kuiga master do; tests do not).
  bool installUserConfig = false;
  // HTTPS for the API: "auto" (a certificate from the cluster CA for this host's names and
  // addresses, in DATA/pki/), or the certificate and key files given; neither: plain HTTP,
  // which only a loopback address may serve unless `insecure`.
  bool tlsAuto = false;
  // At first start, the admin token is this file's secret (kuiga token secret makes one)
  // rather than a new one: the operator holds it before the master runs.
  std::string adminTokenFile;
  std::vector<std::string> tlsNames;  // more names or addresses for the auto certificate
  std::string tlsCertFile, tlsKeyFile;
  bool insecure = false;
  // The URL clients and nodes use (in DATA/kuiga.conf); empty: made from the host and port.
  std::string publicUrl;
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> start(ServerConfig config);
  ~Server();
  [[nodiscard]] int port() const { return api_->port(); }
  // The URL to reach the API at from this host ("https://127.0.0.1:PORT" and such).
  [[nodiscard]] std::string url() const;
  // The CA of the API's certificate ("" for plain HTTP or an operator's own certificate).
  [[nodiscard]] const std::string& apiCaPem() const { return apiCa_; }
  RunService& master() { return *master_; }
  Tokens& tokens() { return *tokens_; }
  // Credentials for a worker in this process (kuiga up), recorded as enrolled.
  Result<NodeCredentials> issueNode(const std::string& name) {
    return enrollment_->issueLocal(name);
  }
  // DATA/kuiga.conf: the client config with the first admin token.
  [[nodiscard]] std::string clientConfigPath() const { return config_.dataDir + "/kuiga.conf"; }

 private:
  Server() = default;
  ServerConfig config_;
  // The first start: an admin token, written with the URL to DATA/kuiga.conf.
  VoidResult firstStart(const std::string& adminToken);
  // The state, the tokens (the first admin's made now: returned) and the certificates.
  Result<std::string> openState();
  // The API's certificate and key, as the configuration asks (none: plain HTTP).
  VoidResult tlsMaterial(HttpApiConfig& api);
  std::unique_ptr<Store> store_;
  std::unique_ptr<Tokens> tokens_;
  std::unique_ptr<ClusterPki> pki_;
  std::unique_ptr<Enrollment> enrollment_;
  std::string apiCa_;
  std::unique_ptr<imagestore::ImageStore> images_;
  std::unique_ptr<ImageService> imageService_;
  std::unique_ptr<RunService> master_;
  std::unique_ptr<TestService> tests_;
  std::unique_ptr<RpcServer> rpc_;
  std::unique_ptr<HttpApi> api_;
};

}  // namespace kuiga::master
