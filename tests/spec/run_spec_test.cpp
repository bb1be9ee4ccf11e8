#include <gtest/gtest.h>

#include "spec/run_spec.hpp"

namespace kuiga {
namespace {

using json = nlohmann::json;

std::string errorOf(const json& j) {
  auto r = RunSpec::fromJson(j);
  return r ? "" : r.error().message;
}

TEST(RunSpec, ParsesEveryField) {
  auto r = RunSpec::fromJson(json::parse(R"({"name":"t","image":"sha256:x","count":3,
      "args":"{start_ms} {period_ms}","net":"tap","limits":{"memory_mb":64,"pids":10,
      "cpu_milli":500},"policy":"reschedule","start_ms":5,"period_ms":100,"seed":7})"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->count, 3u);
  EXPECT_EQ(r->args, (std::vector<std::string>{"{start_ms}", "{period_ms}"}));
  EXPECT_EQ(r->net, NetMode::Tap);
  EXPECT_EQ(r->limits.memoryBytes, 64ull << 20);
  EXPECT_EQ(r->limits.pids, 10u);
  EXPECT_EQ(r->policy, FailurePolicy::Reschedule);
  auto back = RunSpec::fromJson(r->toJson());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->toJson(), r->toJson());
}

TEST(RunSpec, IsolationGroupWithItsSize) {
  auto r = RunSpec::fromJson(json::parse(R"({"count":3,"isolation":"group","group_size":2})"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->isolation, Isolation::Group);
  EXPECT_EQ(r->groupSize, 2u);
  EXPECT_EQ(RunSpec::fromJson(r->toJson())->toJson(), r->toJson());
  auto plain = RunSpec::fromJson(json::parse(R"({"count":3})"));
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->isolation, Isolation::Instance);
  EXPECT_EQ(plain->toJson()["isolation"], "instance");
  EXPECT_EQ(RunSpec::fromJson(json::parse(R"({"count":3,"isolation":"group"})"))->groupSize,
            kDefaultGroupSize);
  EXPECT_NE(errorOf({{"count", 1}, {"isolation", "vm"}}).find("'isolation'"), std::string::npos);
  EXPECT_NE(errorOf({{"count", 1}, {"isolation", "group"}, {"group_size", 0}}).find("'group_size'"),
            std::string::npos);
  EXPECT_NE(errorOf({{"count", 1}, {"isolation", "group"}, {"group_size", 5001}})
                .find("between 1 and 5000"),
            std::string::npos);
  EXPECT_NE(errorOf({{"count", 1}, {"group_size", 10}}).find("is for \"isolation\""),
            std::string::npos);
}

TEST(RunSpec, RefusesBadInputNamingTheField) {
  EXPECT_NE(errorOf(json::array()).find("JSON object"), std::string::npos);
  EXPECT_NE(errorOf(json::object()).find("'count' is required"), std::string::npos);
  EXPECT_NE(errorOf({{"count", 0}}).find("'count' must be between 1 and 50000"), std::string::npos);
  EXPECT_NE(errorOf({{"count", -1}}).find("'count'"), std::string::npos);
  EXPECT_NE(errorOf(json::parse(R"({"count": 0})")).find("between 1 and"), std::string::npos);
  EXPECT_NE(errorOf({{"count", 1000000000}}).find("'count'"), std::string::npos);
  EXPECT_NE(errorOf({{"count", "10"}}).find("'count' must be an integer, not string"),
            std::string::npos);
  EXPECT_NE(errorOf({{"count", 1.5}}).find("integer"), std::string::npos);
  EXPECT_NE(errorOf({{"count", 1}, {"net", "wifi"}}).find("'net'"), std::string::npos);
  EXPECT_NE(errorOf({{"count", 1}, {"policy", "x"}}).find("'policy'"), std::string::npos);
  EXPECT_NE(errorOf({{"count", 1}, {"args", "{nope}"}}).find("{nope}"), std::string::npos);
  EXPECT_NE(errorOf({{"count", 1}, {"args", 5}}).find("'args'"), std::string::npos);
  EXPECT_NE(errorOf({{"count", 1}, {"colour", "red"}}).find("unknown field 'colour'"),
            std::string::npos);
  EXPECT_NE(errorOf({{"count", 1}, {"limits", {{"memory", 1}}}}).find("limits.memory"),
            std::string::npos);
  EXPECT_NE(errorOf({{"count", 1}, {"limits", {{"pids", 0}}}}).find("'pids'"), std::string::npos);
}

TEST(RunState, OnlyTheReportsTransitionsAreAllowed) {
  using S = RunState;
  using A = RunAction;
  EXPECT_FALSE(refuse(S::Ready, A::Start));
  EXPECT_FALSE(refuse(S::Running, A::Stop));
  EXPECT_FALSE(refuse(S::Dirty, A::Stop)) << "a dirty run's instances may still run";
  for (S s : {S::Ready, S::Running, S::Stopped, S::Dirty}) EXPECT_FALSE(refuse(s, A::Delete));
  for (S s : {S::Pending, S::Running, S::Stopped, S::Deleted, S::Dirty})
    EXPECT_TRUE(refuse(s, A::Start)) << toString(s);
  for (S s : {S::Pending, S::Ready, S::Stopped, S::Deleted})
    EXPECT_TRUE(refuse(s, A::Stop)) << toString(s);
  EXPECT_TRUE(refuse(S::Pending, A::Delete));
  EXPECT_TRUE(refuse(S::Deleted, A::Delete));
  EXPECT_NE(refuse(S::Stopped, A::Start)->find("cannot start a run that is stopped"),
            std::string::npos);
}

}  // namespace
}  // namespace kuiga
