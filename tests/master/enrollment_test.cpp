// HTTPS and enrolled nodes: `--tls auto` serves the API with a certificate from the cluster CA
// (curl trusts it with the CA file, and not without); plain HTTP on a non-loopback address is
// refused unless asked; a node enrolls with a join token that pins the CA, and holds its link
// over mutual TLS with a certificate that names it; a wrong pin, an expired token, another
// node's certificate, a revoked one, or no certificate at all get nowhere.
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <cstdlib>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "pki/pki.hpp"
#include "rpc/control.grpc.pb.h"
#include "sys/file.hpp"
#include "tests/master/api_fixture.hpp"

namespace kuiga::test {
namespace {

using json = nlohmann::json;

int sh(const std::string& cmd) {
  return WEXITSTATUS(std::system(cmd.c_str()));
}

TEST(Tls, AutoServesHttpsThatTrustsTheClusterCaOnly) {
  master::ServerConfig cfg;
  cfg.tlsAuto = true;
  TestMaster m(cfg);
  ASSERT_EQ(m.url().rfind("https://127.0.0.1:", 0), 0u) << m.url();
  // The client config carries the CA; the admin's client trusts it.
  auto conf = client::readConfig(m.dataDir() + "/data/kuiga.conf");
  ASSERT_TRUE(conf);
  EXPECT_FALSE(conf->caPem.empty());
  EXPECT_EQ(conf->master, m.url());
  EXPECT_TRUE(m.api().get("/api/v1/runs"));
  // curl, with the CA file and the token: 200; without the CA: refused (60: peer certificate).
  const std::string ca = m.dataDir() + "/data/pki/ca.crt";
  EXPECT_EQ(sh(fmt::format("curl -sf --cacert {} -H 'Authorization: Bearer {}' {}/api/v1/runs "
                           ">/dev/null",
                           ca, m.adminToken(), m.url())),
            0);
  EXPECT_EQ(sh(fmt::format("curl -s --cacert {} -o /dev/null -w '%{{http_code}}' {}/api/v1/runs "
                           "| grep -qx 401",
                           ca, m.url())),
            0);
  EXPECT_EQ(sh(fmt::format("curl -sf {}/healthz >/dev/null 2>&1", m.url())), 60);
  // A client that does not trust the CA gets no answer either.
  client::ApiClient stranger(m.url(), m.adminToken());
  EXPECT_FALSE(stranger.get("/api/v1/runs"));
  // Plain HTTP on the HTTPS port is no way in.
  std::string plain = m.url();
  plain.replace(0, 5, "http");
  auto clear = client::ApiClient(plain, m.adminToken()).request("GET", "/api/v1/runs");
  EXPECT_TRUE(!clear || clear->status != 200);
}

TEST(Tls, PlainHttpOnANetworkAddressIsRefusedUnlessInsecure) {
  TempDir dir;
  master::ServerConfig cfg;
  cfg.dataDir = dir.path() + "/data";
  cfg.host = "0.0.0.0";
  cfg.port = 0;
  auto refused = master::Server::start(cfg);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("without TLS"), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("--insecure"), std::string::npos);
  cfg.insecure = true;
  auto started = master::Server::start(cfg);
  ASSERT_TRUE(started) << started.error().message;
  started->reset();
  // With TLS it needs no leave.
  cfg.insecure = false;
  cfg.tlsAuto = true;
  auto tls = master::Server::start(cfg);
  ASSERT_TRUE(tls) << tls.error().message;
}

class EnrollmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    master::ServerConfig cfg;
    cfg.tlsAuto = true;
    master_ = std::make_unique<TestMaster>(cfg);
  }
  worker::MasterLinkConfig linkFor(const std::string& name, const std::string& token) {
    return {master_->url(), name, "", token, "", std::nullopt};
  }
  bool online(const std::string& name) {
    auto ws = master_->api().get("/api/v1/workers");
    if (!ws) return false;
    for (const auto& w : *ws)
      if (w["name"] == name) return w["online"] == true;
    return false;
  }
  std::unique_ptr<TestMaster> master_;
};

