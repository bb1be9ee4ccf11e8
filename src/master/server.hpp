#pragma once
// A whole master: state store, image store, scheduler, worker endpoint and REST API, on one
// data directory. `kuiga master` and `kuiga up` run one; tests start several.
#include <memory>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "imagestore/s3_store.hpp"
#include "master/http_api.hpp"
#include "master/master.hpp"
#include "master/rpc_server.hpp"

namespace kuiga::master {

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
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> start(ServerConfig config);
  ~Server();
  [[nodiscard]] int port() const { return api_->port(); }
  [[nodiscard]] std::string url() const;
  Master& master() { return *master_; }

 private:
  Server() = default;
  ServerConfig config_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<imagestore::ImageStore> images_;
  std::unique_ptr<Master> master_;
  std::unique_ptr<RpcServer> rpc_;
  std::unique_ptr<HttpApi> api_;
};

}  // namespace kuiga::master
