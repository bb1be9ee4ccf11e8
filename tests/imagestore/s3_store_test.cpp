// The S3 backend against a real Ceph RGW (started for these tests by tests/support/ceph_rgw.sh
// as a CTest fixture; its settings arrive in $KUIGA_TEST_RGW_DIR/env), and against a small
// misbehaving HTTP server for what a healthy RGW never does: break a transfer, answer 503, or
// serve bytes that are not the blob.
#include "imagestore/s3_store.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/digest.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/shell.hpp"

namespace kuiga::imagestore {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::map<std::string, std::string> rgwEnv() {
  std::map<std::string, std::string> env;
  const char* dir = std::getenv("KUIGA_TEST_RGW_DIR");
  if (!dir) return env;
  std::ifstream in(std::string(dir) + "/env");
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

std::string writeFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
  return path;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string randomBytes(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(g());
  return s;
}

class S3StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = rgwEnv();
    ASSERT_FALSE(env_.empty())
        << "no Ceph RGW: run through ctest (fixture rgw_start), KUIGA_TEST_RGW_DIR unset";
    bucket_ = fmt::format("kuiga-{}-{}", ::getpid(), counter_++);
    auto made = S3ImageStore::createBucket(admin());
    ASSERT_TRUE(made) << made.error().message;
  }

  S3Config admin() const {
    S3Config c;
    c.endpoint = env_.at("S3_ENDPOINT");
    c.bucket = bucket_;
    c.credentials = {env_.at("S3_ADMIN_KEY"), env_.at("S3_ADMIN_SECRET")};
    c.attempts = 2;
    c.backoff = std::chrono::milliseconds(10);
    return c;
  }
  S3Config reader() const {
    S3Config c = admin();
    c.credentials = {env_.at("S3_READ_KEY"), env_.at("S3_READ_SECRET")};
    return c;
  }
  std::unique_ptr<S3ImageStore> open(S3Config c) {
    auto s = S3ImageStore::open(std::move(c));
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::move(*s) : nullptr;
  }

  std::map<std::string, std::string> env_;
  std::string bucket_;
  TempDir dir_;
  static inline int counter_ = 0;
};

TEST_F(S3StoreTest, StoresAndFetchesByDigestPathStyle) {
  auto store = open(admin());
  ASSERT_TRUE(store);
  std::string data = randomBytes(100000, 1);
  std::string digest = sha256Hex(data);
  std::string src = writeFile(dir_.path() + "/blob", data);
  auto had = store->has(digest);
  ASSERT_TRUE(had) << had.error().message;
  EXPECT_FALSE(*had);
  auto put = store->put(digest, src);
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_TRUE(*store->has(digest));
  // Content addressing: a second put only asks whether it is there.
  uint64_t before = store->requestsSent();
  ASSERT_TRUE(store->put(digest, src));
  EXPECT_EQ(store->requestsSent() - before, 1u);
  auto got = store->fetch(digest, dir_.path() + "/out");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(readFile(dir_.path() + "/out"), data);
}

TEST_F(S3StoreTest, VirtualHostAddressing) {
  // RGW runs with `rgw dns name = s3.localhost`; curl resolves every *.localhost to loopback.
  S3Config c = admin();
  c.endpoint = "http://" + env_.at("S3_DNS");
  c.addressing = S3Addressing::VirtualHost;
  auto store = open(c);
  ASSERT_TRUE(store);
  std::string data = "virtual host";
  std::string digest = sha256Hex(data);
  ASSERT_TRUE(store->put(digest, writeFile(dir_.path() + "/v", data)));
  // Readable path-style too: the same object.
  auto path = open(reader());
  ASSERT_TRUE(path);
  auto got = path->fetch(digest, dir_.path() + "/out");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(readFile(dir_.path() + "/out"), data);
}

TEST_F(S3StoreTest, LargeBlobsGoUpInParts) {
  S3Config c = admin();
  c.partSize = 5ull << 20;
  c.multipartThreshold = 5ull << 20;
  auto store = open(c);
  ASSERT_TRUE(store);
  std::string data = randomBytes((12ull << 20) + 123, 2);
  std::string digest = sha256Hex(data);
  uint64_t before = store->requestsSent();
  auto put = store->put(digest, writeFile(dir_.path() + "/big", data));
  ASSERT_TRUE(put) << put.error().message;
  // HEAD, initiate, three parts, complete.
  EXPECT_EQ(store->requestsSent() - before, 6u);
  auto got = open(reader())->fetch(digest, dir_.path() + "/out");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(sha256File(dir_.path() + "/out").value(), digest);
}