TEST_F(EnrollmentTest, AWorkerWithAJoinTokenEnrollsAndRunsARun) {
  FakeWorker w(linkFor("w1", master_->joinToken()), 10);
  ASSERT_TRUE(eventually([&] { return w.connected(); })) << "did not register";
  EXPECT_TRUE(online("w1"));
  // Its certificate names it and is the cluster's; it is kept for its next start.
  auto cert = sys::readFile(w.stateDir() + "/pki/node.crt");
  ASSERT_TRUE(cert);
  EXPECT_EQ(pki::inspect(*cert)->commonName, "w1");
  struct stat st {};
  ASSERT_EQ(::stat((w.stateDir() + "/pki/node.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A run goes through, its image fetched over the node's link.
  auto img = master_->api().upload("/api/v1/images", sampleAut(), "aut", {});
  auto run = master_->api().post("/api/v1/runs", {{"image", img->body["digest"]}, {"count", 2}});
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_TRUE(eventually([&] {
    auto r = master_->api().get(fmt::format("/api/v1/runs/{}", (*run)["id"].get<int>()));
    return r && (*r)["state"] == "ready";
  }));
  // Restarted without a token, it reconnects with the certificate it kept.
  w.disconnect();
  EXPECT_TRUE(eventually([&] { return !online("w1"); }));
  w.connect();
  EXPECT_TRUE(eventually([&] { return online("w1"); }));
}

TEST_F(EnrollmentTest, AWrongCaHashAnExpiredTokenOrNoTokenGetsNowhere) {
  // The token of another cluster's CA: nothing is sent to this master.
  std::string token = master_->joinToken();
  std::string forged = token;
  forged[4] = forged[4] == 'a' ? 'b' : 'a';
  TempDir s1;
  auto cfg1 = linkFor("w2", forged);
  cfg1.stateDir = s1.path();
  auto e1 = worker::MasterLink(cfg1).credentials();
  ASSERT_FALSE(e1);
  EXPECT_NE(e1.error().message.find("not the one the join token names"), std::string::npos)
      << e1.error().message;
  // An expired join token.
  auto brief = master_->api().post("/api/v1/tokens",
                                   {{"name", "brief"}, {"role", "join"}, {"expires", "1s"}});
  ASSERT_TRUE(brief);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  TempDir s2;
  auto cfg2 = linkFor("w3", (*brief)["token"]);
  cfg2.stateDir = s2.path();
  auto e2 = worker::MasterLink(cfg2).credentials();
  ASSERT_FALSE(e2);
  EXPECT_NE(e2.error().message.find("HTTP 401"), std::string::npos) << e2.error().message;
  // A user's token is no join token; and no token at all says what to do.
  auto cfg3 = linkFor("w4", master_->client("user", "alice").token());
  cfg3.stateDir = s2.path();
  EXPECT_FALSE(worker::MasterLink(cfg3).credentials());
  auto cfg4 = linkFor("w4", "");
  cfg4.stateDir = s2.path();
  auto e4 = worker::MasterLink(cfg4).credentials();
  ASSERT_FALSE(e4);
  EXPECT_NE(e4.error().message.find("join token"), std::string::npos) << e4.error().message;
  // None of them registered.
  auto ws = master_->api().get("/api/v1/workers");
  EXPECT_TRUE(ws && ws->empty()) << ws->dump();
}

TEST_F(EnrollmentTest, ACertificateNamesOneWorkerAndARevokedOneIsCutOff) {
  // w1's certificate presented by a node calling itself w2: refused.
  auto creds = credentialsFor(master_->server(), "w1");
  FakeWorker impostor({master_->url(), "w2", "", {}, "", creds}, 10);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_FALSE(impostor.connected());
  EXPECT_FALSE(online("w2"));
  impostor.disconnect();
  // The real w1 registers; revoked, its session ends and it cannot come back.
  FakeWorker w1({master_->url(), "w1", "", {}, "", creds}, 10);
  ASSERT_TRUE(eventually([&] { return w1.connected(); }));
  auto revoked = master_->api().del("/api/v1/workers/w1?revoke=1");
  ASSERT_TRUE(revoked) << revoked.error().message;
  EXPECT_TRUE(eventually([&] { return !w1.connected(); }));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_FALSE(w1.connected());
  EXPECT_FALSE(online("w1"));
  // A newer certificate for the same name replaces the older one, which is refused from then.
  auto first = credentialsFor(master_->server(), "w5");
  auto second = credentialsFor(master_->server(), "w5");
  FakeWorker stale({master_->url(), "w5", "", {}, "", first}, 10);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_FALSE(stale.connected()) << "a superseded certificate registered";
  stale.disconnect();
  FakeWorker current({master_->url(), "w5", "", {}, "", second}, 10);
  EXPECT_TRUE(eventually([&] { return current.connected(); }));
}

TEST_F(EnrollmentTest, TheWorkerEndpointTakesNoConnectionWithoutACertificate) {
  auto join = master_->api().get("/api/v1/cluster/join");
  ASSERT_TRUE(join);
  const std::string target = fmt::format("127.0.0.1:{}", (*join)["rpc_port"].get<int>());
  auto tryRegister = [&](std::shared_ptr<grpc::ChannelCredentials> creds) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("kuiga-master");
    auto stub = rpc::Control::NewStub(grpc::CreateCustomChannel(target, creds, args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    auto stream = stub->Connect(&ctx);
    rpc::WorkerMessage reg;
    reg.mutable_register_()->set_name("intruder");
    stream->Write(reg);
    rpc::MasterMessage m;
    bool answered = stream->Read(&m);
    return answered || stream->Finish().ok();
  };
  // In clear: no.
  EXPECT_FALSE(tryRegister(grpc::InsecureChannelCredentials()));
  // TLS that trusts the CA but shows no client certificate: no.
  grpc::SslCredentialsOptions noCert;
  noCert.pem_root_certs = (*join)["ca"];
  EXPECT_FALSE(tryRegister(grpc::SslCredentials(noCert)));
  // A certificate from a CA of its own: no.
  auto otherCa = pki::newCa("not the cluster", 1);
  auto key = pki::newKey();
  auto cert = pki::signClient(*otherCa, *pki::newCsr(*key, "intruder"), "intruder", 1);
  grpc::SslCredentialsOptions foreign = noCert;
  foreign.pem_private_key = *key;
  foreign.pem_cert_chain = cert->certPem;
  EXPECT_FALSE(tryRegister(grpc::SslCredentials(foreign)));
  auto ws = master_->api().get("/api/v1/workers");
  EXPECT_TRUE(ws && ws->empty());
}

TEST(Pki, SignsOnlyWhatTheRequestAsksAndPinsTheCaKey) {
  auto ca = pki::newCa("test CA", 1);
  ASSERT_TRUE(ca);
  auto key = pki::newKey();
  auto csr = pki::newCsr(*key, "w1");
  auto signed1 = pki::signClient(*ca, *csr, "w1", 1);
  ASSERT_TRUE(signed1) << signed1.error().message;
  EXPECT_TRUE(pki::verify(ca->certPem, signed1->certPem));
  EXPECT_TRUE(pki::keyMatches(*key, signed1->certPem));
  EXPECT_EQ(pki::inspect(signed1->certPem)->serial, signed1->serial);
  // A request for w1 does not become w2's certificate.
  auto wrong = pki::signClient(*ca, *csr, "w2", 1);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("names 'w1'"), std::string::npos);
  // A tampered request fails its signature.
  std::string bad = *csr;
  bad[bad.size() / 2] = bad[bad.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(pki::signClient(*ca, bad, "w1", 1));
  // Another CA's certificate is not ours; the pin is the public key's, stable and distinct.
  auto other = pki::newCa("test CA", 1);
  EXPECT_FALSE(pki::verify(other->certPem, signed1->certPem));
  EXPECT_EQ(*pki::publicKeyPin(ca->certPem), *pki::publicKeyPin(ca->certPem));
  EXPECT_NE(*pki::publicKeyPin(ca->certPem), *pki::publicKeyPin(other->certPem));
  EXPECT_EQ(pki::publicKeyPin(ca->certPem)->size(), 7u + 64u);
}

}  // namespace
}  // namespace kuiga::test
