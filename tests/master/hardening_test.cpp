// What a careless or hostile client did to the API, each as a test: amplified arguments, wrong
// types, names that fake rows, unbounded listings.
#include <sys/stat.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "tests/master/api_fixture.hpp"

namespace kuiga::test {
namespace {

using json = nlohmann::json;

std::string repeated(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

TEST_F(ApiTest, AnArgumentTemplateThatWouldExpandPastTheLimitIsRefusedAtCreate) {
  std::string img = image();
  // The tester's body: 140 KB of placeholders in one argument, 500 KB per device expanded.
  auto huge = api().request("POST", "/api/v1/runs",
                            json{{"image", img},
                                 {"count", 100},
                                 {"args", std::vector<std::string>{repeated("{ipv6}", 20000)}}}
                                .dump());
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 400) << huge->text;
  EXPECT_NE(huge->body["message"].get<std::string>().find("4096 bytes"), std::string::npos)
      << huge->text;
  // Too many arguments, however short.
  auto many = api().request(
      "POST", "/api/v1/runs",
      json{{"image", img}, {"count", 1}, {"args", std::vector<std::string>(257, "x")}}.dump());
  ASSERT_TRUE(many);
  EXPECT_EQ(many->status, 400) << many->text;
  EXPECT_NE(many->body["message"].get<std::string>().find("at most 256"), std::string::npos);
  EXPECT_EQ(runCount(), 0u);
  EXPECT_TRUE(workers_[0]->runtime().list().empty());

  // Just under the limit: 150 arguments of {ipv6} take at most 150 * 26 bytes; the worker
  // expands them per device.
  json run = createRun({{"count", 3}, {"args", repeated("{ipv6} ", 150)}});
  int id = run["id"];
  waitRun(id, "ready");
  auto log = api().request("GET", fmt::format("/api/v1/runs/{}/instances/2/logs", id));
  ASSERT_TRUE(log);
  std::string addr = ipv6Address({static_cast<RunId>(id), 2});
  EXPECT_NE(log->text.find("args:" + repeated(addr + " ", 149) + addr), std::string::npos)
      << log->text.substr(0, 200);
}

TEST_F(ApiTest, EveryWrongTypeIsA400AndUploadFieldsBelongToUploads) {
  std::string img = image();
  // In a multipart spec, with an upload: wrong types were a 500 (a JSON type error).
  for (const char* spec : {R"({"count": 1, "profile": 5})", R"({"count": 1, "executable": 5})",
                           R"({"count": 1, "profile": ["linux"]})"}) {
    auto r = api().upload("/api/v1/runs", sampleAut(), "aut", {{"spec", spec}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << spec << " -> " << r->text;
    EXPECT_NE(r->body["message"].get<std::string>().find("must be a string"), std::string::npos);
  }
  // In a JSON spec naming an image: "executable" was accepted silently.
  for (json extra : {json{{"executable", 5}}, json{{"executable", "other"}}}) {
    json spec = {{"image", img}, {"count", 1}};
    spec.update(extra);
    auto r = api().request("POST", "/api/v1/runs", spec.dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << spec.dump() << " -> " << r->text;
  }
  // An upload may name its executable.
  auto named = api().upload("/api/v1/runs", sampleAut(), "aut",
                            {{"spec", R"({"count": 1, "executable": "sensor"})"}});
  ASSERT_TRUE(named);
  EXPECT_EQ(named->status, 201) << named->text;
  EXPECT_EQ(runCount(), 1u);
}

TEST_F(ApiTest, NamesAreLimitedToPrintableCharacters) {
  std::string img = image();
  for (std::string bad : {std::string("a\nb"), std::string("x\x1b[2Jy"), std::string("n\0ul", 4),
                          std::string("\xff\xfe"), std::string("c1\xc2\x85")}) {
    // As the bytes a client sends (a JSON library would escape or replace them).
    std::string escaped;
    for (char ch : bad)
      escaped +=
          static_cast<unsigned char>(ch) < 0x20 ? fmt::format("\\u{:04x}", ch) : std::string(1, ch);
    auto r = api().request("POST", "/api/v1/runs",
                           fmt::format(R"({{"image":"{}","count":1,"name":"{}"}})", img, escaped));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->text;
  }
  EXPECT_EQ(runCount(), 0u);
  json ok = createRun({{"count", 1}, {"name", "Capteur — salle 3 ✓"}});
  EXPECT_EQ(ok["name"], "Capteur — salle 3 ✓");
}

TEST_F(ApiTest, TheRunListingIsPagedAndHidesDeletedRuns) {
  std::string img = image();
  std::vector<int> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(createRun({{"image", img}, {"count", 1}})["id"]);
  for (int id : ids) waitRun(id, "ready");
  ASSERT_TRUE(api().del(fmt::format("/api/v1/runs/{}", ids[1])));
  waitRun(ids[1], "deleted");
  auto page = api().get("/api/v1/runs?offset=1&limit=2");
  ASSERT_TRUE(page);
  EXPECT_EQ((*page)["total"], 4);  // not the deleted one
  ASSERT_EQ((*page)["items"].size(), 2u);
  EXPECT_EQ((*page)["items"][0]["id"], ids[2]);
  EXPECT_EQ((*page)["items"][1]["id"], ids[3]);
  EXPECT_EQ((*api().get("/api/v1/runs?deleted=1"))["total"], 5);
  auto deleted = api().get("/api/v1/runs?state=deleted");
  ASSERT_EQ((*deleted)["items"].size(), 1u);
  EXPECT_EQ((*deleted)["items"][0]["id"], ids[1]);
  EXPECT_EQ((*api().get("/api/v1/runs?state=ready"))["total"], 4);
  for (const char* bad : {"?limit=0", "?limit=1001", "?offset=-1", "?limit=x", "?state=sleepy"})
    EXPECT_EQ(call("GET", std::string("/api/v1/runs") + bad).first, 400) << bad;
}

TEST(DataDirectory, IsMadePrivateAndAWorldReadableOneIsRefused) {
  TempDir open;  // 0755, as a user's mkdir makes it
  master::ServerConfig cfg;
  cfg.port = 0;
  cfg.dataDir = open.path();
  auto refused = master::Server::start(cfg);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("may be read by others (mode 0755)"), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("chmod 700"), std::string::npos);
  cfg.dataDir = open.path() + "/fresh";
  auto made = master::Server::start(cfg);
  ASSERT_TRUE(made) << made.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(cfg.dataDir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(ApiTest, MetricsCountRequestsByRoutePatternAndMadeUpPathsAsOther) {
  for (const char* p : {"/api/v1/runs/7", "/api/v1/runs/8", "/api/v1/runs/7/instances/3/logs",
                        "/api/v1/no-such-thing/1", "/wp-admin/x", "/api/v1/runs/7/logs/extra"})
    (void)api().request("GET", p);
  const std::vector<std::string> wants = {
      "kuiga_http_requests_total{method=\"GET\",route=\"/api/v1/runs/{id}\",code=\"404\"} 2\n",
      "route=\"/api/v1/runs/{id}/instances/{index}/logs\",code=\"404\"} 1\n",
      "kuiga_http_requests_total{method=\"GET\",route=\"other\",code=\"404\"} 3\n"};
  // A request is counted once the server is done with it, which may be a moment after its
  // client has the answer: a scrape right then may miss it (seen under load), the next not.
  std::string text;
  for (int tries = 0; tries < 100; ++tries) {
    auto r = api().request("GET", "/metrics");
    ASSERT_TRUE(r);
    text = r->text;
    if (std::all_of(wants.begin(), wants.end(),
                    [&](const std::string& w) { return text.find(w) != std::string::npos; }))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (const auto& want : wants) EXPECT_NE(text.find(want), std::string::npos) << want << text;
  EXPECT_EQ(text.find("wp-admin"), std::string::npos);
}

}  // namespace
}  // namespace kuiga::test
