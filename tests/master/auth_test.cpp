// Nobody gets in without a key: every route of the table (read from the OpenAPI document, which
// is made from it, so a new route cannot be forgotten) refuses a missing or wrong token, and a
// token whose role is too small; a user sees only their own runs and images; tokens are made,
// listed and removed by an admin, fail at once when removed or expired, and a client whose
// credentials keep failing is slowed down; Kuiga Web's sessions need their CSRF token.
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/master/api_fixture.hpp"

namespace kuiga::test {
namespace {

using json = nlohmann::json;
constexpr const char* kJson = "application/json";

struct Route {
  std::string method, path, role;
};

// Every operation of the document, with its path parameters filled in.
std::vector<Route> routesOf(const json& doc, RunId run = 1) {
  std::vector<Route> out;
  for (const auto& [pattern, ops] : doc["paths"].items())
    for (const auto& [method, op] : ops.items()) {
      std::string path = pattern;
      auto put = [&](const std::string& p, const std::string& v) {
        if (auto at = path.find(p); at != std::string::npos) path.replace(at, p.size(), v);
      };
      put("{id}", std::to_string(run));
      put("{index}", "0");
      put("{digest}", "sha256:" + std::string(64, '0'));
      put("{name}", "nobody");
      std::string m = method;
      for (auto& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      out.push_back({m, path, op["x-kuiga-role"]});
    }
  return out;
}

class AuthTest : public ApiTest {
 protected:
  // Every route is tried with wrong tokens here: the failure limit is not under test.
  void configure(master::ServerConfig& cfg) override { cfg.gate.failuresPerMinute = 100000; }
  json document() {
    auto doc = api().get("/api/v1/openapi.json");
    EXPECT_TRUE(doc) << doc.error().message;
    return doc ? *doc : json{};
  }
  static int status(client::ApiClient& c, const Route& r) {
    auto res = c.request(r.method, r.path, "{}");
    return res ? res->status : 0;
  }
};

TEST_F(AuthTest, EveryRouteRefusesNoTokenAWrongOneAndTooSmallARole) {
  auto routes = routesOf(document());
  ASSERT_GT(routes.size(), 25u);
  client::ApiClient none(master_->url());
  client::ApiClient wrong(master_->url(), "kgt_" + std::string(43, 'A'));
  client::ApiClient garbled(master_->url(), "not even a token");
  auto user = master_->client("user", "alice");
  auto metrics = master_->client("metrics", "prometheus");
  std::set<std::string> publicRoutes;
  for (const auto& r : routes) {
    SCOPED_TRACE(r.method + " " + r.path + " (role " + r.role + ")");
    if (r.role == "public") {
      publicRoutes.insert(r.method + " " + r.path);
      EXPECT_NE(status(none, r), 401);
      continue;
    }
    auto res = none.request(r.method, r.path, "{}");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401);
    EXPECT_EQ(res->body.value("error", ""), "unauthorized") << res->text;
    EXPECT_EQ(status(wrong, r), 401);
    EXPECT_EQ(status(garbled, r), 401);
    if (r.role == "admin" || r.role == "metrics") {
      EXPECT_EQ(status(user, r), 403);
    }
    EXPECT_EQ(status(metrics, r), r.role == "metrics" ? 200 : 403);
  }
  // What needs no token is only this: health, and what a node needs to find the cluster.
  EXPECT_EQ(publicRoutes, (std::set<std::string>{"GET /healthz", "GET /api/v1/cluster/join"}));
  // Kuiga Web's files are public (its page without a session is the login page).
  auto page = none.request("GET", "/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
}

TEST_F(AuthTest, AUserSeesAndTouchesOnlyTheirOwnRunsAndImages) {
  auto alice = master_->client("user", "alice");
  auto bob = master_->client("user", "bob");
  auto up = alice.upload("/api/v1/images", sampleAut(), "aut", {});
  ASSERT_TRUE(up);
  ASSERT_EQ(up->status, 201) << up->text;
  std::string img = up->body["digest"];
  auto made = alice.request("POST", "/api/v1/runs", json{{"image", img}, {"count", 2}}.dump());
  ASSERT_TRUE(made);
  ASSERT_EQ(made->status, 201) << made->text;
  const RunId id = made->body["id"];
  EXPECT_EQ(made->body["owner"], "alice");
  waitRun(static_cast<int>(id), "ready");

  // Every route about alice's run is a 404 to bob, as if it did not exist; none changed it.
  int runRoutes = 0;
  for (const auto& r : routesOf(document(), id)) {
    if (r.path.find(fmt::format("/runs/{}", id)) == std::string::npos) continue;
    SCOPED_TRACE(r.method + " " + r.path);
    ++runRoutes;
    auto res = bob.request(r.method, r.path, R"({"line": "hi"})");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 404) << res->text;
  }
  EXPECT_GE(runRoutes, 15);
  EXPECT_EQ(waitRun(static_cast<int>(id), "ready")["state"], "ready");
  // Nor does bob list it, see alice's image, or make a run of it.
  auto list = bob.get("/api/v1/runs");
  ASSERT_TRUE(list);
  EXPECT_EQ((*list)["total"], 0);
  EXPECT_EQ(bob.request("GET", "/api/v1/images/" + img)->status, 404);
  EXPECT_TRUE(bob.get("/api/v1/images")->empty());
  auto steal = bob.request("POST", "/api/v1/runs", json{{"image", img}, {"count", 1}}.dump());
  EXPECT_EQ(steal->status, 404) << steal->text;
  // Uploading the same AUT makes it bob's too; his run of it is his alone.
  ASSERT_EQ(bob.upload("/api/v1/images", sampleAut(), "aut", {})->body["digest"], img);
  auto his = bob.request("POST", "/api/v1/runs", json{{"image", img}, {"count", 1}}.dump());
  ASSERT_EQ(his->status, 201) << his->text;
  EXPECT_EQ((*alice.get("/api/v1/runs"))["total"], 1);
  // Alice acts on her own run; the admin sees both, with their owners.
  EXPECT_EQ(alice.request("POST", fmt::format("/api/v1/runs/{}/start", id))->status, 202);
  auto all = api().get("/api/v1/runs");
  ASSERT_TRUE(all);
  EXPECT_EQ((*all)["total"], 2);
  std::set<std::string> owners;
  for (const auto& r : (*all)["items"]) owners.insert(r["owner"]);
  EXPECT_EQ(owners, (std::set<std::string>{"alice", "bob"}));
}

TEST_F(AuthTest, TokensAreAnAdminsToManageAndFailAtOnceWhenRemovedOrExpired) {
  auto made = api().post("/api/v1/tokens", {{"name", "ci"}, {"role", "user"}});
  ASSERT_TRUE(made) << made.error().message;
  const std::string secret = (*made)["token"];
  EXPECT_EQ(secret.rfind("kgt_", 0), 0u);
  EXPECT_GE(secret.size(), 4u + 43u);  // 256 bits, base64url
  client::ApiClient ci(master_->url(), secret);
  EXPECT_TRUE(ci.get("/api/v1/runs"));
  // The listing names it and never shows a secret; a name is one token.
  auto list = api().get("/api/v1/tokens");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->dump().find(secret), std::string::npos);
  EXPECT_EQ(list->dump().find("hash"), std::string::npos);
  EXPECT_EQ(api().request("POST", "/api/v1/tokens", R"({"name": "ci"})")->status, 409);
  EXPECT_EQ(api().request("POST", "/api/v1/tokens", R"({"name": "x", "role": "root"})")->status,
            400);
  EXPECT_EQ(api().request("POST", "/api/v1/tokens", R"({"name": "a b"})")->status, 400);
  EXPECT_EQ(api().request("POST", "/api/v1/tokens", R"({"name": "x", "expires": "soon"})")->status,
            400);
  // Removed: it fails at once.
  EXPECT_TRUE(api().del("/api/v1/tokens/ci"));
  EXPECT_EQ(ci.request("GET", "/api/v1/runs")->status, 401);
  EXPECT_EQ(api().request("DELETE", "/api/v1/tokens/ci")->status, 404);
  // Expired: it fails once its time is up.
  auto brief = api().post("/api/v1/tokens", {{"name", "brief"}, {"expires", "1s"}});
  ASSERT_TRUE(brief);
  EXPECT_TRUE((*brief)["expires"].is_string());
  client::ApiClient b(master_->url(), (*brief)["token"].get<std::string>());
  EXPECT_EQ(b.request("GET", "/api/v1/runs")->status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(b.request("GET", "/api/v1/runs")->status, 401);
  // The last admin token stays: removing it would lock everyone out.
  auto last = api().request("DELETE", "/api/v1/tokens/admin");
  EXPECT_EQ(last->status, 409) << last->text;
  // Tokens outlive a restart (kept hashed in state.db, never in clear).
  auto kept = master_->client("user", "kept");
  master_->restart();
  EXPECT_EQ(kept.request("GET", "/api/v1/runs")->status, 200);
  std::ifstream db(master_->dataDir() + "/data/state.db", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(db)), {});
  EXPECT_EQ(bytes.find(kept.token()), std::string::npos);
}

TEST(AuthFailures, AClientWhoseTokensKeepFailingIsSlowedDown) {
  master::ServerConfig cfg;
  cfg.gate.failuresPerMinute = 5;
  TestMaster m(cfg);
  client::ApiClient wrong(m.url(), "kgt_wrong");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(wrong.request("GET", "/api/v1/runs")->status, 401);
  auto slowed = wrong.request("GET", "/api/v1/runs");
  ASSERT_TRUE(slowed);
  EXPECT_EQ(slowed->status, 429) << slowed->text;
  EXPECT_NE(slowed->text.find("too many failed authentications"), std::string::npos);
  // The address is slowed down whatever it sends, for the rest of the minute; health is not.
  EXPECT_EQ(m.api().request("GET", "/api/v1/runs")->status, 429);
  EXPECT_EQ(m.api().request("GET", "/healthz")->status, 200);
  // Asking with no token at all is not a failure of authentication.
  master::ServerConfig other;
  other.gate.failuresPerMinute = 2;
  TestMaster n(other);
  client::ApiClient none(n.url());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(none.request("GET", "/api/v1/runs")->status, 401);
  EXPECT_EQ(n.api().request("GET", "/api/v1/runs")->status, 200);
}

// The session cookie ("kuiga_session=...") of a Set-Cookie header.
std::string sessionOf(const std::string& setCookie) {
  auto at = setCookie.find("kuiga_session=");
  if (at == std::string::npos) return {};
  auto end = setCookie.find(';', at);
  return setCookie.substr(at, end - at);
}

TEST_F(AuthTest, AWebSessionChangesNothingWithoutItsCsrfTokenAndEndsWithItsToken) {
  auto alice = master_->client("user", "alice");
  auto login = alice.request("POST", "/api/v1/session", "");
  ASSERT_TRUE(login);
  ASSERT_EQ(login->status, 201) << login->text;
  std::string setCookie = login->header("set-cookie");
  EXPECT_NE(setCookie.find("HttpOnly"), std::string::npos) << setCookie;
  EXPECT_NE(setCookie.find("SameSite=Strict"), std::string::npos) << setCookie;
  std::string cookie = sessionOf(setCookie);
  ASSERT_FALSE(cookie.empty()) << setCookie;
  const std::string csrf = login->body["csrf"];
  client::ApiClient browser(master_->url());
  // Reads need only the cookie.
  auto who = browser.request("GET", "/api/v1/session", "", kJson, {{"Cookie", cookie}});
  ASSERT_EQ(who->status, 200) << who->text;
  EXPECT_EQ(who->body["user"], "alice");
  EXPECT_EQ(who->body["csrf"], csrf);
  auto img = alice.upload("/api/v1/images", sampleAut(), "aut", {});
  std::string spec = json{{"image", img->body["digest"]}, {"count", 1}}.dump();
  // A change with the cookie alone is what a forged cross-site request would be: refused.
  auto forged = browser.request("POST", "/api/v1/runs", spec, kJson, {{"Cookie", cookie}});
  EXPECT_EQ(forged->status, 403) << forged->text;
  auto wrongCsrf = browser.request("POST", "/api/v1/runs", spec, kJson,
                                   {{"Cookie", cookie}, {"X-CSRF-Token", "nope"}});
  EXPECT_EQ(wrongCsrf->status, 403);
  auto ok = browser.request("POST", "/api/v1/runs", spec, kJson,
                            {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
  EXPECT_EQ(ok->status, 201) << ok->text;
  EXPECT_EQ(ok->body["owner"], "alice");
  // A session's token removed ends the session.
  ASSERT_TRUE(api().del("/api/v1/tokens/alice"));
  EXPECT_EQ(browser.request("GET", "/api/v1/runs", "", kJson, {{"Cookie", cookie}})->status, 401);
  // Only a token logs in; a made-up cookie is nobody.
  EXPECT_EQ(
      browser.request("GET", "/api/v1/runs", "", kJson, {{"Cookie", "kuiga_session=made-up"}})
          ->status,
      401);
}

TEST(FirstStart, WritesAPrivateClientConfigAndInstallsItForTheUserOnlyWhenTheyHaveNone) {
  TempDir home;
  const char* was = std::getenv("XDG_CONFIG_HOME");
  std::string before = was ? was : "";
  ::setenv("XDG_CONFIG_HOME", home.path().c_str(), 1);
  master::ServerConfig cfg;
  cfg.installUserConfig = true;
  {
    TestMaster m(cfg);
    struct stat st {};
    ASSERT_EQ(::stat((m.dataDir() + "/data/kuiga.conf").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto conf = client::readConfig(home.path() + "/kuiga/config");
    ASSERT_TRUE(conf) << conf.error().message;
    EXPECT_EQ(conf->master, m.url());
    EXPECT_EQ(client::ApiClient(*conf).request("GET", "/api/v1/runs")->status, 200);
    // A second master leaves the user's config as it is.
    TestMaster other(cfg);
    auto still = client::readConfig(home.path() + "/kuiga/config");
    EXPECT_EQ(still->token, conf->token);
    // The same master restarted makes no second admin token.
    m.restart();
    auto tokens = m.api().get("/api/v1/tokens");
    ASSERT_TRUE(tokens);
    EXPECT_EQ(tokens->size(), 1u);
  }
  if (was)
    ::setenv("XDG_CONFIG_HOME", before.c_str(), 1);
  else
    ::unsetenv("XDG_CONFIG_HOME");
}

// A deployment holds its first admin token before the master starts (a Kubernetes Secret): the
// master takes that secret as its admin token, only at first start, and refuses a weak one.
TEST(FirstStart, TakesTheOperatorsAdminTokenAndRefusesAWeakOne) {
  TempDir dir;
  std::string secret = "kgt_" + master::randomToken(32);
  auto write = [&](const std::string& s) {
    std::ofstream(dir.path() + "/admin-token") << s << "\n";
  };
  master::ServerConfig weak;
  weak.dataDir = dir.path() + "/weak";
  weak.port = 0;
  weak.rpcAddress = "127.0.0.1:0";
  weak.adminTokenFile = dir.path() + "/admin-token";
  write("kgt_short");
  auto refused = master::Server::start(weak);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("--admin-token-file"), std::string::npos);

  // No file (an optional Secret not made): the master makes its own token.
  master::ServerConfig none;
  none.adminTokenFile = dir.path() + "/none";
  TestMaster own(none);
  EXPECT_EQ(own.adminToken().rfind("kgt_", 0), 0u);

  write(secret);
  master::ServerConfig cfg;
  cfg.adminTokenFile = dir.path() + "/admin-token";
  TestMaster m(cfg);
  EXPECT_EQ(m.adminToken(), secret);
  client::ApiClient given(m.url(), secret, {});
  auto tokens = given.get("/api/v1/tokens");
  ASSERT_TRUE(tokens) << tokens.error().message;
  EXPECT_EQ((*tokens)[0]["role"], "admin");
  // Restarted with another secret in the file, the master keeps the admin it has.
  write("kgt_" + master::randomToken(32));
  m.restart();
  EXPECT_EQ(client::ApiClient(m.url(), secret, {}).request("GET", "/api/v1/tokens")->status, 200);
  EXPECT_EQ(m.api().get("/api/v1/tokens")->size(), 1u);
}

}  // namespace
}  // namespace kuiga::test
