#pragma once
// A client of the Docker Engine API (also served by Podman) over its unix socket, through
// libcurl. Requests are JSON both ways; the API version is the engine's own, capped at the one
// this client was written against, so a newer engine answers as that version.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace kuiga::worker::docker {

struct Response {
  long status = 0;
  std::string body;
  // The engine's own words for an error ({"message": ...}), else the body.
  [[nodiscard]] std::string message() const;
  [[nodiscard]] nlohmann::json json() const;
};

class Engine {
 public:
  static constexpr const char* kMaxApiVersion = "1.41";
  // Pings the engine and reads its version; the error says what to check when it is not there.
  static Result<Engine> connect(const std::string& socketPath);

  // One request; `path` starts with '/' and is under the version prefix ("/containers/json").
  Result<Response> call(const std::string& method, const std::string& path,
                        const std::optional<nlohmann::json>& body = std::nullopt,
                        long timeoutSeconds = 300) const;
  // POST of a file as the body (an image build context), streamed.
  Result<Response> postFile(const std::string& path, const std::string& file,
                            const std::string& contentType, long timeoutSeconds = 600) const;
  // "http://docker/v1.41" + path: for streaming requests made elsewhere with socketPath().
  [[nodiscard]] std::string url(const std::string& path) const;
  [[nodiscard]] const std::string& socketPath() const { return socket_; }
  [[nodiscard]] const std::string& apiVersion() const { return version_; }
  [[nodiscard]] const std::string& engineVersion() const { return engineVersion_; }
  [[nodiscard]] const std::string& engineName() const { return engineName_; }

 private:
  explicit Engine(std::string socket) : socket_(std::move(socket)) {}
  std::string socket_;
  std::string version_ = kMaxApiVersion;
  std::string engineVersion_;
  std::string engineName_;
};

// Percent-encodes a query value (filters, labels, names).
std::string queryEscape(const std::string& s);
// "POST /containers/x/start: the engine answered 404: No such container: x".
Error engineError(const std::string& what, const Response& r);

}  // namespace kuiga::worker::docker
