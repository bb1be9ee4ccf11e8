#include "http/server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "http/body.hpp"
#include "http/router.hpp"
#include "http/stream.hpp"
#include "sys/fd.hpp"

namespace kuiga::http {

using Clock = std::chrono::steady_clock;

std::string Request::header(std::string_view lowerName) const {
  auto it = headers.find(std::string(lowerName));
  return it == headers.end() ? std::string() : it->second;
}

std::string Request::arg(std::string_view key) const {
  auto it = query.find(std::string(key));
  return it == query.end() ? std::string() : it->second;
}

Response Response::text(int status, std::string type, std::string body) {
  Response r;
  r.status = status;
  r.type = std::move(type);
  r.body = std::move(body);
  return r;
}

// One request, from its headers to its completion.
struct RequestCtx {
  Request req;
  const Route* route = nullptr;
  Clock::time_point start = Clock::now();
  int status = 0;
  std::unique_ptr<BodyReader> body;
  // An answer known from the headers (404, 405, 503), given once the body is read: a response
  // queued before the request is complete makes libmicrohttpd close the connection.
  std::optional<Response> early;
  ~RequestCtx() {
    if (req.upload && !req.upload->path.empty()) ::unlink(req.upload->path.c_str());
  }
};

// What the header deadline needs of a connection: its socket and since when it waits for a
// request's headers.
struct ConnInfo {
  int fd = -1;
  Clock::time_point since;
  bool awaitingHeaders = true;
};

struct Server::Impl {
  ServerConfig config;
  Router router;
  MHD_Daemon* daemon = nullptr;
  int port = 0;
  WorkPool pool;
  Timer timer;
  std::atomic<bool> stopping{false};
  std::mutex connMu;
  std::map<MHD_Connection*, ConnInfo> conns;
  std::mutex streamsMu;
  std::vector<std::weak_ptr<Stream>> streams;  // open ones, for stop(); expired ones purged

  Impl(ServerConfig c, std::vector<Route> routes)
      : config(std::move(c)), router(std::move(routes)), pool(config.handlerThreads) {}

  Response error(int status, const std::string& message) const {
    if (config.error) return config.error(status, message);
    return Response::text(status, "text/plain; charset=utf-8", message + "\n");
  }
  MHD_Result queue(MHD_Connection* c, RequestCtx& ctx, Response r);
  void sweep();
};

namespace {

// libmicrohttpd hands the connection's socket over only as a union member.
int connectionFd(MHD_Connection* c) {
  const auto* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  return info ? info->connect_fd : -1;
}

std::string peerOf(MHD_Connection* c) {
  const auto* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!info || !info->client_addr) return {};
  char buf[INET6_ADDRSTRLEN] = {};
  const sockaddr* sa = info->client_addr;
  if (sa->sa_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  else if (sa->sa_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  return buf;
}

MHD_Result collect(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* m = static_cast<std::map<std::string, std::string>*>(cls);
  std::string k = key ? key : "";
  m->emplace(k, value ? value : "");
  return MHD_YES;
}

MHD_Result collectHeader(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* m = static_cast<std::map<std::string, std::string>*>(cls);
  std::string k = key ? key : "";
  for (auto& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  (*m)[k] = value ? value : "";
  return MHD_YES;
}

ssize_t readStream(void* cls, uint64_t, char* buf, size_t max) {
  return (*static_cast<std::shared_ptr<Stream>*>(cls))->read(buf, max);
}

void freeStream(void* cls) {
  auto* holder = static_cast<std::shared_ptr<Stream>*>(cls);
  (*holder)->closed();
  delete holder;
}

}  // namespace

MHD_Result Server::Impl::queue(MHD_Connection* c, RequestCtx& ctx, Response r) {
  MHD_Response* resp = nullptr;
  if (r.source) {
    auto stream = std::make_shared<Stream>(r.source, c, pool, timer);
    {
      std::lock_guard lock(streamsMu);
      std::erase_if(streams, [](const std::weak_ptr<Stream>& w) { return w.expired(); });
      streams.push_back(stream);
    }
    r.source->attach([weak = std::weak_ptr<Stream>(stream)] {
      if (auto s = weak.lock()) s->wake();
    });
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 << 10, &readStream,
                                             new std::shared_ptr<Stream>(stream), &freeStream);
  } else if (!r.file.empty()) {
    int fd = ::open(r.file.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) < 0) {
      if (fd >= 0) ::close(fd);
      return queue(c, ctx,
                   error(404, fmt::format("cannot open '{}': {}", r.file, strerror(errno))));
    }
    resp = MHD_create_response_from_fd64(static_cast<uint64_t>(st.st_size), fd);  // owns fd
  } else {
    if (auto gz = maybeCompress(ctx.req, r); gz) {
      r.body = std::move(*gz);
      r.headers.emplace_back("Content-Encoding", "gzip");
      r.headers.emplace_back("Vary", "Accept-Encoding");
    }
    resp = MHD_create_response_from_buffer(r.body.size(), r.body.data(), MHD_RESPMEM_MUST_COPY);
  }
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.type.c_str());
  if (r.source) MHD_add_response_header(resp, "X-Accel-Buffering", "no");
  for (const auto& [k, v] : r.headers) MHD_add_response_header(resp, k.c_str(), v.c_str());
  ctx.status = r.status;
  MHD_Result ok = MHD_queue_response(c, static_cast<unsigned>(r.status), resp);
  MHD_destroy_response(resp);
  return ok;
}

