#include "master/auth/cluster_pki.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sys/file.hpp"

namespace kuiga::master {

namespace {

constexpr int kCaDays = 3650;
constexpr int kCertDays = 365;
constexpr int64_t kRenewBefore = 30 * 86400;  // a certificate this close to its end is made anew

// Whether a stored server certificate still serves: signed by this CA, far from its end, and
// made for exactly these names and addresses (kept beside it).
bool fresh(const pki::Ca& ca, const std::string& cert, const std::string& key,
           const std::string& coverage, const std::string& wanted) {
  if (!pki::verify(ca.certPem, cert) || !pki::keyMatches(key, cert) || coverage != wanted)
    return false;
  auto info = pki::inspect(cert);
  return info && info->notAfter - ::time(nullptr) > kRenewBefore;
}

}  // namespace

Result<std::unique_ptr<ClusterPki>> ClusterPki::open(const std::string& dir) {
  KUIGA_TRY(sys::makePrivateDir(dir), "the master's certificates");
  std::unique_ptr<ClusterPki> p(new ClusterPki(dir));
  auto cert = sys::readFile(dir + "/ca.crt");
  auto key = sys::readFile(dir + "/ca.key");
  if (cert && key) {
    p->ca_ = {*cert, *key};
  } else if (!sys::exists(dir + "/ca.crt") && !sys::exists(dir + "/ca.key")) {
    auto ca = pki::newCa("Kuiga Box cluster CA", kCaDays);
    if (!ca) return fail(ca.error().context("make the cluster CA"));
    KUIGA_TRY(sys::replaceFile(dir + "/ca.key", ca->keyPem, 0600), "save the cluster CA");
    KUIGA_TRY(sys::replaceFile(dir + "/ca.crt", ca->certPem, 0644), "save the cluster CA");
    p->ca_ = *ca;
    spdlog::info("cluster CA made in {}", dir);
  } else {
    return failMsg(fmt::format("{}: ca.crt or ca.key is missing; both or neither", dir));
  }
  auto pin = pki::publicKeyPin(p->ca_.certPem);
  if (!pin) return fail(pin.error().context(dir + "/ca.crt"));
  p->pin_ = *pin;
  auto rpc = p->serverPair("rpc", {kRpcServerName}, {});
  if (!rpc) return fail(rpc.error());
  std::tie(p->rpcKey_, p->rpcCert_) = *rpc;
  return p;
}

Result<std::pair<std::string, std::string>> ClusterPki::serverPair(
    const std::string& base, const std::vector<std::string>& names,
    const std::vector<std::string>& addresses) {
  std::string wanted;
  for (const auto& n : names) wanted += "DNS:" + n + "\n";
  for (const auto& a : addresses) wanted += "IP:" + a + "\n";
  const std::string path = dir_ + "/" + base;
  auto cert = sys::readFile(path + ".crt");
  auto key = sys::readFile(path + ".key");
  auto coverage = sys::readFile(path + ".names");
  if (cert && key && coverage && fresh(ca_, *cert, *key, *coverage, wanted))
    return std::make_pair(*key, *cert);
  auto newKey = pki::newKey();
  if (!newKey) return fail(newKey.error());
  auto made = pki::signServer(ca_, *newKey, names, addresses, kCertDays);
  if (!made) return fail(made.error().context("make the " + base + " certificate"));
  KUIGA_TRY(sys::replaceFile(path + ".key", *newKey, 0600), "save " + path + ".key");
  KUIGA_TRY(sys::replaceFile(path + ".crt", made->certPem, 0644), "save " + path + ".crt");
  KUIGA_TRY(sys::replaceFile(path + ".names", wanted, 0644), "save " + path + ".names");
  return std::make_pair(*newKey, made->certPem);
}

Result<std::pair<std::string, std::string>> ClusterPki::apiCertificate(
    const std::vector<std::string>& names, const std::vector<std::string>& addresses) {
  return serverPair("api", names, addresses);
}

Result<pki::Signed> ClusterPki::signNode(const std::string& csrPem, const std::string& name) {
  return pki::signClient(ca_, csrPem, name, kCertDays);
}

Result<NodeCredentials> ClusterPki::issueNode(const std::string& name) {
  auto key = pki::newKey();
  if (!key) return fail(key.error());
  auto csr = pki::newCsr(*key, name);
  if (!csr) return fail(csr.error());
  auto cert = signNode(*csr, name);
  if (!cert) return fail(cert.error());
  return NodeCredentials{*key, cert->certPem, ca_.certPem, cert->serial};
}

void hostNamesAndAddresses(std::vector<std::string>& names, std::vector<std::string>& addresses) {
  names = {"localhost"};
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) == 0 && *host) {
    names.emplace_back(host);
    addrinfo hints{};
    hints.ai_flags = AI_CANONNAME;
    addrinfo* info = nullptr;
    if (::getaddrinfo(host, nullptr, &hints, &info) == 0 && info) {
      if (info->ai_canonname && std::string(info->ai_canonname) != host)
        names.emplace_back(info->ai_canonname);
      ::freeaddrinfo(info);
    }
  }
  addresses.clear();
  ifaddrs* ifs = nullptr;
  if (::getifaddrs(&ifs) == 0) {
    for (ifaddrs* i = ifs; i; i = i->ifa_next) {
      if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
      char buf[INET6_ADDRSTRLEN] = {0};
      if (i->ifa_addr->sa_family == AF_INET)
        ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf,
                    sizeof buf);
      else if (i->ifa_addr->sa_family == AF_INET6 &&
               !IN6_IS_ADDR_LINKLOCAL(&reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr))
        ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, buf,
                    sizeof buf);
      if (*buf && std::find(addresses.begin(), addresses.end(), buf) == addresses.end())
        addresses.emplace_back(buf);
    }
    ::freeifaddrs(ifs);
  }
  std::sort(addresses.begin(), addresses.end());
}

}  // namespace kuiga::master
