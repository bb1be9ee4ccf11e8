#include "pki/pki.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

#include <fmt/format.h>

#include "common/digest.hpp"

namespace kuiga::pki {

namespace {

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Req = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

// OpenSSL's reason for the last failure.
Error sslError(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return Error::msg(fmt::format("{}: {}", what, buf));
}

Bio memIn(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

template <class Fn>
std::string toPem(Fn&& write) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!write(bio.get())) return {};
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<Key> readKey(const std::string& pem) {
  auto bio = memIn(pem);
  Key k(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!k) return fail(sslError("read a private key"));
  return k;
}

Result<Cert> readCert(const std::string& pem) {
  auto bio = memIn(pem);
  Cert c(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!c) return fail(sslError("read a certificate"));
  return c;
}

std::string commonNameOf(X509_NAME* name) {
  char buf[256] = {0};
  int n = X509_NAME_get_text_by_NID(name, NID_commonName, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// A random positive 127-bit serial, as hex.
bool randomSerial(X509* cert, std::string& hex) {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) return false;
  raw[0] &= 0x7f;
  std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>> bn(BN_bin2bn(raw, sizeof raw, nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert))) return false;
  char* h = BN_bn2hex(bn.get());
  hex = h;
  OPENSSL_free(h);
  return true;
}

bool addExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

struct Draft {
  Cert cert;
  std::string serial;
};

// A certificate of `subjectCn` for `pub`, valid from an hour ago (clocks differ) for `days`.
Result<Draft> draft(const std::string& subjectCn, EVP_PKEY* pub, X509_NAME* issuer, int days) {
  Draft d{Cert(X509_new()), {}};
  X509* c = d.cert.get();
  if (!c || X509_set_version(c, 2) != 1 || !randomSerial(c, d.serial) ||
      !X509_gmtime_adj(X509_getm_notBefore(c), -3600) ||
      !X509_gmtime_adj(X509_getm_notAfter(c), static_cast<long>(days) * 86400) ||
      X509_set_pubkey(c, pub) != 1)
    return fail(sslError("make a certificate"));
  X509_NAME* subject = X509_get_subject_name(c);
  if (X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(subjectCn.c_str()), -1, -1,
                                 0) != 1 ||
      X509_set_issuer_name(c, issuer ? issuer : subject) != 1)
    return fail(sslError("name a certificate"));
  return d;
}

Result<Signed> finish(Draft d, X509* issuerCert, EVP_PKEY* issuerKey,
                      const std::vector<std::pair<int, std::string>>& exts) {
  X509* c = d.cert.get();
  for (const auto& [nid, value] : exts)
    if (!addExt(c, issuerCert ? issuerCert : c, nid, value))
      return fail(sslError("add extension " + value));
  if (X509_sign(c, issuerKey, EVP_sha256()) == 0) return fail(sslError("sign a certificate"));
  std::string pem = toPem([&](BIO* b) { return PEM_write_bio_X509(b, c) == 1; });
  if (pem.empty()) return fail(sslError("write a certificate"));
  return Signed{pem, d.serial};
}

}  // namespace

Result<std::string> newKey() {
  Key k(EVP_EC_gen("P-256"));
  if (!k) return fail(sslError("make an EC P-256 key"));
  std::string pem = toPem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, k.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  });
  if (pem.empty()) return fail(sslError("write a key"));
  return pem;
}

Result<std::string> newCsr(const std::string& keyPem, const std::string& commonName) {
  auto key = readKey(keyPem);
  if (!key) return fail(key.error());
  Req req(X509_REQ_new());
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(commonName.c_str()), -1, -1,
                                 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), key->get()) != 1 ||
      X509_REQ_sign(req.get(), key->get(), EVP_sha256()) == 0)
    return fail(sslError("make a certificate request"));
  std::string pem = toPem([&](BIO* b) { return PEM_write_bio_X509_REQ(b, req.get()) == 1; });
  if (pem.empty()) return fail(sslError("write a certificate request"));
  return pem;
}

Result<Ca> newCa(const std::string& commonName, int days) {
  auto keyPem = newKey();
  if (!keyPem) return fail(keyPem.error());
  auto key = readKey(*keyPem);
  if (!key) return fail(key.error());
  auto d = draft(commonName, key->get(), nullptr, days);
  if (!d) return fail(d.error());
  auto s = finish(std::move(*d), nullptr, key->get(),
                  {{NID_basic_constraints, "critical,CA:TRUE"},
                   {NID_key_usage, "critical,keyCertSign,cRLSign"},
                   {NID_subject_key_identifier, "hash"}});
  if (!s) return fail(s.error());
  return Ca{s->certPem, *keyPem};
}

