// The HTTP server against clients that misbehave, over real sockets on loopback.
#include "http/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/support/leak_check.hpp"
#include "tests/support/shell.hpp"

namespace kuiga::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A raw client connection; `from` picks the loopback source address.
struct Conn {
  int fd = -1;
  Conn(int port, const char* from = "127.0.0.1") {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    ::inet_pton(AF_INET, from, &src.sin_addr);
    ::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) ::close(fd), fd = -1;
  }
  ~Conn() {
    if (fd >= 0) ::close(fd);
  }
  bool send(const std::string& s) { return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) > 0; }
  // What arrives within `wait`; `closed` tells whether the server closed the connection.
  std::string recv(std::chrono::milliseconds wait, bool* closed = nullptr,
                   const std::string& until = "") {
    std::string out;
    auto end = Clock::now() + wait;
    if (closed) *closed = false;
    while (Clock::now() < end) {
      pollfd p{fd, POLLIN, 0};
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
      if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
      char buf[65536];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        if (closed) *closed = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
      if (!until.empty() && out.find(until) != std::string::npos) break;
    }
    return out;
  }
};

// A source that says "tick N" each time it is woken, and waits for ever otherwise; it ends after
// 50 pulls of its own. (The count is its own: with one count for all, which streams had ended
// depended on the order of their first pulls, and waking one of them tested nothing.)
class Ticker final : public Source {
 public:
  explicit Ticker(std::atomic<int>& pulls) : pulls_(pulls) {}
  void attach(std::function<void()> wake) override { wake_ = std::move(wake); }
  Pull pull(std::string& out) override {
    ++pulls_;
    int n = ++own_;
    out += fmt::format("tick {}\n", n);
    return n >= 50 ? done() : wait(std::chrono::hours(1));
  }
  std::function<void()> wake_;

 private:
  std::atomic<int>& pulls_;
  std::atomic<int> own_{0};
};

