#pragma once
// The master's certificates, in DATA/pki/ (the directory 0700, keys 0600): the cluster CA,
// made at the first start; the gRPC endpoint's certificate, for the name nodes check
// ("kuiga-master", whatever address they dial); with --tls auto, the API's certificate for the
// host's names and addresses. Workers and plexers get client certificates signed by the CA,
// which name them: through enrollment with a join token, or (a worker in the master's own
// process, as in `kuiga up`) issued here directly.
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "pki/pki.hpp"

namespace kuiga::master {

// The name the gRPC endpoint's certificate carries and nodes expect.
inline constexpr const char* kRpcServerName = "kuiga-master";

struct NodeCredentials {
  std::string keyPem;
  std::string certPem;
  std::string caPem;
  std::string serial;
};

class ClusterPki {
 public:
  static Result<std::unique_ptr<ClusterPki>> open(const std::string& dir);

  [[nodiscard]] const pki::Ca& ca() const { return ca_; }
  // "sha256:<hex>" of the CA's public key: what join tokens carry.
  [[nodiscard]] const std::string& pin() const { return pin_; }
  [[nodiscard]] const std::string& rpcKey() const { return rpcKey_; }
  [[nodiscard]] const std::string& rpcCert() const { return rpcCert_; }
  // The API's key and certificate for `names` and `addresses` (--tls auto), kept in the
  // directory and made again when they no longer cover them or come near their end.
  Result<std::pair<std::string, std::string>> apiCertificate(
      const std::vector<std::string>& names, const std::vector<std::string>& addresses);
  // A node's certificate for its request, naming it.
  Result<pki::Signed> signNode(const std::string& csrPem, const std::string& name);
  // A node's key and certificate made here, for a worker in this process.
  Result<NodeCredentials> issueNode(const std::string& name);

 private:
  explicit ClusterPki(std::string dir) : dir_(std::move(dir)) {}
  // The key and certificate in `base`.key/.crt, made by `make` when missing or stale.
  Result<std::pair<std::string, std::string>> serverPair(const std::string& base,
                                                         const std::vector<std::string>& names,
                                                         const std::vector<std::string>& addresses);
  std::string dir_;
  pki::Ca ca_;
  std::string pin_;
  std::string rpcKey_, rpcCert_;
};

// This host's names and addresses, for --tls auto: its hostname (and FQDN), localhost, the
// addresses of its interfaces.
void hostNamesAndAddresses(std::vector<std::string>& names, std::vector<std::string>& addresses);

}  // namespace kuiga::master
