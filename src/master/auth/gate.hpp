#pragma once
// Who is calling the API: a bearer token (`Authorization: Bearer TOKEN`), or Kuiga Web's
// session cookie, which a browser gets for a token (EventSource cannot send headers). A session
// is HttpOnly and SameSite=Strict, and the calls it makes that change something carry its CSRF
// token in `X-CSRF-Token`. A client address whose credentials keep failing is slowed down: past
// `failuresPerMinute` wrong tokens or sessions in a minute, it gets 429 until the minute is over.
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "master/auth/tokens.hpp"

namespace kuiga::http {
struct Request;
}

namespace kuiga::master {

struct Caller {
  std::string token;  // the token's name
  std::string user;   // who owns what the caller creates
  Role role = Role::Public;
  std::string session;  // Kuiga Web's session id, when the call came with its cookie

  [[nodiscard]] bool admin() const { return role == Role::Admin; }
  // The owner a listing is limited to: "" (everything) for an admin.
  [[nodiscard]] std::string ownerFilter() const { return admin() ? std::string() : user; }
};

struct GateConfig {
  unsigned failuresPerMinute = 10;
  std::chrono::seconds sessionTtl{12 * 3600};
  bool secureCookies = false;  // the API is served over HTTPS
};

struct Session {
  std::string id;
  std::string csrf;
  Caller caller;  // the session lives only while its token does
  std::chrono::steady_clock::time_point expires;
};

class Gate {
 public:
  Gate(Tokens& tokens, GateConfig config) : tokens_(tokens), config_(std::move(config)) {}

  // The caller of a request: 401 without valid credentials, 429 for an address that failed too
  // often. A request with no credentials at all is 401 and does not count as a failure.
  ApiResult<Caller> authenticate(const http::Request& req);
  // A call through a session that changes something must carry the session's CSRF token.
  ApiResult<void> checkCsrf(const http::Request& req, const Caller& who);

  // Kuiga Web's login: a session for the token the request carries.
  ApiResult<Session> openSession(const http::Request& req, const Caller& who);
  std::optional<Session> session(const std::string& id);
  void closeSession(const std::string& id);
  // The Set-Cookie header value for a session, or one that ends it ("" id).
  std::string cookie(const std::string& id) const;

  Tokens& tokens() { return tokens_; }

 private:
  bool limited(const std::string& peer, std::chrono::seconds& retry);
  void failed(const std::string& peer);
  Tokens& tokens_;
  GateConfig config_;
  std::mutex mu_;
  std::map<std::string, std::deque<std::chrono::steady_clock::time_point>> failures_;
  std::map<std::string, Session> sessions_;
};

}  // namespace kuiga::master