TEST_F(S3StoreTest, WorkersReadOnlyCredentialsCannotWrite) {
  auto store = open(admin());
  std::string data = "written by the master";
  std::string digest = sha256Hex(data);
  ASSERT_TRUE(store->put(digest, writeFile(dir_.path() + "/m", data)));
  auto worker = open(reader());
  ASSERT_TRUE(worker);
  ASSERT_TRUE(worker->fetch(digest, dir_.path() + "/out"));
  std::string other = "written by a worker";
  auto put = worker->put(sha256Hex(other), writeFile(dir_.path() + "/w", other));
  ASSERT_FALSE(put);
  EXPECT_NE(put.error().message.find("S3 denied access"), std::string::npos) << put.error().message;
  EXPECT_FALSE(*store->has(sha256Hex(other)));
}

TEST_F(S3StoreTest, WrongCredentialsAreNamed) {
  S3Config c = admin();
  c.credentials.secretKey = "not-the-secret";
  auto s = S3ImageStore::open(c);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("refused these credentials"), std::string::npos)
      << s.error().message;
  // A request with a body carries S3's error document: its code is named.
  c.bucket = bucket_ + "-x";
  auto made = S3ImageStore::createBucket(c);
  ASSERT_FALSE(made);
  EXPECT_NE(made.error().message.find("SignatureDoesNotMatch"), std::string::npos)
      << made.error().message;
  c.credentials.accessKey = "NOSUCHKEY0000000000";
  made = S3ImageStore::createBucket(c);
  ASSERT_FALSE(made);
  EXPECT_NE(made.error().message.find("does not know this access key"), std::string::npos)
      << made.error().message;
}

TEST_F(S3StoreTest, MissingBucketIsNamed) {
  S3Config c = admin();
  c.bucket = "kuiga-no-such-bucket";
  auto s = S3ImageStore::open(c);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("bucket 'kuiga-no-such-bucket' does not exist at " +
                                   env_.at("S3_ENDPOINT")),
            std::string::npos)
      << s.error().message;
}

TEST_F(S3StoreTest, MissingBlobIs404AndLeavesNoFile) {
  auto store = open(reader());
  std::string digest = sha256Hex("never stored");
  auto got = store->fetch(digest, dir_.path() + "/out");
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message.find("no blob " + digest + " in S3 bucket '" + bucket_ + "'"),
            std::string::npos)
      << got.error().message;
  EXPECT_TRUE(fs::is_empty(dir_.path()));
  // Not retried: a 404 is an answer, not a failure.
  EXPECT_EQ(store->requestsSent(), 2u);  // HEAD bucket, GET
}

TEST_F(S3StoreTest, NothingIsPublic) {
  auto store = open(admin());
  std::string data = "private";
  std::string digest = sha256Hex(data);
  ASSERT_TRUE(store->put(digest, writeFile(dir_.path() + "/p", data)));
  // An anonymous GET of the object, and of the bucket's listing, is refused.
  std::string object = env_.at("S3_ENDPOINT") + "/" + bucket_ + "/sha256/" + digest.substr(7);
  EXPECT_EQ(test::commandOutput("curl -s -o /dev/null -w '%{http_code}' " + object), "403");
  EXPECT_EQ(test::commandOutput("curl -s -o /dev/null -w '%{http_code}' " + env_.at("S3_ENDPOINT") +
                                "/" + bucket_),
            "403");
}

TEST_F(S3StoreTest, RefusesAFileThatIsNotItsDigest) {
  auto store = open(admin());
  auto put = store->put(sha256Hex("one"), writeFile(dir_.path() + "/f", "two"));
  ASSERT_FALSE(put);
  EXPECT_NE(put.error().message.find("refused"), std::string::npos);
}

// ---- the whole flow: the master stores in S3, a worker fetches by digest and runs ----

class S3ClusterTest : public S3StoreTest {};

