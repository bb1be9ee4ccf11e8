#pragma once
// Which workers and plexers may hold a link to the master: each enrolls once with a join token
// (POST /api/v1/enroll: a certificate request for its name), gets a client certificate signed
// by the cluster CA that names it, and from then on holds its gRPC stream over mutual TLS. The
// master keeps the serial of the certificate each node holds now: a certificate for another
// name, an older one, or a revoked one is refused.
#include <string>

#include "master/api_error.hpp"
#include "master/auth/cluster_pki.hpp"

namespace kuiga::master {

class Store;

// A node's name: 1 to 64 of [A-Za-z0-9._-] (it becomes a certificate's CN and a path part).
bool validNodeName(const std::string& name);

class Enrollment {
 public:
  Enrollment(ClusterPki& pki, Store& store) : pki_(pki), store_(store) {}
  // Signs a node's request for its name; the node's older certificate is refused from now on.
  ApiResult<pki::Signed> enroll(const std::string& name, const std::string& csrPem);
  // Credentials for a node in the master's own process (kuiga up), recorded as enrolled.
  Result<NodeCredentials> issueLocal(const std::string& name);
  // Whether the certificate a peer presented is the one `name` holds now (name "" for any
  // node's). The reason when it is not.
  ApiResult<std::string> check(const std::string& certPem, const std::string& name);
  // Refuses the node's certificate from now on (it may enroll again with a join token).
  ApiResult<void> revoke(const std::string& name);
  ClusterPki& pki() { return pki_; }

 private:
  ClusterPki& pki_;
  Store& store_;
};

}  // namespace kuiga::master
