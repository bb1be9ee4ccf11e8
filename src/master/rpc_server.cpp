#include "master/rpc_server.hpp"

#include <condition_variable>
#include <mutex>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

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

}  // namespace

class RpcServer::Service final : public rpc::Control::Service {
 public:
  explicit Service(Master& m) : master_(m) {}

  grpc::Status Connect(grpc::ServerContext* ctx, Stream* stream) override {
    rpc::WorkerMessage in;
    if (!stream->Read(&in)) return grpc::Status::OK;
    if (!in.has_register_() || in.register_().name().empty())
      return {grpc::StatusCode::INVALID_ARGUMENT, "the first message must register a named worker"};
    const std::string name = in.register_().name();
    // A worker holding records of another master's runs must not mix them with ours: it takes
    // this master's cluster id (GET /api/v1/cluster) and sets them aside before it registers.
    if (const auto& cid = in.register_().cluster_id(); !cid.empty() && cid != master_.clusterId())
      return {grpc::StatusCode::FAILED_PRECONDITION, "worker " + name + " registers for cluster " +
                                                         cid + ", this master is cluster " +
                                                         master_.clusterId()};
    auto link = std::make_shared<StreamLink>(stream, ctx->peer());
    rpc::MasterMessage out;
    *out.mutable_registered() = master_.registerWorker(in.register_(), link);
    link->sendRegistered(out);
    while (stream->Read(&in)) {
      bool current = true;
      if (in.has_heartbeat())
        current = master_.onHeartbeat(name, link.get(), &in.heartbeat());
      else if (in.has_events())
        current = master_.onEvents(name, link.get(), in.events());
      else if (in.has_reply())
        master_.onReply(name, in.reply());
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
  Master& master_;
};

Result<std::unique_ptr<RpcServer>> RpcServer::start(Master& master, const std::string& address) {
  std::unique_ptr<RpcServer> s(new RpcServer());
  s->service_ = std::make_unique<Service>(master);
  grpc::ServerBuilder b;
  b.AddListeningPort(address, grpc::InsecureServerCredentials(), &s->port_);
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
  spdlog::info("listening for workers on port {}", s->port_);
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
