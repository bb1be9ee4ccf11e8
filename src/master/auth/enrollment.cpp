#include "master/auth/enrollment.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "master/run_service_internal.hpp"
#include "master/store.hpp"

namespace kuiga::master {

bool validNodeName(const std::string& name) {
  return !name.empty() && name.size() <= 64 && name != kRpcServerName &&
         std::all_of(name.begin(), name.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '.' || c == '_' || c == '-';
         });
}

ApiResult<pki::Signed> Enrollment::enroll(const std::string& name, const std::string& csrPem) {
  if (!validNodeName(name))
    return apiFail(ApiError::badRequest("a node's name is 1 to 64 of A-Z a-z 0-9 . _ -"));
  auto cert = pki_.signNode(csrPem, name);
  if (!cert) return apiFail(ApiError::badRequest(cert.error().message));
  if (auto r = store_.setNodeCert(name, cert->serial, nowNs()); !r)
    return apiFail(storeError(r.error()));
  spdlog::info("node {} enrolled (certificate {})", name, cert->serial);
  return *cert;
}

Result<NodeCredentials> Enrollment::issueLocal(const std::string& name) {
  auto creds = pki_.issueNode(name);
  if (!creds) return fail(creds.error());
  KUIGA_TRY(store_.setNodeCert(name, creds->serial, nowNs()), "record " + name);
  return creds;
}

ApiResult<std::string> Enrollment::check(const std::string& certPem, const std::string& name) {
  auto info = pki::inspect(certPem);
  if (!info) return apiFail({401, "unauthorized", "no readable client certificate"});
  if (!name.empty() && info->commonName != name)
    return apiFail({403, "forbidden",
                    fmt::format("the certificate names '{}', not '{}'", info->commonName, name)});
  auto held = store_.nodeCert(info->commonName);
  if (!held) return apiFail(storeError(held.error()));
  if (!*held || (*held)->serial != info->serial)
    return apiFail(
        {403, "forbidden",
         fmt::format("'{}' holds another certificate now (enrolled again?)", info->commonName)});
  if ((*held)->revoked)
    return apiFail(
        {403, "forbidden", fmt::format("the certificate of '{}' was revoked", info->commonName)});
  return info->commonName;
}

ApiResult<void> Enrollment::revoke(const std::string& name) {
  auto held = store_.nodeCert(name);
  if (!held) return apiFail(storeError(held.error()));
  if (!*held) return apiFail(ApiError::notFound("no enrolled node '" + name + "'"));
  if (auto r = store_.revokeNodeCert(name); !r) return apiFail(storeError(r.error()));
  spdlog::warn("node {}: certificate {} revoked", name, (*held)->serial);
  return {};
}

}  // namespace kuiga::master
