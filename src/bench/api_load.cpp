#include "bench/api_load.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include <fmt/format.h>

#include "client/api_client.hpp"
#include "sys/fd.hpp"

namespace kuiga::bench {

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

// The clients come from many loopback addresses (127.0.K.x), as from many hosts: the master caps
// connections per address, and the point is a crowd, not one greedy host.
constexpr unsigned kPerAddress = 200;

struct Target {
  std::string host;
  int port = 0;
};

Result<Target> targetOf(const std::string& url) {
  unsigned a, b, c, d, port;
  if (std::sscanf(url.c_str(), "http://%u.%u.%u.%u:%u", &a, &b, &c, &d, &port) != 5)
    return failMsg("the master's URL must be http://IPv4:PORT, not " + url);
  return Target{fmt::format("{}.{}.{}.{}", a, b, c, d), static_cast<int>(port)};
}

// A nonblocking connection from 127.0.`net`.(1 + k / kPerAddress).
Result<sys::UniqueFd> connectFrom(const Target& t, unsigned net, unsigned k) {
  sys::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return failSys("socket");
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl((127u << 24) | (net << 8) | (1 + k / kPerAddress));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&src), sizeof src) < 0) return failSys("bind");
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(t.port));
  ::inet_pton(AF_INET, t.host.c_str(), &dst.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&dst), sizeof dst) < 0)
    return failSys("connect");
  return fd;
}

bool sendAll(int fd, const std::string& s) {
  return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL | MSG_DONTWAIT) ==
         static_cast<ssize_t>(s.size());
}

// Whether the server closed the connection (reads and drops whatever else came).
bool closedByServer(int fd, std::string* got = nullptr) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
    if (got) got->append(buf, static_cast<size_t>(n));
  }
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[k];
}

}  // namespace

