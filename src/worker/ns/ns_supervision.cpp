// The ns runtime's supervision: every instance's output, its init's reports, and its end.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <sstream>

#include "sys/file.hpp"
#include "worker/ns/init/report.hpp"
#include "worker/ns/io_loop.hpp"
#include "worker/ns/ns_group.hpp"
#include "worker/ns/ns_instance.hpp"

namespace kuiga::worker::ns {

std::string execFailureReason(const InstanceSpec& spec, int err, const std::string& stage) {
  std::string why = std::strerror(err);
  if (stage == "exec") {
    if (err == ENOEXEC)
      why += " (not an ELF executable, nor a script with #!)";
    else if (err == EACCES)
      why += " (not executable: check its mode bits)";
    else if (err == ENOENT && sys::exists(spec.appDir + "/" + spec.executable))
      why += " (its interpreter or dynamic loader is missing)";
    return "cannot exec /app/" + spec.executable + ": " + why;
  }
  return "cannot start the AUT (" + stage + "): " + why;
}

std::string describeInitEnd(const NsRuntime::Instance& inst, const sys::ExitStatus& status) {
  std::string how = "the instance's init " + status.describe();
  if (status.exited && status.code == kInitSetupFailedCode)
    how += " (it could not report; is the disk of " + inst.reportFile + " full?)";
  return how;
}

void NsRuntime::onIo(uint64_t key, uint32_t events) {
  if (key & kGroupKey) {
    std::shared_ptr<Group> g;
    {
      std::lock_guard lock(mu_);
      if (auto it = groupsBySerial_.find(key & ~kGroupKey); it != groupsBySerial_.end())
        g = it->second;
    }
    if (g && g->output) onGroupIo(*g, events);
    return;
  }
  std::shared_ptr<Instance> inst;
  {
    std::lock_guard lock(mu_);
    auto it = bySerial_.find(key);
    if (it == bySerial_.end() || !it->second->registered) return;
    inst = it->second;
  }
  drainOutput(*inst);
  // Every writer of the output FIFO is gone: init has exited, and with it the whole instance.
  if (events & (EPOLLHUP | EPOLLERR)) finish(*inst);
}

void NsRuntime::drainOutput(Instance& inst) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(inst.output.get(), buf, sizeof buf);
    if (n <= 0) break;
    consumeOutput(inst, std::string_view(buf, static_cast<size_t>(n)));
    if (static_cast<size_t>(n) < sizeof buf) break;
  }
}

void NsRuntime::consumeOutput(Instance& inst, std::string_view chunk) {
  if (auto r = inst.log->append(chunk, realtimeNs()); !r && !inst.logErrorReported) {
    // Once per instance: a full disk must not turn into a flood of warnings.
    inst.logErrorReported = true;
    spdlog::warn("{}: output is being lost: {}", displayName(inst.spec.id), r.error().message);
  }
  // A shell prompting ("> ") is ready for the next console line.
  if (chunk.size() >= 2 && chunk.substr(chunk.size() - 2) == "> ") {
    inst.promptSeen = true;
    pumpConsole(inst);
  }
  // Keep the last complete line for failure reasons.
  auto end = chunk.find_last_not_of('\n');
  if (end != std::string_view::npos) {
    auto begin = chunk.rfind('\n', end);
    size_t from = begin == std::string_view::npos ? 0 : begin + 1;
    inst.lastLine = std::string(chunk.substr(from, end - from + 1));
  }
}

void NsRuntime::readReport(Instance& inst) {
  std::lock_guard reportLock(inst.reportMu);
  if (inst.reportFile.empty()) return;  // a group's device: its records come with its output
  sys::UniqueFd fd(::open(inst.reportFile.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return;
  char buf[4096];
  ssize_t n;
  while ((n = ::pread(fd.get(), buf, sizeof buf, static_cast<off_t>(inst.reportOffset))) > 0) {
    inst.reportPartial.append(buf, static_cast<size_t>(n));
    inst.reportOffset += static_cast<uint64_t>(n);
  }
  size_t nl;
  while ((nl = inst.reportPartial.find('\n')) != std::string::npos) {
    std::istringstream rec(inst.reportPartial.substr(0, nl));
    inst.reportPartial.erase(0, nl + 1);
    std::string kind;
    rec >> kind;
    std::lock_guard lock(mu_);
    if (kind == "ready") {
      transition(inst, InstanceState::Booting);
    } else if (kind == "started") {
      transition(inst, InstanceState::Running);
    } else if (kind == "setup-failed" || kind == "exec-failed") {
      int err = 0;
      std::string stage;
      rec >> err >> stage;
      if (kind == "setup-failed")
        inst.setupFailure = "instance set-up failed at " + stage + ": " + std::strerror(err);
      else
        inst.execFailure = execFailureReason(inst.spec, err, stage);
    } else if (kind == "exit" || kind == "signal") {
      int v = 0;
      rec >> v;
      inst.autStatus = sys::ExitStatus{kind == "exit", v};
    }
  }
}

void NsRuntime::finish(Instance& inst) {
  // Init has exited: everything in the instance's PID namespace is gone with it. Read what is
  // left, then decide how the instance ended.
  drainOutput(inst);
  (void)inst.log->finish(realtimeNs());
  io_->remove(inst.output.get());
  inst.output.reset();
  // Reap our own init (it is a zombie by now). An init adopted after a restart is not our
  // child; its report tells how it ended.
  std::optional<sys::ExitStatus> initStatus;
  if (inst.ourChild) {
    {
      std::lock_guard lock(mu_);
      inst.initReaped = true;  // from here on, its pid may name another process
    }
    int st = 0;
    pid_t r;
    while ((r = ::waitpid(inst.pid, &st, 0)) < 0 && errno == EINTR) {
    }
    if (r == inst.pid) initStatus = sys::ExitStatus::fromWaitStatus(st);
  }
  readReport(inst);
  sys::cgroup::Events ev;
  if (inst.cgroup) ev = inst.cgroup->events();

  std::lock_guard lock(mu_);
  inst.registered = false;
  std::string limits;
  if (ev.oomKills) limits += fmt::format("; memory limit reached ({} OOM kills)", ev.oomKills);
  if (ev.pidsMax)
    limits += fmt::format("; pids limit {} reached ({} forks refused)", inst.spec.limits.pids,
                          ev.pidsMax);
  conclude(inst, initStatus ? describeInitEnd(inst, *initStatus) : "the instance's init ended",
           limits);
}

void NsRuntime::conclude(Instance& inst, const std::string& initEnd, const std::string& limits) {
  // Caller holds mu_.
  auto withOutput = [&](std::string r) {
    if (!inst.lastLine.empty()) r += ": last output \"" + inst.lastLine + "\"";
    return r;
  };
  if (!inst.setupFailure.empty()) {
    transition(inst, InstanceState::Failed, inst.setupFailure);
  } else if (!inst.execFailure.empty()) {
    transition(inst, InstanceState::Failed, inst.execFailure);
  } else if (inst.stopRequested) {
    transition(inst, InstanceState::Terminated,
               inst.autStatus ? "stopped; the AUT " + inst.autStatus->describe() : "stopped");
  } else if (inst.autStatus && inst.autStatus->exited && inst.autStatus->code == 0 &&
             limits.empty()) {
    transition(inst, InstanceState::Terminated, "the AUT exited with code 0");
  } else if (inst.autStatus) {
    transition(inst, InstanceState::Failed,
               withOutput("the AUT " + inst.autStatus->describe()) + limits);
  } else {
    transition(inst, InstanceState::Failed, initEnd + limits);
  }
}

}  // namespace kuiga::worker::ns
