#pragma once
// The master's links to its nodes (workers and plexers): one session per connected node, the
// calls made over it and their replies, signs of life, and which nodes went silent. It knows
// nothing of runs: the RunService decides what a lost node means for them. Its own lock is
// never held while it calls out, so the RunService may call it under its own.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace kuiga::rpc {
class Command;
class Reply;
class MasterMessage;
}  // namespace kuiga::rpc

namespace kuiga::master {

// The master's end of one connected node: the gRPC adapter implements it.
class WorkerLink {
 public:
  virtual ~WorkerLink() = default;
  // Queues a message to the node; false once the stream is gone.
  virtual bool send(const rpc::MasterMessage& msg) = 0;
  virtual std::string peer() const = 0;
};

struct NodeSession {
  using Clock = std::chrono::steady_clock;
  std::string name;
  uint32_t capacity = 0;
  std::string underlay;  // where other nodes' tunnels reach its radio network; "": none
  bool plexer = false;   // holds runs' cells, takes no instances
  Clock::time_point lastSeen;
  uint64_t zepUnplaceable = 0;  // from its heartbeats
  int handling = 0;             // its messages being handled now: it is not silent meanwhile
};

class WorkerSessions {
 public:
  using Clock = NodeSession::Clock;
  WorkerSessions() = default;
  WorkerSessions(const WorkerSessions&) = delete;
  WorkerSessions& operator=(const WorkerSessions&) = delete;

  // A node's new session; the one it replaces, if any, fails its pending calls.
  void open(NodeSession node, std::shared_ptr<WorkerLink> link);
  // Ends the node's session if `link` is still its own (not one it registered with since), and
  // marks it given up; false when there was nothing to end.
  bool close(const std::string& node, const WorkerLink* link, const std::string& why);
  // A sign of life on `link` (with a heartbeat's count); false when `link` is no longer the
  // node's session.
  bool touch(const std::string& node, const WorkerLink* link,
             std::optional<uint64_t> zepUnplaceable = std::nullopt);
  // A message of the node read from `link`, and then handled: a sign of life when it arrives,
  // and while it is handled the node is not found silent (its heartbeats wait behind it in
  // the stream: 5,000 events may take the master seconds). begin returns touch()'s answer;
  // end, called whatever begin said, is a sign of life again.
  bool beginHandling(const std::string& node, const WorkerLink* link);
  void endHandling(const std::string& node, const WorkerLink* link);
  // Sends a command and waits for its reply (an error when the node is gone or silent).
  Result<rpc::Reply> call(const std::string& node, rpc::Command cmd,
                          std::chrono::milliseconds timeout);
  void onReply(const std::string& node, const rpc::Reply& reply);
  // The nodes silent for longer than `quiet`, each with its link (held: no new link can take
  // its address before close() compares).
  std::vector<std::pair<std::string, std::shared_ptr<WorkerLink>>> silent(
      std::chrono::milliseconds quiet);
  // The node's current link (null when it has no session).
  std::shared_ptr<WorkerLink> link(const std::string& node);
  // Fails every pending call (the master is stopping).
  void failAll(const std::string& why);

  [[nodiscard]] std::optional<NodeSession> find(const std::string& node) const;
  [[nodiscard]] std::vector<NodeSession> all() const;
  [[nodiscard]] bool online(const std::string& node) const;
  [[nodiscard]] size_t count() const;

  // Whether a node is a plexer: its session's role, else what was remembered (from the store
  // when the master started, or its last registration).
  [[nodiscard]] bool isPlexer(const std::string& node) const;
  void rememberRole(const std::string& node, bool plexer);
  void forget(const std::string& node);
  // Nodes declared lost since they last registered (a plexer's cells are then chosen again).
  [[nodiscard]] bool givenUp(const std::string& node) const;
  void giveUp(const std::string& node);

 private:
  struct Session;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Session>> sessions_;
  std::set<std::string> givenUp_;
  std::set<std::string> plexers_;
  uint64_t nextRequest_ = 1;
};

}  // namespace kuiga::master