Result<json> holdAndMeasure(const std::string& url, const std::string& token, int runId,
                            const LoadOptions& o,
                            const std::function<void(const std::string&)>& log) {
  auto t = targetOf(url);
  if (!t) return fail(t.error());
  const std::string auth = "Authorization: Bearer " + token + "\r\n";
  const std::string slowHead = "GET /api/v1/runs HTTP/1.1\r\nHost: bench\r\nX-Slow: ";
  std::vector<sys::UniqueFd> slow(o.slowClients), sse(o.sse);
  std::atomic<uint64_t> reconnects{0};
  for (unsigned k = 0; k < o.slowClients; ++k) {
    auto fd = connectFrom(*t, 1, k);
    if (!fd) return fail(fd.error().context("slow client"));
    if (!sendAll(fd->get(), slowHead)) return failMsg("slow client: send failed");
    slow[k] = std::move(*fd);
  }
  for (unsigned k = 0; k < o.sse; ++k) {
    auto fd = connectFrom(*t, 2, k);
    if (!fd) return fail(fd.error().context("event stream"));
    if (!sendAll(fd->get(), "GET /api/v1/events HTTP/1.1\r\nHost: bench\r\n" + auth + "\r\n"))
      return failMsg("event stream: send failed");
    sse[k] = std::move(*fd);
  }
  log(fmt::format("holding {} slow clients and {} event streams", o.slowClients, o.sse));

  // Slow clients dribble a byte every 3 s and come back when the master cuts them off, as an
  // attacker would; event streams are read as a browser reads them.
  std::jthread dribbler([&](std::stop_token st) {
    while (!st.stop_requested()) {
      for (unsigned k = 0; k < slow.size(); ++k) {
        if (closedByServer(slow[k].get()) || !sendAll(slow[k].get(), "a")) {
          auto fd = connectFrom(*t, 1, k);
          if (fd && sendAll(fd->get(), slowHead)) slow[k] = std::move(*fd);
          ++reconnects;
        }
      }
      for (int i = 0; i < 30 && !st.stop_requested(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::vector<uint64_t> events(o.sse, 0);
  std::vector<bool> open(o.sse, false), lost(o.sse, false);
  std::jthread reader([&](std::stop_token st) {
    std::vector<pollfd> pfds;
    for (auto& fd : sse) pfds.push_back({fd.get(), POLLIN, 0});
    while (!st.stop_requested()) {
      if (::poll(pfds.data(), pfds.size(), 100) <= 0) continue;
      for (size_t k = 0; k < pfds.size(); ++k) {
        if (!(pfds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        std::string got;
        if (closedByServer(pfds[k].fd, &got)) lost[k] = true, pfds[k].fd = -1;
        if (got.find("200 OK") != std::string::npos || got.find(": keepalive") != std::string::npos)
          open[k] = true;
        for (size_t p = 0; (p = got.find("event: ", p)) != std::string::npos; ++p) ++events[k];
      }
    }
  });

  // Requests without a Content-Length, which a server must not wait on.
  uint64_t noLengthAnswered = 0;
  {
    std::vector<sys::UniqueFd> posts;
    for (unsigned k = 0; k < o.noLengthPosts; ++k) {
      auto fd = connectFrom(*t, 3, k);
      if (!fd) return fail(fd.error().context("POST without a length"));
      (void)sendAll(
          fd->get(),
          fmt::format("POST /api/v1/runs/{}/start HTTP/1.1\r\nHost: bench\r\n{}\r\n", runId, auth));
      posts.push_back(std::move(*fd));
    }
    auto until = Clock::now() + std::chrono::seconds(5);
    std::vector<std::string> got(posts.size());
    while (Clock::now() < until && noLengthAnswered < posts.size()) {
      noLengthAnswered = 0;
      for (size_t k = 0; k < posts.size(); ++k) {
        (void)closedByServer(posts[k].get(), &got[k]);
        noLengthAnswered += got[k].rfind("HTTP/1.1 ", 0) == 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Runs created and deleted meanwhile, so that the event streams carry events.
  std::atomic<uint64_t> churned{0};
  std::jthread churn([&](std::stop_token st) {
    if (o.image.empty()) return;
    client::ApiClient c(url, token);
    while (!st.stop_requested()) {
      auto r = c.request("POST", "/api/v1/runs", json{{"image", o.image}, {"count", 1}}.dump());
      if (!r || r->status != 201) return;
      std::string path = fmt::format("/api/v1/runs/{}", r->body["id"].get<int>());
      for (int i = 0; i < 200 && !st.stop_requested(); ++i) {
        auto v = c.get(path);
        if (!v || (*v)["state"] != "pending") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      (void)c.del(path);
      ++churned;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });

  // Ordinary requests, one after the other on fresh connections.
  client::ApiClient api(url, token);
  std::vector<double> ms;
  uint64_t failed = 0;
  std::string firstFailure;
  auto end = Clock::now() + std::chrono::duration<double>(o.durationS);
  auto gap = std::chrono::microseconds(1'000'000 / std::max(1u, o.rate));
  auto next = Clock::now();
  uint64_t n = 0;
  while (Clock::now() < end) {
    std::this_thread::sleep_until(next);
    next += gap;
    std::string path = n % 3 == 0   ? fmt::format("/api/v1/runs/{}", runId)
                       : n % 3 == 1 ? "/api/v1/runs?limit=10"
                                    : fmt::format("/api/v1/runs/{}/instances?limit=100", runId);
    ++n;
    auto t0 = Clock::now();
    auto r = api.request("GET", path);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!r || r->status != 200) {
      ++failed;
      if (firstFailure.empty())
        firstFailure = r ? fmt::format("{} -> {}", path, r->status) : r.error().message;
    }
  }
  churn.request_stop();
  churn.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the last events arrive
  dribbler.request_stop();
  reader.request_stop();
  dribbler.join();
  reader.join();
  uint64_t opened = 0, minEvents = UINT64_MAX, lostStreams = 0;
  for (unsigned k = 0; k < o.sse; ++k) {
    opened += open[k];
    lostStreams += lost[k];
    minEvents = std::min(minEvents, events[k]);
  }
  json out = {{"slow_clients", o.slowClients},
              {"slow_reconnects", reconnects.load()},
              {"sse", o.sse},
              {"sse_open", opened},
              {"sse_lost", lostStreams},
              {"sse_min_events", o.sse ? minEvents : 0},
              {"runs_churned", churned.load()},
              {"no_length_posts", o.noLengthPosts},
              {"no_length_posts_answered", noLengthAnswered},
              {"requests", ms.size()},
              {"failed", failed},
              {"p50_ms", percentile(ms, 0.50)},
              {"p99_ms", percentile(ms, 0.99)},
              {"max_ms", ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end())}};
  if (!firstFailure.empty()) out["first_failure"] = firstFailure;
  return out;
}

}  // namespace kuiga::bench
