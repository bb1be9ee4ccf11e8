#include "scenario/station_server.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "sys/netns.hpp"
#include "sys/process.hpp"

extern char** environ;

namespace kuiga::scenario {

struct StationServer::Impl {
  sys::Child child;
  pid_t group = -1;  // its process group (setsid() made the shell its leader)
  std::optional<sys::ExitStatus> status;
  std::atomic<bool> readerDone{false};
  sys::UniqueFd log;
  mutable std::mutex mu;
  std::string partial;            // a line not ended yet
  std::deque<std::string> lines;  // the last ones
  std::jthread reader;

  void keep(std::string_view data) {
    if (log) (void)!::write(log.get(), data.data(), data.size());
    std::lock_guard lock(mu);
    partial.append(data);
    for (size_t nl; (nl = partial.find('\n')) != std::string::npos;) {
      lines.push_back(partial.substr(0, nl));
      partial.erase(0, nl + 1);
      if (lines.size() > 20) lines.pop_front();
    }
    if (partial.size() > 4096) partial.erase(0, partial.size() - 4096);
  }
};

StationServer::StationServer(std::string command)
    : command_(std::move(command)), impl_(std::make_shared<Impl>()) {}

StationServer::~StationServer() {
  stop();
}

Result<std::unique_ptr<StationServer>> StationServer::start(const std::string& command,
                                                            const std::string& netns,
                                                            const std::string& dir,
                                                            const std::string& logPath) {
  if (netns.empty() || netns.find('/') != std::string::npos || netns == "." || netns == "..")
    return failMsg(fmt::format("'{}' is not a network namespace name", netns));
  std::unique_ptr<StationServer> s(new StationServer(command));
  if (!logPath.empty()) {
    int fd = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return failSys("open " + logPath);
    s->impl_->log = sys::UniqueFd(fd);
  }
  int pipeFds[2];
  if (::pipe2(pipeFds, O_CLOEXEC) < 0) return failSys("pipe");
  sys::UniqueFd out(pipeFds[0]), in(pipeFds[1]);
  int nullFd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (nullFd < 0) return failSys("open /dev/null");
  sys::UniqueFd devNull(nullFd);
  auto ns = sys::netns::openPinned("/run/netns/" + netns);
  if (!ns)
    return fail(ns.error().context(
        fmt::format("the base station's network namespace '{}' (ip netns add {})", netns, netns)));
  sys::SpawnOptions o;
  o.path = "/bin/sh";
  // The directory and the command as arguments of a fixed script: nothing of theirs is
  // quoted into shell text.
  o.argv = dir.empty() ? std::vector<std::string>{"sh", "-c", command}
                       : std::vector<std::string>{"sh", "-c", "cd -- \"$1\" && exec sh -c \"$2\"",
                                                  "sh", dir,  command};
  for (char** e = environ; *e; ++e) o.env.emplace_back(*e);
  o.fds = {{devNull.get(), 0}, {in.get(), 1}, {in.get(), 2}};
  Result<sys::Child> child = failMsg("not started");
  {
    // The child is made in the namespace this thread is in for the while.
    auto guard = sys::netns::ThreadGuard::enter(ns->get());
    if (!guard)
      return fail(guard.error().context(fmt::format(
          "enter the network namespace '{}' (kuiga test runs its servers as root)", netns)));
    child = sys::spawn(o);
  }
  if (!child) return fail(child.error().context("server '" + command + "'"));
  s->impl_->group = child->pid();
  s->impl_->child = std::move(*child);
  in.reset();  // the child holds the only writing end: the reader sees its end
  s->impl_->reader = std::jthread([impl = s->impl_, fd = std::move(out)] {
    char buf[8192];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      impl->keep({buf, static_cast<size_t>(n)});
    }
    impl->readerDone = true;
  });
  return s;
}

std::optional<std::string> StationServer::ended() {
  if (!impl_->status && impl_->child.pid() > 0)
    if (auto st = impl_->child.tryWait(); st && *st) impl_->status = **st;
  if (!impl_->status) return std::nullopt;
  return impl_->status->describe();
}

void StationServer::stop() {
  if (!impl_ || impl_->group < 0) return;
  if (!impl_->status) {
    ::kill(-impl_->group, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (!ended() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!impl_->status) {
      ::kill(-impl_->group, SIGKILL);
      if (auto st = impl_->child.wait(); st) impl_->status = *st;
    }
  }
  // What the shell started in the background may still hold the pipe: its group goes too (the
  // kernel reuses no pid while a group of that id has members).
  for (int k = 0; k < 150 && !impl_->readerDone; ++k) {
    if (k == 0 || k == 50) ::kill(-impl_->group, k == 0 ? SIGTERM : SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (impl_->readerDone && impl_->reader.joinable()) impl_->reader.join();
  if (impl_->reader.joinable()) impl_->reader.detach();  // held by one that left the group
  impl_->group = -1;
}

std::string StationServer::tail() const {
  std::lock_guard lock(impl_->mu);
  std::string out;
  for (const auto& l : impl_->lines) out += l + "\n";
  if (!impl_->partial.empty()) out += impl_->partial + "\n";
  return out;
}

}  // namespace kuiga::scenario