Result<Signed> signClient(const Ca& ca, const std::string& csrPem, const std::string& name,
                          int days) {
  auto caCert = readCert(ca.certPem);
  auto caKey = readKey(ca.keyPem);
  if (!caCert || !caKey) return failMsg("the cluster CA cannot be read");
  auto bio = memIn(csrPem);
  Req req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) return fail(sslError("read the certificate request"));
  std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>> pub(X509_REQ_get_pubkey(req.get()));
  if (!pub || X509_REQ_verify(req.get(), pub.get()) != 1)
    return fail(sslError("the certificate request's signature"));
  std::string asked = commonNameOf(X509_REQ_get_subject_name(req.get()));
  if (asked != name)
    return failMsg(fmt::format("the certificate request names '{}', not '{}'", asked, name));
  auto d = draft(name, pub.get(), X509_get_subject_name(caCert->get()), days);
  if (!d) return fail(d.error());
  return finish(std::move(*d), caCert->get(), caKey->get(),
                {{NID_basic_constraints, "critical,CA:FALSE"},
                 {NID_key_usage, "critical,digitalSignature"},
                 {NID_ext_key_usage, "clientAuth"},
                 {NID_authority_key_identifier, "keyid:always"}});
}

Result<Signed> signServer(const Ca& ca, const std::string& keyPem,
                          const std::vector<std::string>& dnsNames,
                          const std::vector<std::string>& addresses, int days) {
  auto caCert = readCert(ca.certPem);
  auto caKey = readKey(ca.keyPem);
  auto key = readKey(keyPem);
  if (!caCert || !caKey || !key) return failMsg("the cluster CA or the server key cannot be read");
  std::string san;
  for (const auto& n : dnsNames) san += (san.empty() ? "DNS:" : ",DNS:") + n;
  for (const auto& a : addresses) san += (san.empty() ? "IP:" : ",IP:") + a;
  if (san.empty()) return failMsg("a server certificate needs a name or an address");
  auto d = draft(dnsNames.empty() ? addresses.front() : dnsNames.front(), key->get(),
                 X509_get_subject_name(caCert->get()), days);
  if (!d) return fail(d.error());
  return finish(std::move(*d), caCert->get(), caKey->get(),
                {{NID_basic_constraints, "critical,CA:FALSE"},
                 {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                 {NID_ext_key_usage, "serverAuth"},
                 {NID_subject_alt_name, san},
                 {NID_authority_key_identifier, "keyid:always"}});
}

Result<std::string> publicKeyPin(const std::string& certPem) {
  auto c = readCert(certPem);
  if (!c) return fail(c.error());
  unsigned char* der = nullptr;
  int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(c->get()), &der);
  if (n <= 0) return fail(sslError("encode a public key"));
  std::string hash = sha256Hex(std::string_view(reinterpret_cast<char*>(der), n));
  OPENSSL_free(der);
  return hash;  // sha256Hex says "sha256:" itself
}

Result<CertInfo> inspect(const std::string& certPem) {
  auto c = readCert(certPem);
  if (!c) return fail(c.error());
  CertInfo info;
  info.commonName = commonNameOf(X509_get_subject_name(c->get()));
  std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>> bn(
      ASN1_INTEGER_to_BN(X509_get0_serialNumber(c->get()), nullptr));
  if (bn) {
    char* h = BN_bn2hex(bn.get());
    info.serial = h;
    OPENSSL_free(h);
  }
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(c->get()), &tm) == 1) info.notAfter = timegm(&tm);
  return info;
}

VoidResult verify(const std::string& caPem, const std::string& certPem) {
  auto ca = readCert(caPem);
  auto c = readCert(certPem);
  if (!ca || !c) return failMsg("a certificate cannot be read");
  std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>> ctx(
      X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca->get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), c->get(), nullptr) != 1)
    return fail(sslError("verify a certificate"));
  if (X509_verify_cert(ctx.get()) != 1)
    return failMsg(fmt::format("the certificate is not the cluster's: {}",
                               X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()))));
  return {};
}

bool keyMatches(const std::string& keyPem, const std::string& certPem) {
  auto key = readKey(keyPem);
  auto c = readCert(certPem);
  return key && c && X509_check_private_key(c->get(), key->get()) == 1;
}

}  // namespace kuiga::pki
