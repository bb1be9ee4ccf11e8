#pragma once
// A real master over real HTTP, with workers on fake runtimes: the fixture of the API tests.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/support/cluster.hpp"

namespace kuiga::test {

class ApiTest : public ::testing::Test {
 protected:
  using json = nlohmann::json;
  // A fixture's own changes to the master's configuration.
  virtual void configure(master::ServerConfig& cfg) { (void)cfg; }
  void SetUp() override {
    master::ServerConfig cfg;
    cfg.maxUploadBytes = 256 << 10;
    configure(cfg);
    master_ = std::make_unique<TestMaster>(cfg);
    addWorker("w1", 100);
  }
  FakeWorker& addWorker(const std::string& name, uint32_t capacity) {
    workers_.push_back(std::make_unique<FakeWorker>(name, master_->server(), capacity));
    auto& w = *workers_.back();
    EXPECT_TRUE(eventually([&] { return w.connected(); }));
    EXPECT_TRUE(eventually([&] {
      auto ws = api().get("/api/v1/workers");
      if (!ws) return false;
      for (const auto& x : *ws)
        if (x["name"] == name && x["online"] == true) return true;
      return false;
    }));
    return w;
  }
  client::ApiClient& api() { return master_->api(); }
  std::string image() {
    auto r = api().upload("/api/v1/images", sampleAut(), "aut", {});
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 201) << r->text;
    return r->body["digest"];
  }
  json createRun(json spec) {
    if (!spec.contains("image")) spec["image"] = image();
    auto r = api().request("POST", "/api/v1/runs", spec.dump());
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 201) << r->text;
    return r->body;
  }
  json waitRun(int id, const std::string& state, int timeoutMs = 10000) {
    json last;
    eventually(
        [&] {
          auto r = api().get("/api/v1/runs/" + std::to_string(id));
          if (!r) return false;
          last = *r;
          return last["state"] == state;
        },
        timeoutMs);
    EXPECT_EQ(last["state"], state) << last.dump();
    return last;
  }
  // Status and error code of a request.
  std::pair<int, std::string> call(const std::string& method, const std::string& path,
                                   const std::string& body = "{}") {
    auto r = api().request(method, path, body);
    if (!r) return {0, r.error().message};
    return {r->status, r->body.is_object() ? r->body.value("error", "") : ""};
  }
  size_t runCount() { return (*api().get("/api/v1/runs?deleted=1"))["total"].get<size_t>(); }

  std::unique_ptr<TestMaster> master_;
  std::vector<std::unique_ptr<FakeWorker>> workers_;
};

}  // namespace kuiga::test
