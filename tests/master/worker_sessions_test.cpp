#include "master/worker_sessions.hpp"

#include <thread>

#include <gtest/gtest.h>

namespace kuiga::master {

using namespace std::chrono_literals;

namespace {

// The stream end of a session, which these tests never send on.
struct QuietLink : WorkerLink {
  bool send(const rpc::MasterMessage&) override { return true; }
  std::string peer() const override { return "test"; }
};

bool isSilent(WorkerSessions& s, std::chrono::milliseconds quiet) {
  for (const auto& [name, link] : s.silent(quiet))
    if (name == "w1") return true;
  return false;
}

}  // namespace

// A worker whose batch of events the master takes seconds to handle is not lost meanwhile:
// its heartbeats wait behind that batch in the stream.
TEST(WorkerSessions, ANodeIsNotSilentWhileItsMessageIsHandled) {
  WorkerSessions s;
  auto link = std::make_shared<QuietLink>();
  NodeSession node;
  node.name = "w1";
  node.lastSeen = NodeSession::Clock::now();
  s.open(node, link);
  std::this_thread::sleep_for(30ms);
  EXPECT_TRUE(isSilent(s, 20ms));
  ASSERT_TRUE(s.beginHandling("w1", link.get()));
  EXPECT_FALSE(isSilent(s, 20ms)) << "a message arriving is a sign of life";
  std::this_thread::sleep_for(30ms);
  EXPECT_FALSE(isSilent(s, 20ms)) << "not silent while its message is handled";
  s.endHandling("w1", link.get());
  EXPECT_FALSE(isSilent(s, 20ms));
  std::this_thread::sleep_for(30ms);
  EXPECT_TRUE(isSilent(s, 20ms)) << "silent again once nothing more came";
  // Another link's messages (a stream superseded by a new registration) say nothing of it.
  QuietLink old;
  EXPECT_FALSE(s.beginHandling("w1", &old));
  s.endHandling("w1", &old);
  EXPECT_TRUE(isSilent(s, 20ms));
}

}  // namespace kuiga::master
