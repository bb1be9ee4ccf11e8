#pragma once
// The cluster's certificates, through OpenSSL's X.509 and EVP interfaces (no cryptography by
// hand): an EC P-256 key per party, a cluster CA that the master keeps, server certificates for
// the master's API and gRPC endpoint, and client certificates that name exactly one worker or
// plexer (its name as the subject's CN, client authentication only). A CA is pinned by the
// SHA-256 of its public key (DER SubjectPublicKeyInfo), as kubeadm's discovery hash is.
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace kuiga::pki {

// A new EC P-256 private key, PEM (PKCS#8).
Result<std::string> newKey();
// A certificate signing request for `commonName`, signed with `keyPem`.
Result<std::string> newCsr(const std::string& keyPem, const std::string& commonName);

struct Ca {
  std::string certPem;
  std::string keyPem;
};
// A self-signed CA, valid for `days`.
Result<Ca> newCa(const std::string& commonName, int days);

struct Signed {
  std::string certPem;
  std::string serial;  // hex
};
// A client certificate for the CSR's key, named `name` (the CSR must ask for that CN).
Result<Signed> signClient(const Ca& ca, const std::string& csrPem, const std::string& name,
                          int days);
// A server certificate for `keyPem`, valid for the DNS names and IP addresses given.
Result<Signed> signServer(const Ca& ca, const std::string& keyPem,
                          const std::vector<std::string>& dnsNames,
                          const std::vector<std::string>& addresses, int days);

// "sha256:<64 hex>" of a certificate's public key (its DER SubjectPublicKeyInfo).
Result<std::string> publicKeyPin(const std::string& certPem);

struct CertInfo {
  std::string commonName;
  std::string serial;    // hex
  int64_t notAfter = 0;  // Unix seconds
};
Result<CertInfo> inspect(const std::string& certPem);
// Whether `certPem` was signed by the CA and is valid now.
VoidResult verify(const std::string& caPem, const std::string& certPem);
// Whether `keyPem` is the private key of `certPem`.
bool keyMatches(const std::string& keyPem, const std::string& certPem);

}  // namespace kuiga::pki