// Connections past their header deadline are shut down: a shutdown socket reads as closed, so
// the event loop closes the connection itself. libmicrohttpd reports a connection closed
// (which removes it here, under connMu) before it closes its socket, so the fd shut down is
// always still this connection's.
void Server::Impl::sweep() {
  auto now = Clock::now();
  {
    std::lock_guard lock(connMu);
    for (auto& [c, info] : conns)
      if (info.awaitingHeaders && now - info.since > config.headerTimeout) {
        ::shutdown(info.fd, SHUT_RDWR);
        info.awaitingHeaders = false;
      }
  }
  if (stopping) return;
  timer.at(now + std::chrono::seconds(1), [this] { sweep(); });
}

namespace {

void onConnection(void* cls, MHD_Connection* c, void**, MHD_ConnectionNotificationCode code) {
  auto& s = *static_cast<Server::Impl*>(cls);
  std::lock_guard lock(s.connMu);
  if (code == MHD_CONNECTION_NOTIFY_STARTED)
    s.conns[c] = {connectionFd(c), Clock::now(), true};
  else
    s.conns.erase(c);
}

void onCompleted(void* cls, MHD_Connection* c, void** reqCls, MHD_RequestTerminationCode) {
  auto& s = *static_cast<Server::Impl*>(cls);
  auto* ctx = static_cast<RequestCtx*>(*reqCls);
  *reqCls = nullptr;
  {
    std::lock_guard lock(s.connMu);
    if (auto it = s.conns.find(c); it != s.conns.end())
      it->second = {it->second.fd, Clock::now(), true};  // the next request's headers
  }
  if (!ctx) return;
  if (s.config.done)
    s.config.done(ctx->req.label, ctx->req.method, ctx->status,
                  std::chrono::duration<double>(Clock::now() - ctx->start).count());
  delete ctx;
}

Response callHandler(const Server::Impl& s, RequestCtx& ctx) {
  try {
    return ctx.route->handler(ctx.req);
  } catch (const std::exception& e) {
    return s.error(500, e.what());
  } catch (...) {
    return s.error(500, "unknown error");
  }
}

// The spooled upload goes as soon as the handler is done with it, before the client hears back.
Response runHandler(const Server::Impl& s, RequestCtx& ctx) {
  Response r = callHandler(s, ctx);
  if (ctx.req.upload && !ctx.req.upload->path.empty()) {
    ::unlink(ctx.req.upload->path.c_str());
    ctx.req.upload->path.clear();
  }
  return r;
}

// The first call, once the headers are in: route, limits and how the body will be read.
MHD_Result beginRequest(Server::Impl& s, MHD_Connection* c, const char* url, const char* method,
                        RequestCtx& ctx) {
  {
    std::lock_guard lock(s.connMu);
    if (auto it = s.conns.find(c); it != s.conns.end()) it->second.awaitingHeaders = false;
  }
  auto& req = ctx.req;
  req.method = method;
  req.path = url;
  req.peer = peerOf(c);
  MHD_get_connection_values(c, MHD_HEADER_KIND, &collectHeader, &req.headers);
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, &collect, &req.query);
  auto m = s.router.match(req.method, req.path);
  if (!m.route) {
    req.label = "other";
    ctx.early = m.pathKnown ? s.error(405, req.method + " is not allowed on " + req.path)
                            : s.error(404, "no such endpoint: " + req.method + " " + req.path);
  } else {
    ctx.route = m.route;
    req.label = m.route->pattern;
    req.params = std::move(m.params);
    if (s.stopping) ctx.early = s.error(503, "the server is stopping");
  }
  auto reader =
      BodyReader::begin(c, req, ctx.route && !ctx.early ? ctx.route->body : Body::None, s.config);
  // Too large: answered now, before the body is sent (the connection then closes).
  if (!reader) return s.queue(c, ctx, s.error(reader.error().status, reader.error().message));
  ctx.body = std::move(*reader);
  return MHD_YES;
}

MHD_Result onAccess(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                    const char* data, size_t* size, void** reqCls) {
  auto& s = *static_cast<Server::Impl*>(cls);
  auto* ctx = static_cast<RequestCtx*>(*reqCls);
  if (!ctx) {
    ctx = new RequestCtx;
    *reqCls = ctx;
    return beginRequest(s, c, url, method, *ctx);
  }
  if (*size > 0) {
    bool keep = ctx->body->feed(data, *size);
    *size = 0;
    return keep ? MHD_YES : MHD_NO;  // far past every limit: drop the connection
  }
  if (auto err = ctx->body->finish(ctx->req))
    return s.queue(c, *ctx, s.error(err->status, err->message));
  if (ctx->early) return s.queue(c, *ctx, std::move(*ctx->early));
  if (ctx->route->inlined) return s.queue(c, *ctx, runHandler(s, *ctx));
  // The handler may block (it asks workers): off the event loop, with the connection resting.
  MHD_suspend_connection(c);
  auto job = [&s, c, ctx] {
    s.queue(c, *ctx, runHandler(s, *ctx));
    MHD_resume_connection(c);
  };
  if (!s.pool.submit(job)) job();  // stopping: answer here rather than never
  return MHD_YES;
}

