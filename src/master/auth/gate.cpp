#include "master/auth/gate.hpp"

#include <fmt/format.h>

#include <spdlog/spdlog.h>
#include "http/server.hpp"

namespace kuiga::master {

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kCookie = "kuiga_session";

ApiError unauthorized(std::string message) {
  return {401, "unauthorized", std::move(message)};
}

// The value of cookie `name` in a Cookie header ("a=1; b=2").
std::string cookieValue(const std::string& header, const std::string& name) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string part = header.substr(pos, end - pos);
    size_t b = part.find_first_not_of(' ');
    if (b != std::string::npos) part.erase(0, b);
    if (part.size() > name.size() && part.compare(0, name.size(), name) == 0 &&
        part[name.size()] == '=')
      return part.substr(name.size() + 1);
    pos = end + 1;
  }
  return {};
}

Caller callerOf(const Token& t) {
  return {t.name, t.user, t.role, {}};
}

}  // namespace

bool Gate::limited(const std::string& peer, std::chrono::seconds& retry) {
  std::lock_guard lock(mu_);
  auto it = failures_.find(peer);
  if (it == failures_.end()) return false;
  auto& q = it->second;
  auto now = Clock::now();
  while (!q.empty() && now - q.front() >= std::chrono::minutes(1)) q.pop_front();
  if (q.empty()) {
    failures_.erase(it);
    return false;
  }
  if (q.size() < config_.failuresPerMinute) return false;
  retry =
      std::chrono::duration_cast<std::chrono::seconds>(q.front() + std::chrono::minutes(1) - now) +
      std::chrono::seconds(1);
  return true;
}

void Gate::failed(const std::string& peer) {
  std::lock_guard lock(mu_);
  auto& q = failures_[peer];
  q.push_back(Clock::now());
  while (q.size() > config_.failuresPerMinute + 1) q.pop_front();
  // A bound on the addresses remembered: the oldest go first.
  if (failures_.size() > 65536) failures_.erase(failures_.begin());
}

ApiResult<Caller> Gate::authenticate(const http::Request& req) {
  std::chrono::seconds retry{0};
  if (limited(req.peer, retry))
    return apiFail({429, "too_many_requests",
                    fmt::format("too many failed authentications from {}; try again in {} s",
                                req.peer, retry.count())});
  std::string auth = req.header("authorization");
  if (!auth.empty()) {
    constexpr std::string_view bearer = "Bearer ";
    if (auth.size() <= bearer.size() || auth.compare(0, bearer.size(), bearer) != 0) {
      failed(req.peer);
      return apiFail(unauthorized("the Authorization header is 'Bearer TOKEN'"));
    }
    if (auto t = tokens_.check(auth.substr(bearer.size()))) return callerOf(*t);
    failed(req.peer);
    return apiFail(unauthorized("the token is not valid (unknown, removed or expired)"));
  }
  std::string sid = cookieValue(req.header("cookie"), kCookie);
  if (sid.empty())
    return apiFail(unauthorized(
        "no token: send 'Authorization: Bearer TOKEN' (kuiga token create, or the one in "
        "DATA/kuiga.conf)"));
  if (auto s = session(sid)) return s->caller;
  failed(req.peer);
  return apiFail(unauthorized("the session ended: log in again"));
}

ApiResult<void> Gate::checkCsrf(const http::Request& req, const Caller& who) {
  if (who.session.empty() || req.method == "GET" || req.method == "HEAD") return {};
  auto s = session(who.session);
  std::string sent = req.header("x-csrf-token");
  if (!s || sent.empty() || sent != s->csrf)
    return apiFail({403, "forbidden", "a session's changes carry its X-CSRF-Token header"});
  return {};
}

ApiResult<Session> Gate::openSession(const http::Request& req, const Caller& who) {
  if (!who.session.empty() || req.header("authorization").empty())
    return apiFail(ApiError::badRequest("log in with 'Authorization: Bearer TOKEN'"));
  Session s{randomToken(32), randomToken(32), who, Clock::now() + config_.sessionTtl};
  s.caller.session = s.id;
  std::lock_guard lock(mu_);
  // Ended sessions go as new ones come.
  std::erase_if(sessions_,
                [now = Clock::now()](const auto& kv) { return kv.second.expires <= now; });
  sessions_[s.id] = s;
  spdlog::info("Kuiga Web session for token '{}' from {}", who.token, req.peer);
  return s;
}

std::optional<Session> Gate::session(const std::string& id) {
  std::optional<Session> s;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return std::nullopt;
    if (it->second.expires <= Clock::now()) {
      sessions_.erase(it);
      return std::nullopt;
    }
    s = it->second;
  }
  // A session's token removed or expired ends it.
  auto t = tokens_.valid(s->caller.token);
  if (!t) {
    closeSession(id);
    return std::nullopt;
  }
  s->caller.role = t->role;
  s->caller.user = t->user;
  return s;
}

void Gate::closeSession(const std::string& id) {
  std::lock_guard lock(mu_);
  sessions_.erase(id);
}

std::string Gate::cookie(const std::string& id) const {
  std::string c = fmt::format("{}={}; Path=/; HttpOnly; SameSite=Strict", kCookie, id);
  if (config_.secureCookies) c += "; Secure";
  c += id.empty() ? "; Max-Age=0" : fmt::format("; Max-Age={}", config_.sessionTtl.count());
  return c;
}

}  // namespace kuiga::master
