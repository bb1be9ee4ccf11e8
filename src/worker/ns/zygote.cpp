#include "worker/ns/zygote.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "worker/ns/init/zygote_proto.h"

namespace kuiga::worker::ns {

namespace {

Result<zygoteReply> receiveReply(int sock) {
  zygoteReply r{};
  ssize_t n;
  while ((n = ::recv(sock, &r, sizeof r, 0)) < 0 && errno == EINTR) {
  }
  // A closed socket, or reset when our request was still unread in it: the zygote is gone.
  if (n == 0 || (n < 0 && errno == ECONNRESET))
    return failSys("zygote: it ended without answering", ECONNRESET);
  if (n < 0) return failSys("zygote: read its answer");
  if (n != static_cast<ssize_t>(sizeof r)) return failMsg("zygote: a short answer");
  r.stage[sizeof r.stage - 1] = '\0';
  return r;
}

}  // namespace

Result<std::unique_ptr<Zygote>> Zygote::start(const std::string& initPath,
                                              const std::string& root) {
  std::unique_ptr<Zygote> z(new Zygote(initPath, root));
  KUIGA_TRY(z->launch(), "zygote");
  return z;
}

Zygote::~Zygote() {
  sock_.reset();  // it ends on the closed socket; ~Child kills and reaps it if it has not
}

VoidResult Zygote::launch() {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
    return failSys("socketpair");
  sys::UniqueFd ours(pair[0]), theirs(pair[1]);
  sys::SpawnOptions so;
  so.path = initPath_;
  so.argv = {"kuiga-init", "--zygote", root_};
  so.namespaces = CLONE_NEWNS;
  so.fds = {{theirs.get(), KUIGA_ZYGOTE_SOCKET_FD}};
  auto child = sys::spawn(so);
  if (!child) return fail(child.error());
  theirs.reset();
  auto ready = receiveReply(ours.get());
  if (!ready) return fail(ready.error());
  if (ready->err != 0)
    return failSys(fmt::format("zygote: {} '{}'", ready->stage, root_), ready->err);
  child_ = std::move(*child);
  sock_ = std::move(ours);
  return {};
}

VoidResult Zygote::send(const std::string& message, const std::vector<int>& fds) {
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  iovec iov{const_cast<char*>(message.data()), message.size()};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  if (!fds.empty()) {
    m.msg_control = control.data();
    m.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  if (::sendmsg(sock_.get(), &m, MSG_NOSIGNAL) != static_cast<ssize_t>(message.size()))
    return failSys("zygote: send the request");
  return {};
}

Result<pid_t> Zygote::receive() {
  auto r = receiveReply(sock_.get());
  if (!r) {
    // Gone while it held the request: the next one starts a new zygote. Whether it cloned
    // the init first cannot be known; one that did is in the instance's cgroup on v2, which
    // the failed create removes, and on v1 recovery's scan finds it by its --root argument.
    sock_.reset();
    return fail(r.error());
  }
  if (r->err == 0) return static_cast<pid_t>(r->pid);
  // An init that was cloned but could not exec is our child: reap it.
  if (r->pid > 0)
    while (::waitpid(r->pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  return failSys(fmt::format("zygote: {}", r->stage), r->err);
}

VoidResult Zygote::relaunch() {
  child_ = sys::Child();  // kills and reaps what is left of the old one
  sock_.reset();
  return launch();
}

Result<pid_t> Zygote::spawn(const sys::SpawnOptions& so) {
  if (so.fds.size() + (so.cgroupFd >= 0 ? 1 : 0) > KUIGA_ZYGOTE_MAX_FDS)
    return failMsg("zygote: too many descriptors");
  zygoteRequest q{};
  q.namespaces = static_cast<uint32_t>(so.namespaces);
  std::vector<int> fds;
  for (const auto& [fd, target] : so.fds) {
    q.targets[fds.size()] = target;
    fds.push_back(fd);
  }
  q.cgroupIndex = -1;
  if (so.cgroupFd >= 0) {
    q.cgroupIndex = static_cast<int32_t>(fds.size());
    q.targets[fds.size()] = -1;  // the init enters it and does not keep it
    fds.push_back(so.cgroupFd);
  }
  q.nfds = static_cast<uint32_t>(fds.size());
  q.argc = static_cast<uint32_t>(so.argv.size());
  q.envc = static_cast<uint32_t>(so.env.size());
  for (int s : so.blockedSignals) q.blockedSignals |= uint64_t{1} << (s - 1);
  std::string message(reinterpret_cast<const char*>(&q), sizeof q);
  for (const auto* list : {&so.argv, &so.env})
    for (const auto& s : *list) message.append(s.c_str(), s.size() + 1);
  if (message.size() > KUIGA_ZYGOTE_MAX_MESSAGE) return failMsg("zygote: arguments too long");

  std::lock_guard lock(mu_);
  if (!sock_) KUIGA_TRY(relaunch(), "restart the zygote");
  if (auto sent = send(message, fds); !sent) {
    if (sent.error().code != EPIPE && sent.error().code != ECONNRESET) return fail(sent.error());
    // It died between two requests (killed from outside, out of memory): nothing of this one
    // was done, so it goes again to a new zygote.
    KUIGA_TRY(relaunch(), "restart the zygote");
    KUIGA_TRY(send(message, fds), "after a restart");
  }
  return receive();
}

}  // namespace kuiga::worker::ns
