#pragma once
// A client of the master's REST API, for the CLI, the benchmarks and the tests. Every failure
// comes back as an Error carrying the API's code and message (or the transport's).
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace kuiga::client {

struct Response {
  int status = 0;
  nlohmann::json body;  // null when the body is not JSON
  std::string text;
};

class ApiClient {
 public:
  explicit ApiClient(std::string url);
  ~ApiClient();

  // Any answer (2xx or not) is a Response; only transport failures are errors.
  Result<Response> request(const std::string& method, const std::string& path,
                           const std::string& body = {},
                           const std::string& contentType = "application/json");
  // 2xx: the JSON body; otherwise an error "CODE: message".
  Result<nlohmann::json> get(const std::string& path);
  Result<nlohmann::json> post(const std::string& path, const nlohmann::json& body = {});
  Result<nlohmann::json> del(const std::string& path);
  // Multipart upload: the file as part `fileField`, plus text fields. The file is streamed.
  Result<Response> upload(const std::string& path, const std::string& filePath,
                          const std::string& fileField,
                          const std::map<std::string, std::string>& fields);
  // Streams a GET body to `sink` until it ends or sink returns false.
  VoidResult stream(const std::string& path, const std::function<bool(std::string_view)>& sink);
  [[nodiscard]] const std::string& url() const { return url_; }

 private:
  std::string url_;
};

// "CODE: message" of an error response.
Error errorOf(const Response& r);

}  // namespace kuiga::client
