#pragma once
// The REST API (/api/v1) over cpp-httplib. Every error is JSON {"error", "message"} with its
// status; uploads stream to disk under a size cap; logs and events stream.
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "common/result.hpp"
#include "master/master.hpp"

namespace httplib {
class Server;
struct Response;
}  // namespace httplib

namespace kuiga::master {

struct HttpApiConfig {
  std::string host = "127.0.0.1";
  int port = 8750;        // 0 picks a free port
  std::string uploadDir;  // where uploads are spooled before they become images
  uint64_t maxUploadBytes = 256ull << 20;
  int rpcPort = 0;                               // told to workers through GET /api/v1/cluster
  imagestore::LocalImageStore* blobs = nullptr;  // serves GET /api/v1/blobs/{digest}
  std::string blobsElsewhere;  // else: where workers get images instead (said in the 404)
};

class HttpApi {
 public:
  static Result<std::unique_ptr<HttpApi>> start(Master& master, HttpApiConfig config);
  ~HttpApi();
  [[nodiscard]] int port() const { return port_; }
  void stop();

 private:
  HttpApi(Master& master, HttpApiConfig config);
  void routes();
  void logArchive(httplib::Response& res, RunId id, const std::vector<InstanceRecord>& insts);
  Master& master_;
  HttpApiConfig config_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// The OpenAPI 3 document of this API.
const std::string& openApiDocument();

}  // namespace kuiga::master
