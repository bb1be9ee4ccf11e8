#pragma once
// The master's gRPC endpoint, the adapter at the edge: nodes dial it and hold one Connect
// stream each; it reads their messages into the master's own types (a Registration, instance
// statuses) and writes the master's answers and commands back. Nothing past it sees gRPC.
#include <memory>
#include <string>

#include "common/result.hpp"
#include "master/run_service.hpp"

namespace grpc {
class Server;
}

namespace kuiga::master {

class Enrollment;

// Nodes hold their streams over mutual TLS: the endpoint's certificate is the cluster CA's
// (for the name "kuiga-master"), and a node's client certificate must be the one its name
// holds now.
struct RpcServerConfig {
  std::string address;  // "0.0.0.0:8751"; port 0 picks a free one
  Enrollment* enrollment = nullptr;
  // Where nodes' blob downloads are served from; null when images live elsewhere, which
  // `blobsElsewhere` then names.
  imagestore::LocalImageStore* blobs = nullptr;
  std::string blobsElsewhere;
};

class RpcServer {
 public:
  static Result<std::unique_ptr<RpcServer>> start(RunService& master, RpcServerConfig config);
  ~RpcServer();
  [[nodiscard]] int port() const { return port_; }
  // Ends every stream; workers see their connection close and reconnect elsewhere or later.
  void shutdown();

 private:
  class Service;
  RpcServer() = default;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace kuiga::master