TEST_F(S3ClusterTest, ROOT_AWorkerRunsARunFromAnImageInS3) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (the ns runtime)";
  master::ServerConfig mc;
  mc.s3 = admin();
  test::TestMaster master(mc);
  // The worker holds read-only credentials.
  worker::WorkerNodeConfig wc;
  wc.master = master.url();
  wc.name = test::uniqueName();
  wc.credentials = test::credentialsFor(master.server(), wc.name);
  wc.stateDir = dir_.path() + "/worker";
  wc.initPath = ::kuiga::test::initPath();
  wc.capacity = 10;
  wc.s3 = reader();
  auto node = worker::WorkerNode::start(wc);
  ASSERT_TRUE(node) << node.error().message;
  ASSERT_TRUE(test::eventually([&] { return (*node)->connected(); }));

  auto created = master.api().upload(
      "/api/v1/runs", test::sampleAut(), "aut",
      {{"spec", R"({"count": 3, "args": "{start_ms} {period_ms}", "period_ms": 50})"}});
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->text;
  int id = created->body["id"];
  std::string image = created->body["spec"]["image"];
  // The image and its AUT are in the bucket, and nowhere in the master's data directory.
  auto bucket = open(reader());
  EXPECT_TRUE(*bucket->has(image));
  EXPECT_FALSE(fs::exists(master.dataDir() + "/data/images"));
  // The master does not serve blobs it does not hold; it says where they are.
  TempDir d;
  worker::MasterLink link(
      {master.url(), "w-test", d.path(), {}, {}, test::credentialsFor(master.server(), "w-test")});
  auto blob = worker::LinkBlobSource(link).fetch(image, d.path() + "/blob");
  ASSERT_FALSE(blob);
  EXPECT_NE(blob.error().message.find("S3 bucket '" + bucket_ + "'"), std::string::npos)
      << blob.error().message;

  auto state = [&] {
    auto r = master.api().get(fmt::format("/api/v1/runs/{}", id));
    return r ? *r : nlohmann::json{};
  };
  ASSERT_TRUE(test::eventually([&] { return state()["state"] == "ready"; }, 30000))
      << state().dump();
  ASSERT_TRUE(master.api().post(fmt::format("/api/v1/runs/{}/start", id)));
  ASSERT_TRUE(test::eventually([&] { return state()["counts"]["running"] == 3; }, 30000))
      << state().dump();
  // The worker's copy came from S3 and was verified: its cache holds the image.
  EXPECT_TRUE(fs::exists(wc.stateDir + "/images/" + image.substr(7) + "/manifest.json"));
  ASSERT_TRUE(test::eventually(
      [&] {
        auto log = master.api().request("GET", fmt::format("/api/v1/runs/{}/instances/1/logs", id));
        return log && log->status == 200 && !log->text.empty();
      },
      10000));
  ASSERT_TRUE(master.api().del(fmt::format("/api/v1/runs/{}", id)));
  EXPECT_TRUE(test::eventually([&] { return state()["state"] == "deleted"; }, 30000));
  EXPECT_TRUE((*node)->destroy());
}

TEST_F(S3ClusterTest, AWorkerWithoutTheBucketDoesNotStartAndSaysWhy) {
  worker::WorkerNodeConfig wc;
  wc.master = "http://127.0.0.1:1";
  wc.name = test::uniqueName();
  wc.stateDir = dir_.path() + "/worker";
  wc.initPath = ::kuiga::test::initPath();
  wc.s3 = reader();
  wc.s3->bucket = "kuiga-missing";
  auto node = worker::WorkerNode::start(wc);
  ASSERT_FALSE(node);
  EXPECT_NE(node.error().message.find("bucket 'kuiga-missing' does not exist"), std::string::npos)
      << node.error().message;
}

// ---- a misbehaving server ----

// Answers each request with what `answer(n)` returns (n counts requests from 0) and closes;
// each connection on a thread of its own, so that a slow answer holds up no other.
class BadServer {
 public:
  explicit BadServer(std::function<std::string(int)> answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~BadServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    for (auto& t : connections_) t.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  int requests() const { return requests_.load(); }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      connections_.emplace_back([this, c] { answer(c); });
    }
  }
  void answer(int c) {
    {
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      std::string out = answer_(requests_++);
      size_t off = 0;
      while (off < out.size()) {
        ssize_t n = ::send(c, out.data() + off, out.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      ::close(c);
    }
  }
  std::function<std::string(int)> answer_;
  std::vector<std::thread> connections_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

S3Config badServerConfig(int port) {
  S3Config c;
  c.endpoint = fmt::format("http://127.0.0.1:{}", port);
  c.bucket = "kuiga-bad";
  c.credentials = {"AKEY", "a:secret:with:colons"};
  c.attempts = 3;
  c.backoff = std::chrono::milliseconds(10);
  return c;
}

std::string ok(const std::string& body) {
  return fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                     body.size(), body);
}

TEST(S3StoreFaults, AnInterruptedTransferIsRetriedThenReportedAndLeavesNoFile) {
  std::string blob = randomBytes(100000, 3);
  BadServer server([&](int n) {
    if (n == 0) return ok("");  // HEAD bucket
    return fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}", blob.size(),
                       blob.substr(0, 1000));
  });
  auto store = S3ImageStore::open(badServerConfig(server.port()));
  ASSERT_TRUE(store) << store.error().message;
  TempDir d;
  auto got = (*store)->fetch(sha256Hex(blob), d.path() + "/out");
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message.find("interrupted after 1000 of 100000 bytes"), std::string::npos)
      << got.error().message;
  EXPECT_NE(got.error().message.find("gave up after 3 attempts"), std::string::npos)
      << got.error().message;
  EXPECT_EQ(server.requests(), 4);
  EXPECT_TRUE(fs::is_empty(d.path()));
}

