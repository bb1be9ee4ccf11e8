// The authorization check, made for each route from its entry in the route table: who the
// caller is (Gate), whether their role may call the route, whether a session's change carries
// its CSRF token, and whether what the path names is theirs. Only then does the handler run.
#include <fmt/format.h>

#include "master/api/api_common.hpp"
#include "master/test_service.hpp"

namespace kuiga::master::api {

bool allows(Role needed, Role has) {
  switch (needed) {
    case Role::Public:
      return true;
    case Role::User:
      return has == Role::User || has == Role::Admin;
    case Role::Admin:
      return has == Role::Admin;
    case Role::Metrics:
      return has == Role::Metrics || has == Role::Admin;
    case Role::Join:
      return has == Role::Join;
  }
  return false;
}

namespace {

// 404 when what the path names is not the caller's: to them it does not exist.
ApiResult<void> inScope(const Owners& o, Scope scope, const http::Request& req, const Caller& who) {
  if (scope == Scope::None || who.admin()) return {};
  RunService& m = o.runs;
  ImageService& images = o.images;
  if (scope == Scope::Test) {
    auto id = testIdOf(req);
    if (!id) return apiFail(id.error());
    auto owner = o.tests.owner(*id);
    if (!owner) return apiFail(owner.error());
    if (*owner != who.user) return apiFail(ApiError::notFound(fmt::format("no test {}", *id)));
    return {};
  }
  if (scope == Scope::Run) {
    auto id = runIdOf(req);
    if (!id) return apiFail(id.error());
    auto owner = m.runOwner(*id);
    if (!owner) return apiFail(owner.error());
    if (*owner != who.user) return apiFail(ApiError::notFound(fmt::format("no run {}", *id)));
    return {};
  }
  const std::string& digest = req.params.at(0);
  if (!images.ownsImage(digest, who.user)) return apiFail(ApiError::notFound("no image " + digest));
  return {};
}

}  // namespace

// 403 when the caller's role may not call the route.
ApiResult<void> mayCall(const ApiRoute& r, const http::Request& req, const Caller& who) {
  if (r.role == Role::Public || allows(r.role, who.role)) return {};
  return apiFail(ApiError{403, "forbidden",
                          fmt::format("{} {} needs a token of role {} (this one is {})", req.method,
                                      req.label, toString(r.role), toString(who.role))});
}

http::Response authorizedCall(const ApiRoute& r, const Owners& owners, http::Request& req,
                              const Caller& who) {
  if (auto may = mayCall(r, req, who); !may) return replyError(may.error());
  if (auto mine = inScope(owners, r.scope, req, who); !mine) return replyError(mine.error());
  return r.handler(req, who);
}

http::Route authorized(ApiRoute r, Gate& gate, const Owners& owners) {
  http::Route out{r.method, r.pattern, {}, r.body, r.inlined};
  if (r.role == Role::Public) {
    out.handler = [h = std::move(r.handler)](http::Request& req) { return h(req, Caller{}); };
    return out;
  }
  out.handler = [r = std::move(r), &gate, owners](http::Request& req) {
    auto who = gate.authenticate(req);
    if (!who) return replyError(who.error());
    // The role first, then the session's CSRF token, then the rest (authorizedCall).
    if (auto may = mayCall(r, req, *who); !may) return replyError(may.error());
    if (auto csrf = gate.checkCsrf(req, *who); !csrf) return replyError(csrf.error());
    return authorizedCall(r, owners, req, *who);
  };
  return out;
}

}  // namespace kuiga::master::api
