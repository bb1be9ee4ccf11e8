#pragma once
// The master's gRPC endpoint: workers dial it and hold one Connect stream each.
#include <memory>
#include <string>

#include "common/result.hpp"
#include "master/master.hpp"

namespace grpc {
class Server;
}

namespace kuiga::master {

class RpcServer {
 public:
  // Listens on `address` ("0.0.0.0:8751"; port 0 picks a free one).
  static Result<std::unique_ptr<RpcServer>> start(Master& master, const std::string& address);
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
