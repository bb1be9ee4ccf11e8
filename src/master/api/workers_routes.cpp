// Workers and plexers: what a node needs to join (public: it checks it against its join
// token), its enrollment, the listing, and an admin's removal or revocation of one.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "master/api/api_common.hpp"
#include "master/auth/enrollment.hpp"
#include "master/views.hpp"

namespace kuiga::master::api {

namespace {

using namespace doc;

json object() {
  return {{"type", "object"}};
}

// POST /enroll {"name": ..., "csr": PEM}: the node's certificate, signed by the cluster CA.
http::Response enroll(RunService& m, Enrollment& e, const HttpApiConfig& cfg,
                      const http::Request& req, const Caller& who) {
  auto j = parseJson(req.body);
  if (!j) return replyError(j.error());
  if (!j->is_object() || !j->contains("name") || !(*j)["name"].is_string() || !j->contains("csr") ||
      !(*j)["csr"].is_string())
    return replyError(
        ApiError::badRequest(R"(send {"name": "the node's name", "csr": "PEM request"})"));
  auto cert = e.enroll((*j)["name"], (*j)["csr"]);
  if (!cert) return replyError(cert.error());
  spdlog::info("node {} enrolled with join token '{}' from {}", (*j)["name"].get<std::string>(),
               who.token, req.peer);
  return reply(201, {{"certificate", cert->certPem},
                     {"ca", e.pki().ca().certPem},
                     {"rpc_port", cfg.rpcPort},
                     {"cluster_id", m.clusterId()}});
}

http::Response removeWorker(RunService& m, Enrollment& e, const http::Request& req) {
  const std::string& name = req.params[0];
  if (req.arg("revoke") == "1" || req.arg("revoke") == "true") {
    if (auto r = e.revoke(name); !r) return replyError(r.error());
    m.dropWorker(name, "its certificate was revoked");
  }
  if (auto r = m.forgetWorker(name); !r && r.error().status != 404) return replyError(r.error());
  return reply(200, {{"removed", name}});
}

}  // namespace

Routes workerRoutes(Context& c) {
  RunService& m = c.runs;
  Enrollment& e = c.enrollment;
  const HttpApiConfig& cfg = c.config;
  Routes r;
  // What a worker or plexer needs before it holds its link: public, as kubeadm's cluster-info
  // is; a node checks the CA against the hash its join token carries before it trusts it.
  r.push_back({"GET", "/api/v1/cluster/join", Role::Public, Scope::None,
               op("What a node needs to join: the cluster CA (check it against the join "
                  "token's hash), the cluster id and where nodes connect",
                  {{"200", ok("join", object())}}),
               [&m, &e, &cfg](http::Request&, const Caller&) {
                 return reply(200, {{"rpc_port", cfg.rpcPort},
                                    {"cluster_id", m.clusterId()},
                                    {"ca", e.pki().ca().certPem},
                                    {"ca_pin", e.pki().pin()}});
               },
               http::Body::None, true});
  json csr = {{"type", "object"},
              {"required", {"name", "csr"}},
              {"properties", {{"name", {{"type", "string"}}}, {"csr", {{"type", "string"}}}}}};
  r.push_back(
      {"POST", "/api/v1/enroll", Role::Join, Scope::None,
       op("A worker's or plexer's certificate for its name, with a join token",
          with({{"201", ok("certificate", object())}}, {400}), {{"requestBody", jsonBody(csr)}}),
       [&m, &e, &cfg](http::Request& req, const Caller& who) {
         return enroll(m, e, cfg, req, who);
       },
       http::Body::Text});
  r.push_back({"GET", "/api/v1/workers", Role::User, Scope::None,
               op("Workers with capacity and health",
                  {{"200", ok("workers", {{"type", "array"}, {"items", ref("Worker")}})}}),
               [&m](http::Request&, const Caller&) {
                 return answer(m.workers(), 200, [](const std::vector<WorkerView>& v) {
                   json a = json::array();
                   for (const auto& w : v) a.push_back(toJson(w));
                   return a;
                 });
               }});
  r.push_back(
      {"DELETE", "/api/v1/workers/{name}", Role::Admin, Scope::None,
       op("Forget an offline worker; with revoke=1, refuse its certificate from now "
          "on and end its session",
          with({{"200", ok("removed", object())}}, {404, 409}),
          {{"parameters",
            {param("name", "path", "string"), param("revoke", "query", "integer", false)}}}),
       [&m, &e](http::Request& req, const Caller&) { return removeWorker(m, e, req); }});
  return r;
}

}  // namespace kuiga::master::api
