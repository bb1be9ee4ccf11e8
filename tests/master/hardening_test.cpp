// What a careless or hostile client did to the API, each as a test: amplified arguments, wrong
// types, names that fake rows, unbounded listings.
#include <fmt/format.h>
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace kuiga::test