class HttpServerTest : public ::testing::Test {
 protected:
  void start(ServerConfig cfg = {}) {
    cfg.uploadDir = dir_.path() + "/uploads";
    cfg.maxUpload = 64 << 10;
    if (cfg.headerTimeout == std::chrono::seconds(15)) cfg.headerTimeout = 2s;
    std::vector<Route> routes;
    routes.push_back(
        {"GET", "/ping", [](Request&) { return Response::text(200, "text/plain", "pong"); }});
    routes.push_back({"POST", "/act",
                      [this](Request& r) {
                        ++acted_;
                        return Response::text(202, "text/plain", "acted " + r.body);
                      },
                      Body::Text});
    routes.push_back({"GET", "/slow", [](Request&) {
                        std::this_thread::sleep_for(300ms);
                        return Response::text(200, "text/plain", "slow");
                      }});
    routes.push_back({"GET", "/things/{id}/parts/{part}", [](Request& r) {
                        return Response::text(200, "text/plain",
                                              r.params[0] + "," + r.params[1] + "," + r.arg("q"));
                      }});
    routes.push_back({"GET", "/ticks", [this](Request&) {
                        Response r;
                        r.type = "text/plain";
                        auto t = std::make_shared<Ticker>(pulls_);
                        {
                          std::lock_guard lock(mu_);
                          tickers_.push_back(t);
                        }
                        r.source = t;
                        return r;
                      }});
    routes.push_back({"POST", "/upload",
                      [](Request& r) {
                        std::string got = r.upload ? r.upload->field + ":" + r.upload->fileName +
                                                         ":" + std::to_string(r.upload->size)
                                                   : "none";
                        if (r.upload) {
                          std::ifstream in(r.upload->path);
                          got += ":" + std::string(std::istreambuf_iterator<char>(in), {});
                        }
                        return Response::text(201, "text/plain", got + " spec=" + r.fields["spec"]);
                      },
                      Body::Multipart});
    auto s = Server::start(cfg, std::move(routes));
    ASSERT_TRUE(s) << s.error().message;
    server_ = std::move(*s);
  }
  int port() const { return server_->port(); }
  // One ordinary request on a fresh connection; its status line and how long it took.
  std::pair<std::string, double> ping(const char* from = "127.0.0.1") {
    auto t0 = Clock::now();
    Conn c(port(), from);
    c.send("GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    std::string r = c.recv(5s);
    return {r.substr(0, r.find("\r\n")), std::chrono::duration<double>(Clock::now() - t0).count()};
  }

  test::TempDir dir_;
  std::unique_ptr<Server> server_;
  std::atomic<int> acted_{0}, pulls_{0};
  std::mutex mu_;
  std::vector<std::shared_ptr<Ticker>> tickers_;
};

TEST_F(HttpServerTest, RoutesMatchPatternsAndAnswer404And405) {
  start();
  Conn c(port());
  c.send("GET /things/7/parts/a%20b?q=x HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(c.recv(2s, nullptr, "7,a b,x").find("7,a b,x"), std::string::npos);
  c.send("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(c.recv(2s, nullptr, "404").find("HTTP/1.1 404"), std::string::npos);
  c.send("DELETE /ping HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(c.recv(2s, nullptr, "405").find("HTTP/1.1 405"), std::string::npos);
}

TEST_F(HttpServerTest, HalfSentRequestsDoNotHoldUpOthersAndAreCutAtTheHeaderDeadline) {
  start();
  std::vector<std::unique_ptr<Conn>> slow;
  for (int i = 0; i < 64; ++i) {
    slow.push_back(std::make_unique<Conn>(port(), "127.0.0.2"));
    ASSERT_TRUE(slow.back()->send("GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  }
  auto t0 = Clock::now();
  // Dribbling a byte every 500 ms keeps each of them from ever being idle...
  std::jthread dribble([&](std::stop_token st) {
    while (!st.stop_requested()) {
      for (auto& c : slow) c->send("a");
      std::this_thread::sleep_for(500ms);
    }
  });
  for (int i = 0; i < 20; ++i) {
    auto [status, secs] = ping();
    EXPECT_EQ(status, "HTTP/1.1 200 OK");
    EXPECT_LT(secs, 1.0);
  }
  // ...but not from the deadline on their headers (2 s here).
  bool closed = false;
  slow[0]->recv(5s, &closed);
  EXPECT_TRUE(closed);
  double held = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_GE(held, 1.5);
  EXPECT_LT(held, 5.0);
}

TEST_F(HttpServerTest, ARequestWithoutABodyIsServedAtOnce) {
  start();
  Conn c(port());
  auto t0 = Clock::now();
  c.send("POST /act HTTP/1.1\r\nHost: x\r\n\r\n");  // no Content-Length: no body
  auto r = c.recv(3s, nullptr, "acted");
  EXPECT_NE(r.find("HTTP/1.1 202"), std::string::npos) << r;
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 1.0);
  EXPECT_EQ(acted_, 1);
}

TEST_F(HttpServerTest, SlowHandlersAndOpenStreamsHoldNoThreadOfOthers) {
  ServerConfig cfg;
  cfg.handlerThreads = 4;
  start(cfg);
  std::vector<std::unique_ptr<Conn>> streams;
  for (int i = 0; i < 200; ++i) {
    streams.push_back(std::make_unique<Conn>(port(), "127.0.0.3"));
    streams.back()->send("GET /ticks HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  for (auto& s : streams) EXPECT_NE(s->recv(3s, nullptr, "tick").find("tick"), std::string::npos);
  for (int i = 0; i < 20; ++i) {
    auto [status, secs] = ping();
    EXPECT_EQ(status, "HTTP/1.1 200 OK");
    EXPECT_LT(secs, 1.0);
  }
  // A woken stream is pulled again, and its bytes reach its client: the last one made, whose
  // first pull may have come last too.
  {
    std::lock_guard lock(mu_);
    ASSERT_EQ(tickers_.size(), 200u);
    tickers_[199]->wake_();
  }
  // Watch all of them at once: whichever it is, its tick comes within the deadline.
  std::vector<pollfd> fds;
  for (auto& s : streams) fds.push_back({s->fd, POLLIN, 0});
  bool ticked = false;
  for (auto end = Clock::now() + 3s; !ticked && Clock::now() < end;) {
    if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
    for (size_t i = 0; i < fds.size(); ++i)
      if (fds[i].revents & POLLIN)
        ticked = ticked || streams[i]->recv(100ms).find("tick") != std::string::npos;
  }
  EXPECT_TRUE(ticked);
}

TEST_F(HttpServerTest, ConnectionsPerAddressAreCapped) {
  ServerConfig cfg;
  cfg.connectionsPerAddress = 8;
  start(cfg);
  std::vector<std::unique_ptr<Conn>> held;
  for (int i = 0; i < 8; ++i) {
    held.push_back(std::make_unique<Conn>(port(), "127.0.0.4"));
    held.back()->send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(held.back()->recv(2s, nullptr, "pong").find("pong"), std::string::npos);
  }
  Conn extra(port(), "127.0.0.4");
  extra.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
  bool closed = false;
  EXPECT_EQ(extra.recv(2s, &closed).find("pong"), std::string::npos);
  EXPECT_TRUE(closed);
  EXPECT_EQ(ping("127.0.0.5").first, "HTTP/1.1 200 OK");  // another address is not held up
}

TEST_F(HttpServerTest, BodiesPastTheLimitAre413BeforeTheyAreSentAndAtAnySize) {
  start();
  for (uint64_t size : {uint64_t{2} << 20, uint64_t{1} << 40}) {
    Conn c(port());
    c.send(fmt::format("POST /act HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", size));
    auto r = c.recv(2s, nullptr, "\r\n\r\n");
    EXPECT_NE(r.find("HTTP/1.1 413"), std::string::npos) << size << ": " << r;
  }
  EXPECT_EQ(acted_, 0);
  // A file part past the upload limit, with a length that looks fine: 413 too, and no file.
  std::string part(100 << 10, 'x');
  std::string body =
      "--XYZ\r\nContent-Disposition: form-data; name=\"aut\"; filename=\"a\"\r\n\r\n" + part +
      "\r\n--XYZ--\r\n";
  Conn c(port());
  c.send(fmt::format("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                     "boundary=XYZ\r\nContent-Length: {}\r\n\r\n",
                     body.size()) +
         body);
  auto r = c.recv(3s, nullptr, "\r\n\r\n");
  EXPECT_NE(r.find("HTTP/1.1 413"), std::string::npos) << r.substr(0, 200);
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path() + "/uploads"));
}

TEST_F(HttpServerTest, MultipartFieldsAndAFilePartArriveAndTheFileGoesAfterwards) {
  start();
  std::string body =
      "--XYZ\r\nContent-Disposition: form-data; name=\"spec\"\r\n\r\n{\"count\":2}\r\n"
      "--XYZ\r\nContent-Disposition: form-data; name=\"aut\"; filename=\"app.elf\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\nELFDATA\r\n--XYZ--\r\n";
  Conn c(port());
  c.send(fmt::format("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                     "boundary=XYZ\r\nContent-Length: {}\r\n\r\n",
                     body.size()) +
         body);
  auto r = c.recv(3s, nullptr, "spec=");
  EXPECT_NE(r.find("aut:app.elf:7:ELFDATA spec={\"count\":2}"), std::string::npos) << r;
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path() + "/uploads"));
}

TEST_F(HttpServerTest, TheListenBacklogIsAtLeast1024) {
  start();
  // A listening socket's Send-Q in `ss` is its backlog.
  auto out = test::commandOutput(fmt::format("ss -Hltn 'sport = :{}'", port()));
  std::istringstream in(out);
  std::string state, recvq, sendq;
  in >> state >> recvq >> sendq;
  ASSERT_FALSE(sendq.empty()) << out;
  EXPECT_GE(std::stoi(sendq), 1024) << out;
}

TEST_F(HttpServerTest, StopEndsOpenStreamsAndRunningHandlers) {
  start();
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < 10; ++i) {
    conns.push_back(std::make_unique<Conn>(port()));
    conns.back()->send("GET /ticks HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  Conn slow(port());
  slow.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  for (auto& c : conns) c->recv(2s, nullptr, "tick");
  auto t0 = Clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 3.0);
  EXPECT_NE(slow.recv(2s, nullptr, "slow").find("slow"), std::string::npos);
  for (auto& c : conns) {
    bool closed = false;
    c->recv(2s, &closed);
    EXPECT_TRUE(closed);
  }
}

// A server stopped, with a connection still open, leaves no descriptor of its own behind: its
// listening socket, epoll sets and connections are closed by the stop.
TEST_F(HttpServerTest, AStoppedServerLeavesNoDescriptorBehind) {
  auto openFds = [] {
    return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                         std::filesystem::directory_iterator{});
  };
  const auto before = openFds();
  start();
  {
    Conn open(port());
    EXPECT_EQ(ping().first, "HTTP/1.1 200 OK");
    open.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(open.recv(2s, nullptr, "pong").find("pong"), std::string::npos);
    server_->stop();
    bool closed = false;
    open.recv(2s, &closed);
    EXPECT_TRUE(closed);
  }
  server_.reset();
  EXPECT_EQ(openFds(), before);
}

}  // namespace
}  // namespace kuiga::http
