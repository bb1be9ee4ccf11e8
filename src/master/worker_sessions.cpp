#include "master/worker_sessions.hpp"

#include <future>

#include <fmt/format.h>

#include "rpc/control.pb.h"

namespace kuiga::master {

struct WorkerSessions::Session {
  NodeSession node;
  std::shared_ptr<WorkerLink> link;
  std::map<uint64_t, std::promise<Result<rpc::Reply>>> pending;  // replies awaited
};

void WorkerSessions::open(NodeSession node, std::shared_ptr<WorkerLink> link) {
  std::lock_guard lock(mu_);
  auto s = std::make_shared<Session>();
  const std::string name = node.name;
  s->node = std::move(node);
  s->link = std::move(link);
  if (s->node.plexer)
    plexers_.insert(name);
  else
    plexers_.erase(name);
  if (auto it = sessions_.find(name); it != sessions_.end())
    for (auto& [id, p] : it->second->pending)
      p.set_value(failMsg("worker " + name + " reconnected"));
  sessions_[name] = std::move(s);
  givenUp_.erase(name);
}

bool WorkerSessions::close(const std::string& node, const WorkerLink* link,
                           const std::string& why) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(node);
  // Checked under the lock that erases it: a node that registered again meanwhile (a new
  // stream, a new link) is not lost for what became of its old stream.
  if (it == sessions_.end() || it->second->link.get() != link) return false;
  for (auto& [id, p] : it->second->pending)
    p.set_value(failMsg("worker " + node + " lost: " + why));
  sessions_.erase(it);
  givenUp_.insert(node);
  return true;
}

bool WorkerSessions::touch(const std::string& node, const WorkerLink* link,
                           std::optional<uint64_t> zepUnplaceable) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(node);
  if (it == sessions_.end() || it->second->link.get() != link) return false;
  it->second->node.lastSeen = Clock::now();
  if (zepUnplaceable) it->second->node.zepUnplaceable = *zepUnplaceable;
  return true;
}

bool WorkerSessions::beginHandling(const std::string& node, const WorkerLink* link) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(node);
  if (it == sessions_.end() || it->second->link.get() != link) return false;
  it->second->node.lastSeen = Clock::now();
  ++it->second->node.handling;
  return true;
}

void WorkerSessions::endHandling(const std::string& node, const WorkerLink* link) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(node);
  if (it == sessions_.end() || it->second->link.get() != link) return;
  it->second->node.lastSeen = Clock::now();
  if (it->second->node.handling > 0) --it->second->node.handling;
}

Result<rpc::Reply> WorkerSessions::call(const std::string& node, rpc::Command cmd,
                                        std::chrono::milliseconds timeout) {
  std::future<Result<rpc::Reply>> fut;
  uint64_t req;
  std::shared_ptr<WorkerLink> link;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(node);
    if (it == sessions_.end()) return failMsg("worker " + node + " is not connected");
    req = nextRequest_++;
    fut = it->second->pending[req].get_future();
    link = it->second->link;
  }
  cmd.set_request(req);
  rpc::MasterMessage msg;
  *msg.mutable_command() = std::move(cmd);
  auto forget = [&] {
    std::lock_guard lock(mu_);
    if (auto it = sessions_.find(node); it != sessions_.end()) it->second->pending.erase(req);
  };
  if (!link->send(msg)) {
    forget();
    return failMsg("worker " + node + " is not connected");
  }
  if (fut.wait_for(timeout) != std::future_status::ready) {
    forget();
    return failMsg(fmt::format("worker {} did not answer within {} ms", node, timeout.count()));
  }
  return fut.get();
}

void WorkerSessions::onReply(const std::string& node, const rpc::Reply& reply) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(node);
  if (it == sessions_.end()) return;
  auto p = it->second->pending.find(reply.request());
  if (p == it->second->pending.end()) return;  // timed out already
  p->second.set_value(reply);
  it->second->pending.erase(p);
}

std::vector<std::pair<std::string, std::shared_ptr<WorkerLink>>> WorkerSessions::silent(
    std::chrono::milliseconds quiet) {
  std::vector<std::pair<std::string, std::shared_ptr<WorkerLink>>> out;
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  for (const auto& [name, s] : sessions_)
    if (s->node.handling == 0 && now - s->node.lastSeen > quiet) out.emplace_back(name, s->link);
  return out;
}

std::shared_ptr<WorkerLink> WorkerSessions::link(const std::string& node) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(node);
  return it == sessions_.end() ? nullptr : it->second->link;
}

void WorkerSessions::failAll(const std::string& why) {
  std::lock_guard lock(mu_);
  for (auto& [name, s] : sessions_)
    for (auto& [id, p] : s->pending) p.set_value(failMsg(why));
  sessions_.clear();
}

std::optional<NodeSession> WorkerSessions::find(const std::string& node) const {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(node);
  if (it == sessions_.end()) return std::nullopt;
  return it->second->node;
}

std::vector<NodeSession> WorkerSessions::all() const {
  std::lock_guard lock(mu_);
  std::vector<NodeSession> out;
  for (const auto& [name, s] : sessions_) out.push_back(s->node);
  return out;
}

bool WorkerSessions::online(const std::string& node) const {
  std::lock_guard lock(mu_);
  return sessions_.contains(node);
}

size_t WorkerSessions::count() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

bool WorkerSessions::isPlexer(const std::string& node) const {
  std::lock_guard lock(mu_);
  auto s = sessions_.find(node);
  return s != sessions_.end() ? s->second->node.plexer : plexers_.count(node) > 0;
}

void WorkerSessions::rememberRole(const std::string& node, bool plexer) {
  std::lock_guard lock(mu_);
  if (plexer)
    plexers_.insert(node);
  else
    plexers_.erase(node);
}

void WorkerSessions::forget(const std::string& node) {
  std::lock_guard lock(mu_);
  plexers_.erase(node);
}

bool WorkerSessions::givenUp(const std::string& node) const {
  std::lock_guard lock(mu_);
  return givenUp_.count(node) > 0;
}

void WorkerSessions::giveUp(const std::string& node) {
  std::lock_guard lock(mu_);
  givenUp_.insert(node);
}

}  // namespace kuiga::master
