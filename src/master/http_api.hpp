#pragma once
// The REST API (/api/v1), Kuiga Web and /metrics over the HTTP server of src/http/. Every error
// is JSON {"error", "message"} with its status; uploads stream to disk under a size cap; logs,
// captures and events stream. The routes are a table (src/master/api/, a file per resource),
// and every route but the public ones needs a token of its role.
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "master/api/route.hpp"
#include "master/auth/gate.hpp"
#include "master/run_service.hpp"

namespace kuiga::http {
class Server;
}

namespace kuiga::master {

class Enrollment;
class ImageService;
class TestService;

namespace api {
class EventHub;
}

struct HttpApiConfig {
  std::string host = "127.0.0.1";
  int port = 8750;        // 0 picks a free port
  std::string uploadDir;  // where uploads are spooled before they become images
  uint64_t maxUploadBytes = 256ull << 20;
  int rpcPort = 0;  // told to workers through GET /api/v1/cluster/join
  unsigned connectionsPerAddress = 256;
  unsigned connections = 4096;
  GateConfig gate;
  std::string caPin;            // the hash of the cluster CA's public key, for join tokens
  std::string tlsCert, tlsKey;  // PEM: serve HTTPS
};

class HttpApi {
 public:
  // The master's parts the API serves.
  struct Parts {
    RunService& runs;
    ImageService& images;
    Tokens& tokens;
    Enrollment& enrollment;
    TestService& tests;  // told how to reach this API as a test's owner
  };
  static Result<std::unique_ptr<HttpApi>> start(Parts parts, HttpApiConfig config);
  ~HttpApi();
  [[nodiscard]] int port() const;
  void stop();

 private:
  HttpApi(Parts parts, HttpApiConfig config);
  Parts parts_;
  HttpApiConfig config_;
  Gate gate_;
  std::string openapi_;
  std::unique_ptr<api::EventHub> events_;
  api::Routes table_;  // also called in process, by the tests the master runs
  std::unique_ptr<http::Server> server_;
};

}  // namespace kuiga::master
