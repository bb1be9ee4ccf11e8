#include "master/rpc_server.hpp"

#include <condition_variable>
#include <fstream>
#include <mutex>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "common/digest.hpp"
#include "master/auth/enrollment.hpp"
#include "rpc/control.grpc.pb.h"

namespace kuiga::master {

namespace {

using Stream = grpc::ServerReaderWriter<rpc::MasterMessage, rpc::WorkerMessage>;

// Writes to one worker's stream; usable only while Connect() for it runs. Nothing goes before
// the reply to its registration: registering spawns work (radio peers, creates, starts) that
// sends commands at once, and a worker whose first message is not `registered` drops the
// stream.
class StreamLink final : public WorkerLink {
 public:
  StreamLink(Stream* stream, std::string peer) : stream_(stream), peer_(std::move(peer)) {}
  bool send(const rpc::MasterMessage& msg) override {
    std::unique_lock lock(mu_);
    opened_.wait(lock, [&] { return registered_ || !stream_; });
    return stream_ && stream_->Write(msg);
  }
  // The reply to the registration, which opens the link to every other message.
  bool sendRegistered(const rpc::MasterMessage& msg) {
    std::lock_guard lock(mu_);
    registered_ = true;
    opened_.notify_all();
    return stream_ && stream_->Write(msg);
  }
  std::string peer() const override { return peer_; }
  void close() {
    std::lock_guard lock(mu_);
    stream_ = nullptr;
    opened_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable opened_;
  bool registered_ = false;
  Stream* stream_;
  std::string peer_;
};

InstanceId idOf(const rpc::InstanceRef& r) {
  return {r.run(), r.index()};
}

InstanceStatus fromProto(const rpc::InstanceStatus& s) {
  return {idOf(s.id()), s.state(), s.reason(), s.time_ns()};
}

std::vector<InstanceStatus> fromProto(const rpc::EventBatch& batch) {
  std::vector<InstanceStatus> out;
  out.reserve(static_cast<size_t>(batch.events_size()));
  for (const auto& e : batch.events()) out.push_back(fromProto(e));
  return out;
}

Registration fromProto(const rpc::Register& r) {
  Registration reg;
  reg.name = r.name();
  reg.capacity = r.capacity();
  for (const auto& [k, v] : r.labels()) reg.labels[k] = v;
  reg.runtime = r.runtime();
  for (const auto& st : r.instances()) reg.instances.push_back(fromProto(st));
  reg.underlay = r.underlay_address();
  reg.plexer = r.role() == "plexer";
  reg.cells.assign(r.cells().begin(), r.cells().end());
  return reg;
}

rpc::Registered toProto(const RegistrationAnswer& a) {
  rpc::Registered out;
  out.set_heartbeat_ms(a.heartbeatMs);
  out.set_cluster_id(a.clusterId);
  for (RunId r : a.keepRuns) out.add_keep_runs(r);
  for (const auto& id : a.remove) {
    auto* ref = out.add_remove();
    ref->set_run(id.run);
    ref->set_index(id.index);
  }
  return out;
}

}  // namespace

class RpcServer::Service final : public rpc::Control::Service {
 public:
  Service(RunService& m, RpcServerConfig config) : master_(m), config_(std::move(config)) {}

  // A blob in 1 MiB chunks, read as the node takes them (gRPC's flow control paces Write).
  grpc::Status Blob(grpc::ServerContext* ctx, const rpc::BlobRequest* req,
                    grpc::ServerWriter<rpc::BlobChunk>* out) override {
    if (auto who = authenticate(*ctx, ""); !who.ok()) return who;
    const std::string& digest = req->digest();
    if (!config_.blobs)
      return {grpc::StatusCode::NOT_FOUND,
              "this master keeps images in " + config_.blobsElsewhere +
                  ": nodes fetch them from there (kuiga worker --s3-endpoint ...)"};
    if (!isDigest(digest)) return {grpc::StatusCode::INVALID_ARGUMENT, "bad digest " + digest};
    std::ifstream in(config_.blobs->blobPath(digest), std::ios::binary);
    if (!in) return {grpc::StatusCode::NOT_FOUND, "no blob " + digest};
    rpc::BlobChunk chunk;
    std::string buf(1 << 20, '\0');
    while (!ctx->IsCancelled()) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      if (in.gcount() <= 0) break;
      chunk.set_data(buf.data(), static_cast<size_t>(in.gcount()));
      if (!out->Write(chunk)) return {grpc::StatusCode::CANCELLED, "the node went away"};
    }
    if (in.bad()) return {grpc::StatusCode::INTERNAL, "read blob " + digest};
    spdlog::debug("blob {} sent to {}", digest, req->node());
    return grpc::Status::OK;
  }