void logFromMhd(void*, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  std::string line(buf);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  spdlog::debug("http: {}", line);
}

Result<sys::UniqueFd> listenOn(const std::string& host, int port, int backlog, bool& ipv6) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* ai = nullptr;
  std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &ai); rc != 0)
    return failMsg(fmt::format("address '{}': {}", host, gai_strerror(rc)));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(ai, &freeaddrinfo);
  sys::UniqueFd fd(::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return failSys("socket");
  int one = 1, zero = 0;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ipv6 = ai->ai_family == AF_INET6;
  if (ipv6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) < 0)
    return failSys(fmt::format("cannot listen on {}:{}", host, port));
  if (::listen(fd.get(), backlog) < 0) return failSys("listen");
  return fd;
}

int boundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

}  // namespace

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  stop();
}

int Server::port() const {
  return impl_->port;
}

Result<std::unique_ptr<Server>> Server::start(ServerConfig config, std::vector<Route> routes) {
  auto impl = std::make_unique<Impl>(std::move(config), std::move(routes));
  auto& cfg = impl->config;
  if (!cfg.uploadDir.empty() && ::mkdir(cfg.uploadDir.c_str(), 0700) < 0 && errno != EEXIST)
    return failSys("create '" + cfg.uploadDir + "'");
  bool ipv6 = false;
  auto fd = listenOn(cfg.host, cfg.port, cfg.backlog, ipv6);
  if (!fd) return fail(fd.error());
  impl->port = boundPort(fd->get());
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                   MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
  // HTTPS: libmicrohttpd's TLS (GnuTLS underneath, as Debian builds it), on the same loops.
  MHD_OptionItem tls[] = {
      {MHD_OPTION_END, 0, nullptr}, {MHD_OPTION_END, 0, nullptr}, {MHD_OPTION_END, 0, nullptr}};
  if (!cfg.tlsCert.empty()) {
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
      return failMsg("this libmicrohttpd has no TLS: HTTPS cannot be served");
    flags |= MHD_USE_TLS;
    tls[0] = {MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char*>(cfg.tlsKey.c_str())};
    tls[1] = {MHD_OPTION_HTTPS_MEM_CERT, 0, const_cast<char*>(cfg.tlsCert.c_str())};
  }
  Impl* p = impl.get();
  impl->daemon = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &onAccess, p,                                       //
      MHD_OPTION_LISTEN_SOCKET, fd->get(),                                            //
      MHD_OPTION_THREAD_POOL_SIZE, std::max(1u, cfg.eventThreads),                    //
      MHD_OPTION_CONNECTION_LIMIT, cfg.connections,                                   //
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg.connectionsPerAddress,                  //
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(cfg.idleTimeout.count()),  //
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<size_t>(64 << 10),              //
      MHD_OPTION_NOTIFY_COMPLETED, &onCompleted, p,                                   //
      MHD_OPTION_NOTIFY_CONNECTION, &onConnection, p,                                 //
      MHD_OPTION_EXTERNAL_LOGGER, &logFromMhd, p,                                     //
      MHD_OPTION_ARRAY, tls,                                                          //
      MHD_OPTION_END);
  if (!impl->daemon)
    return failMsg(fmt::format("cannot start the HTTP{} server on {}{}",
                               cfg.tlsCert.empty() ? "" : "S", cfg.host,
                               cfg.tlsCert.empty() ? "" : " (is the certificate and key a pair?)"));
  (void)fd->release();  // the daemon's now
  impl->timer.at(Clock::now() + std::chrono::seconds(1), [p] { p->sweep(); });
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::stop() {
  if (!impl_ || !impl_->daemon) return;
  auto& s = *impl_;
  s.stopping = true;
  // Requests from here on, on open connections or new ones, are answered 503. Not
  // MHD_quiesce_daemon(): in libmicrohttpd 0.9.75 (Debian 12's) it races with the daemon's own
  // epoll loops over the listening socket, and whichever loses aborts the process ("Failed to
  // remove listen FD from epoll set", seen in CI). MHD_stop_daemon() closes the socket itself.
  // Running handlers finish and resume their connections; streams end with an error, and every
  // suspended one is resumed (libmicrohttpd must not stop with suspended connections).
  s.pool.close();
  {
    std::lock_guard lock(s.streamsMu);
    for (const auto& w : s.streams)
      if (auto st = w.lock()) st->abort();
    s.streams.clear();
  }
  MHD_stop_daemon(s.daemon);
  s.daemon = nullptr;
}

}  // namespace kuiga::http
