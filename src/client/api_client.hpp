#pragma once
// A client of the master's REST API, for the CLI, the benchmarks and the tests. Every failure
// comes back as an Error carrying the API's code and message (or the transport's).
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "client/config.hpp"
#include "common/result.hpp"

namespace httplib {
class Client;
}

namespace kuiga::client {

struct Response {
  int status = 0;
  nlohmann::json body;  // null when the body is not JSON
  std::string text;
  std::map<std::string, std::string> headers;  // names in lower case
  [[nodiscard]] std::string header(const std::string& lowerName) const {
    auto it = headers.find(lowerName);
    return it == headers.end() ? std::string() : it->second;
  }
};

class ApiClient {
 public:
  // `token` goes as `Authorization: Bearer`; `caPem`, when given, is the only CA an https
  // master's certificate may chain to.
  explicit ApiClient(std::string url, std::string token = {}, std::string caPem = {});
  explicit ApiClient(const ClientConfig& c) : ApiClient(c.master, c.token, c.caPem) {}
  ~ApiClient();

  // Any answer (2xx or not) is a Response; only transport failures are errors.
  Result<Response> request(const std::string& method, const std::string& path,
                           const std::string& body = {},
                           const std::string& contentType = "application/json",
                           const std::map<std::string, std::string>& headers = {});
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
  [[nodiscard]] const std::string& token() const { return token_; }
  void setToken(std::string token) { token_ = std::move(token); }
  // Off: an https master's certificate is not checked (only to read what is then checked
  // another way, as a node's enrollment checks the CA it reads against its join token).
  void setVerify(bool on) { verify_ = on; }

 private:
  std::unique_ptr<httplib::Client> makeClient() const;
  std::string url_;
  std::string token_;
  std::string caPem_;
  bool verify_ = true;
};

// "CODE: message" of an error response.
Error errorOf(const Response& r);

}  // namespace kuiga::client
