#pragma once
// An HTTP/1.1 server for APIs that must stay up under slow and long-lived clients, on GNU
// libmicrohttpd (Debian's libmicrohttpd-dev): its epoll loops own every socket, so a client
// costs a connection slot and a small buffer, never a thread. Handlers run on a pool of threads
// while their connection is suspended; streamed bodies are pulled from a Source on the same pool
// only when the client can take more, so a slow reader holds no thread either. No Kuiga words.
//
// What it guards against (ServerConfig): a listen backlog of 1,024; a per-address and a total
// connection cap; a deadline for a request's headers (from the connection's start, or from the
// end of the previous response on a kept-alive connection), however slowly they trickle in; an
// idle timeout for bodies; and body limits checked against Content-Length before any byte is read.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace kuiga::http {

// How a request's body is read before its handler runs.
enum class Body : uint8_t {
  None,       // none expected; one sent anyway is read and dropped (up to the text limit)
  Text,       // kept in Request::body, up to ServerConfig::maxTextBody
  Multipart,  // multipart/form-data: fields in Request::fields, one file part spooled to disk;
              // any other content type is kept as Text
};

struct Upload {
  std::string field;     // the part's name
  std::string fileName;  // as the client named it
  std::string path;      // spooled here; removed when the request ends
  uint64_t size = 0;
};

struct Request {
  std::string method;
  std::string path;                 // decoded, without the query
  std::string label;                // the route's pattern ("/api/v1/runs/{id}"), for metrics
  std::vector<std::string> params;  // the pattern's {captures}, in order
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string peer;                            // the client's address
  std::string body;
  bool multipart = false;
  std::map<std::string, std::string> fields;
  std::optional<Upload> upload;

  [[nodiscard]] std::string header(std::string_view lowerName) const;
  [[nodiscard]] bool has(std::string_view key) const { return query.contains(std::string(key)); }
  [[nodiscard]] std::string arg(std::string_view key) const;
};

// A body produced piece by piece, pulled on a pool thread whenever the client has taken all that
// was produced before. Never called concurrently with itself.
class Source {
 public:
  virtual ~Source() = default;
  struct Pull {
    enum class Next : uint8_t { More, Done, Wait } next = Next::More;
    std::chrono::milliseconds wait{0};  // Wait: pull again after this, or when woken
  };
  // Appends the next bytes to `out` and says what follows. More with nothing appended counts as
  // Wait(10 ms): a source with nothing now must say how long to rest.
  virtual Pull pull(std::string& out) = 0;
  // Called once before the first pull with a function that makes a waiting source be pulled
  // now (from any thread, also after the stream ended, when it does nothing).
  virtual void attach(std::function<void()> wake) { (void)wake; }

  static Pull more() { return {}; }
  static Pull done() { return {Pull::Next::Done, {}}; }
  static Pull wait(std::chrono::milliseconds d) { return {Pull::Next::Wait, d}; }
};

struct Response {
  int status = 200;
  std::string type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::shared_ptr<Source> source;  // the body comes from here (chunked) instead of `body`
  std::string file;                // or is this file, sent by the kernel (sendfile)

  static Response text(int status, std::string type, std::string body);
};

using Handler = std::function<Response(Request&)>;

// The table the router is made from: one entry per method and path pattern. A pattern's
// segments are literal or "{name}", which matches one non-empty segment.
struct Route {
  std::string method;
  std::string pattern;
  Handler handler;
  Body body = Body::None;
  bool inlined = false;  // cheap and never blocking: run on the event loop, not the pool
};

struct ServerConfig {
  std::string host = "127.0.0.1";  // an IPv4 or IPv6 literal, or "0.0.0.0" / "::"
  int port = 0;                    // 0: any free port
  int backlog = 1024;
  unsigned connectionsPerAddress = 256;
  unsigned connections = 4096;
  unsigned eventThreads = 2;
  unsigned handlerThreads = 16;
  std::chrono::seconds headerTimeout{15};
  std::chrono::seconds idleTimeout{30};  // no byte either way (streams waiting for data excepted)
  uint64_t maxTextBody = 1 << 20;
  uint64_t maxBody = 256ull << 20;    // any body, by Content-Length or as it arrives
  uint64_t maxUpload = 256ull << 20;  // the spooled file part
  std::string uploadDir;              // where file parts are spooled
  // PEM: serve HTTPS with this certificate (chain) and key, through libmicrohttpd's own TLS.
  std::string tlsCert;
  std::string tlsKey;
  // Makes the error responses the server answers itself (404, 405, 413, 400, 500).
  std::function<Response(int status, const std::string& message)> error;
  // Told about every finished request: route label ("other" when none matched), method,
  // status and seconds from its headers to its last byte.
  std::function<void(const std::string& label, const std::string& method, int status,
                     double seconds)>
      done;
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> start(ServerConfig config, std::vector<Route> routes);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  [[nodiscard]] int port() const;
  // Stops accepting, lets running handlers finish, ends streams and closes every connection.
  void stop();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kuiga::http
