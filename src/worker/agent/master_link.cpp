#include "worker/agent/master_link.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "client/api_client.hpp"
#include "common/digest.hpp"
#include "pki/pki.hpp"
#include "rpc/control.grpc.pb.h"
#include "sys/file.hpp"

namespace kuiga::worker {

namespace fs = std::filesystem;

// The name on the master's gRPC certificate, whatever address a node dials.
constexpr const char* kRpcServerName = "kuiga-master";

Result<std::string> joinTokenPin(const std::string& token) {
  // kgj_<64 hex>_<secret>
  if (token.size() < 4 + 64 + 2 || token.compare(0, 4, "kgj_") != 0 || token[4 + 64] != '_')
    return failMsg("not a join token (kuiga token create --role join makes one: kgj_...)");
  std::string hex = token.substr(4, 64);
  if (hex.find_first_not_of("0123456789abcdef") != std::string::npos)
    return failMsg("not a join token: its CA hash is not hex");
  return "sha256:" + hex;
}

MasterLink::MasterLink(MasterLinkConfig config) : config_(std::move(config)) {
  if (config_.credentials) creds_ = config_.credentials;
}
MasterLink::~MasterLink() = default;

// "https://host:port/..." -> "host" (an IPv6 literal keeps its brackets).
static std::string hostOf(std::string url) {
  if (auto p = url.find("://"); p != std::string::npos) url = url.substr(p + 3);
  if (auto p = url.find('/'); p != std::string::npos) url = url.substr(0, p);
  if (auto b = url.find("]:"); b != std::string::npos) return url.substr(0, b + 1);
  if (auto p = url.rfind(':'); p != std::string::npos && url.find(']') == std::string::npos)
    url = url.substr(0, p);
  return url;
}

Result<nlohmann::json> MasterLink::joinInfo(const std::string& verifyWith) {
  client::ApiClient api(config_.url, {}, config_.apiCaPem.empty() ? verifyWith : config_.apiCaPem);
  if (verifyWith.empty() && config_.apiCaPem.empty()) api.setVerify(false);
  auto j = api.get("/api/v1/cluster/join");
  if (!j) return fail(j.error());
  if (!j->is_object() || !j->contains("rpc_port") || !(*j)["rpc_port"].is_number_integer())
    return failMsg(config_.url + " is not a Kuiga master");
  return j;
}

Result<NodeCredentials> MasterLink::enroll() {
  if (config_.joinToken.empty())
    return failMsg(fmt::format(
        "node {} has no certificate in {}/pki: give it a join token (kuiga token create "
        "--role join; kuiga worker --join-token ...)",
        config_.name, config_.stateDir));
  auto pin = joinTokenPin(config_.joinToken);
  if (!pin) return fail(pin.error());
  // The CA as the master says it is, checked against the token before anything is sent.
  auto info = joinInfo("");
  if (!info) return fail(info.error().context("enroll"));
  std::string ca = (*info).value("ca", "");
  auto got = pki::publicKeyPin(ca);
  if (!got || *got != *pin)
    return failMsg(fmt::format(
        "enroll: the master's CA ({}) is not the one the join token names ({}): a wrong "
        "master, or someone in between; nothing was sent",
        got ? *got : "unreadable", *pin));
  auto key = pki::newKey();
  if (!key) return fail(key.error());
  auto csr = pki::newCsr(*key, config_.name);
  if (!csr) return fail(csr.error());
  client::ApiClient api(config_.url, config_.joinToken,
                        config_.apiCaPem.empty() ? ca : config_.apiCaPem);
  auto r = api.post("/api/v1/enroll", {{"name", config_.name}, {"csr", *csr}});
  if (!r) return fail(r.error().context("enroll " + config_.name));
  NodeCredentials c{*key, (*r).value("certificate", ""), ca};
  if (!pki::verify(ca, c.certPem) || !pki::keyMatches(c.keyPem, c.certPem))
    return failMsg("enroll: the master answered with a certificate that is not for this key");
  const std::string dir = config_.stateDir + "/pki";
  KUIGA_TRY(sys::makePrivateDir(dir), "keep the node's certificate");
  KUIGA_TRY(sys::replaceFile(dir + "/node.key", c.keyPem, 0600), "keep the node's key");
  KUIGA_TRY(sys::replaceFile(dir + "/node.crt", c.certPem, 0644), "keep the node's certificate");
  KUIGA_TRY(sys::replaceFile(dir + "/ca.crt", c.caPem, 0644), "keep the cluster CA");
  spdlog::info("{}: enrolled with {}; certificate in {}", config_.name, config_.url, dir);
  return c;
}

Result<NodeCredentials> MasterLink::credentials() {
  {
    std::lock_guard lock(mu_);
    if (creds_) return *creds_;
  }
  const std::string dir = config_.stateDir + "/pki";
  auto key = sys::readFile(dir + "/node.key");
  auto cert = sys::readFile(dir + "/node.crt");
  auto ca = sys::readFile(dir + "/ca.crt");
  Result<NodeCredentials> c = failMsg("none kept");
  if (key && cert && ca) {
    auto info = pki::inspect(*cert);
    if (info && info->commonName == config_.name && pki::keyMatches(*key, *cert))
      c = NodeCredentials{*key, *cert, *ca};
    else
      spdlog::warn("{}: the certificate in {} is not this node's; enrolling again", config_.name,
                   dir);
  }
  if (!c) c = enroll();
  if (!c) return c;
  std::lock_guard lock(mu_);
  creds_ = *c;
  return c;
}

void MasterLink::rejoin(std::string joinToken) {
  std::lock_guard lock(mu_);
  config_.joinToken = std::move(joinToken);
}

Result<MasterEndpoint> MasterLink::discover() {
  auto creds = credentials();
  if (!creds) return fail(creds.error());
  auto j = joinInfo(creds->caPem);
  if (!j) return fail(j.error());
  if (std::string ca = (*j).value("ca", ""); ca != creds->caPem) {
    // Another cluster (a master started anew): only a join token of that cluster lets the node
    // in, by enrolling again.
    auto pin = joinTokenPin(config_.joinToken);
    auto served = pki::publicKeyPin(ca);
    if (!pin || !served || *pin != *served)
      return failMsg(
          fmt::format("{} serves another cluster's CA than this node's: the node "
                      "belongs to another master (give it a join token of this one)",
                      config_.url));
    spdlog::warn("{}: {} is another cluster now; enrolling with it", config_.name, config_.url);
    auto fresh = enroll();
    if (!fresh) return fail(fresh.error());
    std::lock_guard lock(mu_);
    creds_ = *fresh;
    channel_.reset();
  }
  MasterEndpoint ep;
  ep.rpc = fmt::format("{}:{}", hostOf(config_.url), (*j)["rpc_port"].get<int>());
  if ((*j).contains("cluster_id") && (*j)["cluster_id"].is_string())
    ep.clusterId = (*j)["cluster_id"];
  std::lock_guard lock(mu_);
  if (ep.rpc != target_) channel_.reset();
  target_ = ep.rpc;
  return ep;
}

Result<std::shared_ptr<grpc::Channel>> MasterLink::channel() {
  std::string target;
  {
    std::lock_guard lock(mu_);
    if (channel_) return channel_;
    target = target_;
  }
  if (target.empty()) {
    auto ep = discover();
    if (!ep) return fail(ep.error());
    target = ep->rpc;
  }
  auto creds = credentials();
  if (!creds) return fail(creds.error());
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetMaxSendMessageSize(256 << 20);
  // The master's certificate names the endpoint, not an address: any address a node dials.
  args.SetSslTargetNameOverride(kRpcServerName);
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = creds->caPem;
  tls.pem_private_key = creds->keyPem;
  tls.pem_cert_chain = creds->certPem;
  std::lock_guard lock(mu_);
  channel_ = grpc::CreateCustomChannel(target, grpc::SslCredentials(tls), args);
  return channel_;
}

VoidResult LinkBlobSource::fetch(const std::string& digest, const std::string& destPath) {
  if (!isDigest(digest)) return failMsg("bad digest '" + digest + "'");
  auto channel = link_.channel();
  if (!channel) return fail(channel.error().context("fetch blob " + digest));
  std::string tmp = destPath + ".part";
  auto out = sys::openFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (!out) return fail(out.error().context("fetch blob " + digest));
  auto stub = rpc::Control::NewStub(*channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  rpc::BlobRequest req;
  req.set_digest(digest);
  req.set_node(link_.name());
  auto reader = stub->Blob(&ctx, req);
  Sha256 h;
  int writeErr = 0;  // errno of a failed write: the real cause (a full disk, say)
  rpc::BlobChunk chunk;
  while (reader->Read(&chunk)) {
    h.update(chunk.data().data(), chunk.data().size());
    if (auto w = sys::writeAll(out->get(), chunk.data().data(), chunk.data().size()); !w) {
      writeErr = w.error().code ? w.error().code : EIO;
      ctx.TryCancel();
      break;
    }
  }
  grpc::Status st = reader->Finish();
  if (writeErr == 0 && ::close(out->release()) < 0) writeErr = errno;
  std::error_code ec;
  if (writeErr) {
    fs::remove(tmp, ec);
    return fail(
        Error{fmt::format("{} while writing blob {} to '{}'", std::strerror(writeErr), digest, tmp),
              writeErr});
  }
  if (!st.ok()) {
    fs::remove(tmp, ec);
    return failMsg(fmt::format("blob {} from the master: {}", digest, st.error_message()));
  }
  if (std::string got = h.finish(); got != digest) {
    fs::remove(tmp, ec);
    return failMsg(fmt::format("blob {} arrived with digest {}: refused", digest, got));
  }
  fs::rename(tmp, destPath, ec);
  if (ec) return failMsg(fmt::format("rename '{}': {}", tmp, ec.message()));
  return {};
}

}  // namespace kuiga::worker