TEST(S3StoreFaults, ServerErrorsAreRetriedWithBackoff) {
  std::string blob = "after two 503s";
  BadServer server([&](int n) {
    if (n == 0) return ok("");
    if (n <= 2)
      return std::string(
          "HTTP/1.1 503 Slow Down\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return ok(blob);
  });
  auto store = S3ImageStore::open(badServerConfig(server.port()));
  ASSERT_TRUE(store) << store.error().message;
  TempDir d;
  auto got = (*store)->fetch(sha256Hex(blob), d.path() + "/out");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(readFile(d.path() + "/out"), blob);
  EXPECT_EQ(server.requests(), 4);
}

TEST(S3StoreFaults, BytesThatAreNotTheBlobAreRefused) {
  BadServer server([&](int n) { return n == 0 ? ok("") : ok("tampered"); });
  auto store = S3ImageStore::open(badServerConfig(server.port()));
  ASSERT_TRUE(store) << store.error().message;
  TempDir d;
  std::string digest = sha256Hex("original");
  auto got = (*store)->fetch(digest, d.path() + "/out");
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message.find("corrupt, refused"), std::string::npos) << got.error().message;
  EXPECT_TRUE(fs::is_empty(d.path()));
}

TEST(S3StoreFaults, AStalledTransferTimesOutAndIsRetried) {
  std::string blob = "slow";
  BadServer server([&](int n) {
    if (n == 0) return ok("");
    // Headers and a few bytes, then nothing: the server sleeps past the stall timeout.
    if (n == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2500));
      return std::string();
    }
    return ok(blob);
  });
  S3Config c = badServerConfig(server.port());
  c.stallTimeout = std::chrono::seconds(1);
  auto store = S3ImageStore::open(c);
  ASSERT_TRUE(store) << store.error().message;
  TempDir d;
  auto started = std::chrono::steady_clock::now();
  auto got = (*store)->fetch(sha256Hex(blob), d.path() + "/out");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(readFile(d.path() + "/out"), blob);
  EXPECT_EQ(server.requests(), 3);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(2400));
}

TEST(S3StoreFaults, NoServerIsAClearErrorAfterRetries) {
  int port;
  {
    BadServer gone([](int) { return std::string(); });
    port = gone.port();
  }
  auto s = S3ImageStore::open(badServerConfig(port));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("gave up after 3 attempts"), std::string::npos)
      << s.error().message;
}

// ---- configuration ----

TEST(S3Config, ValidatesBeforeAnyRequest) {
  S3Config c = badServerConfig(1);
  EXPECT_TRUE(validate(c));
  auto bad = [&](auto change, const char* words) {
    S3Config d = c;
    change(d);
    auto r = validate(d);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
  };
  bad([](S3Config& d) { d.bucket = "Bad_Bucket"; }, "is not valid");
  bad([](S3Config& d) { d.bucket = "ab"; }, "is not valid");
  bad([](S3Config& d) { d.endpoint = "ftp://x"; }, "http:// or https://");
  bad([](S3Config& d) { d.endpoint = "http://h:1/bucket"; }, "must not have a path");
  bad([](S3Config& d) { d.partSize = 1 << 20; }, "at least 5 MiB");
  bad([](S3Config& d) { d.credentials = {}; }, "no credentials");
}

TEST(S3Config, CredentialsFromAFileOrTheEnvironment) {
  TempDir d;
  std::string f = writeFile(d.path() + "/credentials",
                            "[default]\naws_access_key_id = K1\naws_secret_access_key = S:1\n"
                            "\n# a comment\n[profile worker]\naws_access_key_id=K2\n"
                            "aws_secret_access_key=S2\n");
  auto c = loadS3Credentials(f);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->accessKey, "K1");
  EXPECT_EQ(c->secretKey, "S:1");
  c = loadS3Credentials(f, "worker");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->accessKey, "K2");
  auto missing = loadS3Credentials(f, "nobody");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("no profile [nobody]"), std::string::npos);
  writeFile(f, "[default]\naws_access_key_id = K1\n");
  EXPECT_FALSE(loadS3Credentials(f));
  EXPECT_FALSE(loadS3Credentials(d.path() + "/none"));
  ::setenv("AWS_ACCESS_KEY_ID", "EK", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "ES", 1);
  c = loadS3Credentials("");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->accessKey, "EK");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  EXPECT_FALSE(loadS3Credentials(""));
  ::unsetenv("AWS_ACCESS_KEY_ID");
}

}  // namespace
}  // namespace kuiga::imagestore
