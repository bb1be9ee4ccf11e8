// Access: tokens (an admin's to make, list and remove) and Kuiga Web's sessions (a browser logs
// in with a token and gets an HttpOnly cookie and a CSRF token).
#include <fmt/format.h>

#include "master/api/api_common.hpp"
#include "master/views.hpp"

namespace kuiga::master::api {

namespace {

using namespace doc;

json toJson(const Token& t) {
  return {{"name", t.name},
          {"user", t.user},
          {"role", toString(t.role)},
          {"created", isoTime(t.createdNs)},
          {"expires", t.expiresNs ? json(isoTime(t.expiresNs)) : json(nullptr)}};
}

ApiResult<std::string> optionalString(const json& j, const char* key) {
  if (!j.contains(key)) return std::string();
  if (!j[key].is_string())
    return apiFail(ApiError::badRequest(fmt::format("'{}' is a string", key)));
  return j[key].get<std::string>();
}

http::Response createToken(Gate& gate, const std::string& joinPin, const http::Request& req) {
  auto j = parseJson(req.body);
  if (!j) return replyError(j.error());
  if (!j->is_object() || !j->contains("name") || !(*j)["name"].is_string())
    return replyError(ApiError::badRequest(
        R"(send {"name": "...", "role": "admin|user|metrics|join", "expires": "30d"})"));
  auto roleName = optionalString(*j, "role");
  auto user = optionalString(*j, "user");
  auto expires = optionalString(*j, "expires");
  for (const auto* r : {&roleName, &user, &expires})
    if (!*r) return replyError(r->error());
  auto role = parseRole(roleName->empty() ? "user" : *roleName);
  if (!role)
    return replyError(
        ApiError::badRequest("'role' is admin, user, metrics or join, not '" + *roleName + "'"));
  // A join token lets a machine into the cluster: a day, unless said otherwise.
  if (*role == Role::Join && expires->empty()) *expires = "1d";
  auto ttl = parseDuration(*expires);
  if (!ttl) return replyError(ApiError::badRequest(ttl.error().message));
  if (*role == Role::Join && user->size())
    return replyError(ApiError::badRequest("a join token has no user"));
  auto made = gate.tokens().create((*j)["name"], *role, *user, *ttl, joinPin);
  if (!made) return replyError(made.error());
  json out = toJson(made->token);
  out["token"] = made->secret;
  return reply(201, out);
}

json tokenDoc() {
  return {{"type", "object"},
          {"properties",
           {{"name", {{"type", "string"}}},
            {"user", {{"type", "string"}}},
            {"role", {{"type", "string"}, {"enum", {"admin", "user", "metrics", "join"}}}},
            {"created", {{"type", "string"}}},
            {"expires", {{"type", "string"}, {"nullable", true}}}}}};
}

json sessionBody(const Session& s) {
  return {{"token", s.caller.token},
          {"user", s.caller.user},
          {"role", toString(s.caller.role)},
          {"csrf", s.csrf}};
}

}  // namespace

Routes accessRoutes(Context& c) {
  Gate& gate = c.gate;
  Routes r;
  json newToken = tokenDoc();
  newToken["properties"]["token"] = {{"type", "string"},
                                     {"description", "the token itself, shown only now"}};
  r.push_back(
      {"POST", "/api/v1/tokens", Role::Admin, Scope::None,
       op("Make a token (its secret is in this answer only)",
          with({{"201", ok("token", newToken)}}, {400, 409}),
          {{"requestBody", jsonBody({{"type", "object"},
                                     {"required", {"name"}},
                                     {"properties",
                                      {{"name", {{"type", "string"}}},
                                       {"role", {{"type", "string"}}},
                                       {"user", {{"type", "string"}}},
                                       {"expires", {{"type", "string"}, {"example", "30d"}}}}}})}}),
       [&gate, &pin = c.joinPin()](http::Request& req, const Caller&) {
         return createToken(gate, pin, req);
       },
       http::Body::Text});
  r.push_back({"GET", "/api/v1/tokens", Role::Admin, Scope::None,
               op("The tokens (never their secrets)",
                  {{"200", ok("tokens", {{"type", "array"}, {"items", tokenDoc()}})}}),
               [&gate](http::Request&, const Caller&) {
                 json a = json::array();
                 for (const auto& t : gate.tokens().list()) a.push_back(toJson(t));
                 return reply(200, a);
               }});
  r.push_back({"DELETE", "/api/v1/tokens/{name}", Role::Admin, Scope::None,
               op("Remove a token: it fails at once, and so do the sessions made with it",
                  with({{"200", ok("removed", {{"type", "object"}})}}, {404, 409}),
                  {{"parameters", {param("name", "path", "string")}}}),
               [&gate](http::Request& req, const Caller&) {
                 if (auto gone = gate.tokens().remove(req.params[0]); !gone)
                   return replyError(gone.error());
                 return reply(200, {{"removed", req.params[0]}});
               }});
  json session = {{"type", "object"},
                  {"properties",
                   {{"token", {{"type", "string"}}},
                    {"user", {{"type", "string"}}},
                    {"role", {{"type", "string"}}},
                    {"csrf", {{"type", "string"}, {"nullable", true}}}}}};
  r.push_back({"POST", "/api/v1/session", Role::User, Scope::None,
               op("Kuiga Web's login: a session cookie for the bearer token, and its CSRF token",
                  with({{"201", ok("session", session)}}, {400, 401, 429})),
               [&gate](http::Request& req, const Caller& who) {
                 auto s = gate.openSession(req, who);
                 if (!s) return replyError(s.error());
                 auto res = reply(201, sessionBody(*s));
                 res.headers.emplace_back("Set-Cookie", gate.cookie(s->id));
                 return res;
               }});
  r.push_back({"GET", "/api/v1/session", Role::User, Scope::None,
               op("Who the caller is (and the session's CSRF token, through a session)",
                  {{"200", ok("session", session)}}),
               [&gate](http::Request&, const Caller& who) {
                 if (auto s = gate.session(who.session)) return reply(200, sessionBody(*s));
                 return reply(200, {{"token", who.token},
                                    {"user", who.user},
                                    {"role", toString(who.role)},
                                    {"csrf", nullptr}});
               }});
  r.push_back({"DELETE", "/api/v1/session", Role::User, Scope::None,
               op("Log out: the session ends", {{"200", ok("ended", {{"type", "object"}})}}),
               [&gate](http::Request&, const Caller& who) {
                 gate.closeSession(who.session);
                 auto res = reply(200, {{"ended", !who.session.empty()}});
                 res.headers.emplace_back("Set-Cookie", gate.cookie(""));
                 return res;
               }});
  return r;
}

}  // namespace kuiga::master::api