  grpc::Status Connect(grpc::ServerContext* ctx, Stream* stream) override {
    rpc::WorkerMessage in;
    if (!stream->Read(&in)) return grpc::Status::OK;
    if (!in.has_register_() || in.register_().name().empty())
      return {grpc::StatusCode::INVALID_ARGUMENT, "the first message must register a named worker"};
    const std::string name = in.register_().name();
    if (auto who = authenticate(*ctx, name); !who.ok()) {
      spdlog::warn("node '{}' from {} refused: {}", name, ctx->peer(), who.error_message());
      return who;
    }
    // A worker holding records of another master's runs must not mix them with ours: it takes
    // this master's cluster id (GET /api/v1/cluster) and sets them aside before it registers.
    if (const auto& cid = in.register_().cluster_id(); !cid.empty() && cid != master_.clusterId())
      return {grpc::StatusCode::FAILED_PRECONDITION, "worker " + name + " registers for cluster " +
                                                         cid + ", this master is cluster " +
                                                         master_.clusterId()};
    auto link = std::make_shared<StreamLink>(stream, ctx->peer());
    rpc::MasterMessage out;
    *out.mutable_registered() = toProto(master_.registerNode(fromProto(in.register_()), link));
    link->sendRegistered(out);
    while (stream->Read(&in)) {
      // Any message is a sign of life, before it is handled.
      bool current = master_.nodes().beginHandling(name, link.get());
      if (current && in.has_heartbeat())
        current = master_.onHeartbeat(name, link.get(), in.heartbeat().zep_unplaceable());
      else if (current && in.has_events())
        current = master_.onEvents(name, link.get(), fromProto(in.events()));
      else if (current && in.has_reply())
        master_.nodes().onReply(name, in.reply());
      master_.nodes().endHandling(name, link.get());
      if (!current) {
        spdlog::warn("worker {}: stream superseded or declared lost; closing it", name);
        ctx->TryCancel();
        break;
      }
    }
    link->close();
    master_.onDisconnect(name, link.get());
    return grpc::Status::OK;
  }

 private:
  // The peer's client certificate (verified against the cluster CA by TLS) must be the one
  // `name` holds now (any node's, for "").
  grpc::Status authenticate(const grpc::ServerContext& ctx, const std::string& name) {
    auto certs = ctx.auth_context()->FindPropertyValues("x509_pem_cert");
    std::string pem = certs.empty() ? std::string() : std::string(certs[0].data(), certs[0].size());
    auto who = config_.enrollment->check(pem, name);
    if (who) return grpc::Status::OK;
    return {who.error().status == 401 ? grpc::StatusCode::UNAUTHENTICATED
                                      : grpc::StatusCode::PERMISSION_DENIED,
            who.error().message};
  }
  RunService& master_;
  RpcServerConfig config_;
};

Result<std::unique_ptr<RpcServer>> RpcServer::start(RunService& master, RpcServerConfig config) {
  std::unique_ptr<RpcServer> s(new RpcServer());
  const std::string address = config.address;
  if (!config.enrollment) return failMsg("the worker endpoint needs the cluster's certificates");
  grpc::SslServerCredentialsOptions tls(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  const ClusterPki& pki = config.enrollment->pki();
  tls.pem_root_certs = pki.ca().certPem;
  tls.pem_key_cert_pairs.push_back({pki.rpcKey(), pki.rpcCert()});
  s->service_ = std::make_unique<Service>(master, std::move(config));
  grpc::ServerBuilder b;
  b.AddListeningPort(address, grpc::SslServerCredentials(tls), &s->port_);
  b.RegisterService(s->service_.get());
  // Keepalive pings find a worker whose host vanished without closing its connection.
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  b.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  b.SetMaxReceiveMessageSize(256 << 20);
  b.SetMaxSendMessageSize(256 << 20);
  s->server_ = b.BuildAndStart();
  if (!s->server_ || s->port_ == 0)
    return failMsg("cannot listen for workers on " + address + " (address in use?)");
  spdlog::info("listening for workers on port {} (mutual TLS)", s->port_);
  return s;
}

void RpcServer::shutdown() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

RpcServer::~RpcServer() {
  shutdown();
  if (server_) server_->Wait();
}

}  // namespace kuiga::master
