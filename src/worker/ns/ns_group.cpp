// The ns runtime's group isolation (issue 20): the devices of a run, up to group_size at a
// time, share one init (kuiga-init --group) and its namespaces; each is still a process under
// a uid of its own. The worker talks to a group's init through two FIFOs in the group's
// directory: commands go in on "control", and every device's output and report records come
// out, in order, on "output" (protocol in init/group_init.c).
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sys/file.hpp"
#include "sys/netns.hpp"
#include "sys/process.hpp"
#include "worker/net/instance_network.hpp"
#include "worker/net/radio_network.hpp"
#include "worker/ns/init/report.hpp"
#include "worker/ns/io_loop.hpp"
#include "worker/ns/ns_group.hpp"
#include "worker/ns/ns_instance.hpp"

namespace kuiga::worker::ns {

using Clock = std::chrono::steady_clock;

namespace {

// A group's FIFOs carry a thousand devices: room for bursts, so that the init seldom waits for
// the worker (the kernel lets root go past fs.pipe-max-size).
constexpr int kGroupFifoBytes = 1 << 20;
// The largest command payload the group's init takes (kMaxPayload in group_init.c).
constexpr size_t kMaxCommandPayload = 1 << 20;

// The next space-separated field of `s`, taken off its front: frames and records are parsed in
// place, without a string per line (every line any device prints passes here).
std::string_view takeField(std::string_view& s) {
  const size_t b = s.find_first_not_of(' ');
  if (b == std::string_view::npos) return s = {};
  s.remove_prefix(b);
  const size_t e = std::min(s.find(' '), s.size());
  auto field = s.substr(0, e);
  s.remove_prefix(e);
  return field;
}

template <class T>
bool takeNumber(std::string_view& s, T& v) {
  auto f = takeField(s);
  auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
  return !f.empty() && ec == std::errc{} && end == f.data() + f.size();
}

std::string commandHeader(std::string_view verb, uint32_t index, long a1, long a2, size_t len) {
  return fmt::format("{} {} {} {} {}\n", verb, index, a1, a2, len);
}

// The add command's payload: argc, then argv and the environment, each string NUL-ended.
std::string addPayload(const InstanceSpec& spec) {
  const std::string home = fmt::format("/run/dev/{}", spec.id.index);
  std::vector<std::string> strings{"/app/" + spec.executable};
  strings.insert(strings.end(), spec.args.begin(), spec.args.end());
  const size_t argc = strings.size();
  const std::vector<std::string> env{
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "HOME=" + home,
      "TMPDIR=" + home,
      "LANG=C.UTF-8",
      "KUIGA_RUN=" + std::to_string(spec.id.run),
      "KUIGA_INDEX=" + std::to_string(spec.id.index),
      "KUIGA_INSTANCE=" + displayName(spec.id)};
  strings.insert(strings.end(), env.begin(), env.end());
  strings.insert(strings.end(), spec.env.begin(), spec.env.end());
  std::string p = std::to_string(argc);
  p.push_back('\0');
  for (const auto& s : strings) {
    p += s;
    p.push_back('\0');
  }
  return p;
}

bool sameGroupSpec(const InstanceSpec& a, const InstanceSpec& b) {
  const Limits &x = a.limits, &y = b.limits;
  return a.appDir == b.appDir && a.groupSize == b.groupSize && a.seccomp == b.seccomp &&
         a.net == b.net && x.memoryBytes == y.memoryBytes && x.pids == y.pids &&
         x.cpuMilli == y.cpuMilli && x.diskMb == y.diskMb;
}

}  // namespace

std::string NsRuntime::joinGroup(const std::shared_ptr<Instance>& inst) {
  const InstanceSpec& spec = inst->spec;
  if (spec.net == NetMode::Tap)
    return "net tap gives each device an interface of its own: it needs isolation instance";
  if (spec.net != NetMode::None && spec.net != NetMode::Veth)
    return fmt::format(
        "net {} gives each device an interface of its own: it needs isolation instance (a "
        "group has one, veth)",
        toString(spec.net));
  if (spec.groupSize == 0 || spec.groupSize > kMaxGroupSize)
    return fmt::format("group_size {} is not between 1 and {}", spec.groupSize, kMaxGroupSize);
  const uint32_t number = spec.id.index / spec.groupSize;
  auto& g = groups_[{spec.id.run, number}];
  if (!g) {
    g = std::make_shared<Group>();
    g->run = spec.id.run;
    g->number = number;
    g->size = spec.groupSize;
    g->serial = nextSerial_++;
    g->name = groupName(spec.id.run, number);
    g->dir = config_.runDir + "/instances/" + g->name;
    g->spec = spec;
    groupsBySerial_[g->serial] = g;
  } else if (!sameGroupSpec(g->spec, spec)) {
    return fmt::format("its group {} was made for another app directory, size, network or limits",
                       g->name);
  } else if (g->ended) {
    return fmt::format("its group {} has ended ({}); remove the group's devices first", g->name,
                       g->endWhy);
  }
  inst->group = g;
  g->members[spec.id.index] = inst;
  return {};
}

VoidResult NsRuntime::memberProlog(Instance& inst) {
  Group& g = *inst.group;
  {
    std::lock_guard lock(mu_);
    transition(inst, InstanceState::Prolog);
  }
  {
    std::lock_guard start(g.startMu);
    if (!g.startTried) {
      g.startTried = true;
      if (auto r = startGroup(g); !r) {
        g.startError = r.error();
        std::lock_guard lock(mu_);
        g.ended = true;
      }
    }
    if (g.startError) return fail(g.startError->context("group " + g.name));
  }
  inst.log = std::make_unique<LogWriter>(logPath(inst.spec.id), config_.logMaxBytes);
  {
    std::lock_guard lock(mu_);
    if (g.ended) return failMsg(g.endWhy.empty() ? "its group " + g.name + " has ended" : g.endWhy);
    inst.pid = g.pid;
    inst.registered = true;  // before the add: its records may come back at once
  }
  const std::string payload = addPayload(inst.spec);
  if (payload.size() > kMaxCommandPayload)
    return failMsg(fmt::format(
        "its arguments and environment take {} bytes; a group's device may have at most {}",
        payload.size(), kMaxCommandPayload));
  // Recorded before the add, so that in the report file it comes before the init's "added".
  const nlohmann::json member = {
      {"index", inst.spec.id.index}, {"uid", inst.uid}, {"executable", inst.spec.executable}};
  auto r = appendRecord(g, std::string(kMemberRecord) + " " + member.dump() + "\n");
  if (r)
    r = command(g, "add", inst.spec.id.index, inst.uid, static_cast<long>(inst.spec.limits.pids),
                payload);
  if (!r) {
    (void)appendRecord(g, fmt::format("{} {}\n", kLeftRecord, inst.spec.id.index));
    std::lock_guard lock(mu_);
    inst.registered = false;
    // A group that ended since the check above failed this device's add for the reason its
    // other devices were given, which names the set-up's stage: give it that reason too.
    if (g.ended && !g.endWhy.empty()) return failMsg(g.endWhy);
    return fail(r.error().context("group " + g.name));
  }
  return {};
}

VoidResult NsRuntime::appendRecord(Group& g, std::string_view records) {
  // One write with O_APPEND: whole records, whatever other threads append meanwhile.
  ssize_t w = ::write(g.report.get(), records.data(), records.size());
  if (w == static_cast<ssize_t>(records.size())) return {};
  if (w >= 0) errno = ENOSPC;
  return failSys("record the device for recovery in '" + g.dir + "/" + kReportFile + "'");
}

VoidResult NsRuntime::startGroup(Group& g) {
  auto r = [&]() -> VoidResult {
    if (::mkdir(g.dir.c_str(), 0700) < 0 && errno != EEXIST)
      return failSys("mkdir '" + g.dir + "'");
    for (const char* f : {kOutputFifo, kControlFifo}) {
      std::string p = g.dir + "/" + f;
      if (::mkfifo(p.c_str(), 0600) < 0 && errno != EEXIST) return failSys("mkfifo '" + p + "'");
    }
    auto outRead = sys::openFile(g.dir + "/" + kOutputFifo, O_RDONLY | O_NONBLOCK);
    auto outRw = sys::openFile(g.dir + "/" + kOutputFifo, O_RDWR);
    auto ctlRw = sys::openFile(g.dir + "/" + kControlFifo, O_RDWR);
    auto ctlOurs = sys::openFile(g.dir + "/" + kControlFifo, O_RDWR | O_NONBLOCK);
    auto report =
        sys::openFile(g.dir + "/" + kReportFile, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    for (auto* f : {&outRead, &outRw, &ctlRw, &ctlOurs, &report})
      if (!*f) return fail(f->error());
    (void)::fcntl(outRw->get(), F_SETPIPE_SZ, kGroupFifoBytes);
    (void)::fcntl(ctlRw->get(), F_SETPIPE_SZ, kGroupFifoBytes);

    // Limits per device where the kernel has them cheaply (RLIMIT_NPROC per uid, set by the
    // group's init); memory, CPU and the pids cap for the whole group, as their sum.
    const Limits& l = g.spec.limits;
    auto cg = sys::cgroup::Cgroup::create(layout_, cgroupParent_ + "/" + g.name,
                                          {l.memoryBytes > 0, true, l.cpuMilli > 0});
    if (!cg) return fail(cg.error());
    g.cgroup.emplace(std::move(*cg));
    KUIGA_TRY(g.cgroup->setLimits(
                  {l.memoryBytes * g.size, l.pids ? l.pids * g.size + 16 : 0, l.cpuMilli * g.size}),
              "cgroup");

    sys::SpawnOptions so;
    so.path = config_.initPath;
    so.argv = {"kuiga-init",    "--group",
               "--root",        skeleton_,
               "--app",         g.spec.appDir,
               "--disk-size",   fmt::format("{}m", uint64_t{l.diskMb} * g.size),
               "--disk-inodes", std::to_string(diskInodes(l.diskMb) * g.size),
               "--hostname",    fmt::format("run-{}-group-{}", g.run, g.number),
               "--seccomp",     g.spec.seccomp ? seccompPath() : "",
               "--gid",         std::to_string(config_.gid),
               "--base",        std::to_string(uint64_t{g.number} * g.size),
               "--size",        std::to_string(g.size)};
    so.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"};
    so.namespaces = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
    // Its own stderr (usage errors only) goes to the report file: the output FIFO is framed.
    so.fds = {{ctlRw->get(), 0}, {outRw->get(), 1}, {report->get(), 2}, {report->get(), 3}};
    so.blockedSignals = {SIGTERM, SIGINT, SIGHUP};
    sys::UniqueFd cgDir;
    if (layout_.version == sys::cgroup::Version::V2) {
      auto d = g.cgroup->openDir();
      if (!d) return fail(d.error());
      cgDir = std::move(*d);
      so.cgroupFd = cgDir.get();
    }
    auto child = sys::spawn(so);
    if (!child) return fail(child.error().context("start the group's init"));
    {
      std::lock_guard lock(mu_);
      g.pid = child->pid();
    }
    child->release();  // reaped by finishGroup(), once its output FIFO hangs up
    if (layout_.version == sys::cgroup::Version::V1)
      KUIGA_TRY(g.cgroup->addProcess(g.pid), "cgroup");
    if (g.spec.net == NetMode::Veth) KUIGA_TRY(attachGroup(g), "network");
    auto start = sys::processStartTime(g.pid);
    // What a restarted worker needs to re-adopt the group and take new devices into it.
    nlohmann::json state = {{"group", g.name},
                            {"run", g.run},
                            {"number", g.number},
                            {"size", g.size},
                            {"pid", g.pid},
                            {"start_time", start ? *start : 0},
                            {"app_dir", g.spec.appDir},
                            {"net", toString(g.spec.net)},
                            {"seccomp", g.spec.seccomp},
                            {"memory_bytes", l.memoryBytes},
                            {"pids", l.pids},
                            {"cpu_milli", l.cpuMilli},
                            {"disk_mb", l.diskMb}};
    const std::string record = std::string(kStateRecord) + " " + state.dump() + "\n";
    if (::write(report->get(), record.data(), record.size()) != static_cast<ssize_t>(record.size()))
      return failSys("write the group's state to '" + g.dir + "/" + kReportFile + "'");
    KUIGA_TRY(io_->add(outRead->get(), g.serial | kGroupKey), "watch the group's output");
    g.output = std::move(*outRead);
    g.control = std::move(*ctlOurs);
    g.report = std::move(*report);
    spdlog::debug("group {}: init {} started", g.name, g.pid);
    return {};
  }();
  if (!r) undoGroupStart(g);
  return r;
}

VoidResult NsRuntime::attachGroup(Group& g) {
  // One interface for the whole group, with its first device's addresses and MAC: its devices
  // share them and are told apart by port (addressHolder(), devicePort()).
  const InstanceId holder = groupAddressHolder(g);
  auto netns = sys::netns::ofPid(g.pid);
  if (!netns) return fail(netns.error());
  KUIGA_TRY(radio_->attach(holder, netns->get(), false), "radio link");
  g.onRadio = true;
  return net::configureInstanceNetwork(netns->get(), holder, NetMode::Veth, 0, config_.gid);
}

InstanceId NsRuntime::groupAddressHolder(const Group& g) {
  return addressHolder({g.run, g.number * g.size}, g.size);
}

void NsRuntime::undoGroupStart(Group& g) {
  pid_t pid;
  {
    std::lock_guard lock(mu_);
    pid = std::exchange(g.pid, -1);
  }
  if (pid > 0) {
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  if (g.cgroup) {
    (void)g.cgroup->killAll();
    (void)g.cgroup->destroy();
    g.cgroup.reset();
  }
  if (g.onRadio) (void)radio_->detach(groupAddressHolder(g));
  g.onRadio = false;
  (void)sys::removeTree(g.dir);
}

VoidResult NsRuntime::command(Group& g, std::string_view verb, uint32_t index, long a1, long a2,
                              std::string_view payload, bool wait) {
  std::string msg = commandHeader(verb, index, a1, a2, payload.size());
  msg.append(payload);
  return sendCommands(g, msg, wait);
}

VoidResult NsRuntime::sendCommands(Group& g, std::string_view msg, bool wait) {
  std::unique_lock control(g.controlMu, std::defer_lock);
  if (wait)
    control.lock();
  else if (!control.try_lock())
    return failMsg("the group's control pipe is busy");
  {
    std::lock_guard lock(mu_);
    if (g.ended) return failMsg("the group's init has ended");
  }
  const auto timeout = config_.groupCommandTimeout;
  const auto deadline = Clock::now() + timeout;
  for (size_t off = 0; off < msg.size();) {
    ssize_t w = ::write(g.control.get(), msg.data() + off, msg.size() - off);
    if (w > 0) {
      off += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EAGAIN) return failSys("write to the group's init");
    // Small commands are written whole or not at all (PIPE_BUF): nothing half-sent.
    if (!wait && off == 0) return failMsg("the group's control pipe is full");
    if (Clock::now() >= deadline) {
      const std::string why = fmt::format("it took no command for {} ms", timeout.count());
      if (off == 0) return failMsg("the group's init " + why);
      // The init would read the rest of the stream as this command's payload.
      breakGroup(g, why + ", with one half-written");
      return failMsg("the group's init " + why + "; its group is ended");
    }
    pollfd p{g.control.get(), POLLOUT, 0};
    ::poll(&p, 1, 100);
  }
  return {};
}

void NsRuntime::breakGroup(Group& g, const std::string& why) {
  pid_t pid;
  {
    std::lock_guard lock(mu_);
    if (g.brokenWhy.empty()) g.brokenWhy = why;
    pid = g.pid;
  }
  spdlog::warn("group {}: killing its init {}: {}", g.name, pid, why);
  if (pid > 0) ::kill(pid, SIGKILL);  // reaped by finishGroup, which gives the reason
}

void NsRuntime::signalMembers(const std::vector<std::shared_ptr<Instance>>& members, int sig) {
  // One write per group: a bulk start or stop of 50,000 devices makes 50 writes, not 50,000.
  std::map<Group*, std::pair<std::shared_ptr<Group>, std::string>> batches;
  for (const auto& inst : members) {
    auto& [group, msg] = batches[inst->group.get()];
    group = inst->group;
    msg += commandHeader(sig == SIGUSR1 ? "start" : "kill", inst->spec.id.index, sig, 0, 0);
  }
  for (auto& [key, batch] : batches)
    if (auto r = sendCommands(*batch.first, batch.second, true); !r)
      spdlog::warn("group {}: its devices not signalled: {}", batch.first->name, r.error().message);
}

void NsRuntime::onGroupIo(Group& g, uint32_t events) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(g.output.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    g.frames.append(buf, static_cast<size_t>(n));
    if (g.resync && !resynchronise(g)) continue;
    size_t pos = 0;
    for (size_t nl; (nl = g.frames.find('\n', pos)) != std::string::npos;) {
      std::string_view head(g.frames.data() + pos, nl - pos);
      if (head.starts_with("o ")) {
        unsigned index = 0;
        size_t len = 0;
        std::string_view fields = head.substr(2);
        if (!takeNumber(fields, index) || !takeNumber(fields, len)) {
          pos = nl + 1;
          continue;
        }
        if (g.frames.size() < nl + 1 + len) break;  // the rest is on its way
        std::shared_ptr<Instance> inst;
        {
          std::lock_guard lock(mu_);
          if (auto it = g.members.find(index); it != g.members.end()) inst = it->second;
        }
        if (inst && inst->log) consumeOutput(*inst, std::string_view(g.frames).substr(nl + 1, len));
        pos = nl + 1 + len;
      } else {
        if (head.starts_with("r ")) applyGroupRecord(g, head.substr(2));
        pos = nl + 1;
      }
    }
    g.frames.erase(0, pos);
    if (static_cast<size_t>(n) < sizeof buf && !(events & (EPOLLHUP | EPOLLERR))) break;
  }
  // Every writer of the output FIFO is gone: the group's init has exited, and with it every
  // device of the group.
  if (events & (EPOLLHUP | EPOLLERR)) finishGroup(g);
}

bool NsRuntime::resynchronise(Group& g) {
  // A worker killed while it read the FIFO may have taken the head of a frame and left its
  // tail: lines are dropped until one reads as a frame's head or a record.
  for (size_t nl; (nl = g.frames.find('\n')) != std::string::npos;) {
    std::string_view head(g.frames.data(), nl), fields = head.substr(std::min<size_t>(2, nl));
    unsigned index = 0;
    size_t len = 0;
    if (head.starts_with("r ") || (head.starts_with("o ") && takeNumber(fields, index) &&
                                   takeNumber(fields, len) && fields.empty())) {
      g.resync = false;
      return true;
    }
    g.frames.erase(0, nl + 1);
  }
  return false;  // no whole line yet
}

void NsRuntime::applyGroupRecord(Group& g, std::string_view record) {
  std::string_view kind = takeField(record);
  unsigned index = 0;
  // Only the group's init writes here; a record that does not parse names no device.
  if (kind.empty() || !takeNumber(record, index)) return;
  std::shared_ptr<Instance> inst;
  {
    std::lock_guard lock(mu_);
    auto it = g.members.find(index);
    if (it == g.members.end()) return;
    inst = it->second;
    // A re-adopted group's FIFO repeats what its report file already told (recoverGroup).
    if (isFinal(inst->state)) return;
    if (kind == "added") {
      transition(*inst, InstanceState::Booting);
      return;
    }
    if (kind == "started") {
      transition(*inst, InstanceState::Running);
      return;
    }
    int v = 0;
    if (!takeNumber(record, v)) return;
    const std::string stage(takeField(record));
    if (kind == "dev-failed")
      inst->setupFailure = "device set-up failed at " + stage + ": " + std::strerror(v);
    else if (kind == "exec-failed")
      inst->execFailure = execFailureReason(inst->spec, v, stage);
    else if (kind == "exit" || kind == "signal")
      inst->autStatus = sys::ExitStatus{kind == "exit", v};
    else
      return;
  }
  finishMember(*inst);
}

void NsRuntime::finishMember(Instance& inst) {
  // Its last output came before this record on the same FIFO, so the log is whole.
  (void)inst.log->finish(realtimeNs());
  Group& g = *inst.group;
  std::string limits;
  // The group's memory limit is shared, and neither cgroup version counts OOM kills per
  // process. Each OOM kill the group's count shows is given to one device that ended by a
  // SIGKILL nobody asked for: with two kills between two reads, both devices get theirs.
  // A stop's SIGKILL wave blames nobody: the cgroup's events are read only for a kill no one
  // asked for, not for each of the thousands of devices a mass stop ends.
  bool unasked = false;
  if (inst.autStatus && !inst.autStatus->exited && inst.autStatus->code == SIGKILL && g.cgroup) {
    std::lock_guard lock(mu_);
    unasked = !inst.stopRequested;
  }
  if (unasked) {
    auto ev = g.cgroup->events();
    std::lock_guard lock(mu_);
    if (!inst.stopRequested && ev.oomKills > g.oomKillsSeen) {
      ++g.oomKillsSeen;
      limits = "; its group's memory limit reached (killed by the OOM killer)";
    }
  }
  std::lock_guard lock(mu_);
  inst.registered = false;
  conclude(inst, "its group's init ended", limits);
}

void NsRuntime::finishGroup(Group& g) {
  io_->remove(g.output.get());
  g.output.reset();
  pid_t pid;
  std::string broken;
  {
    std::lock_guard lock(mu_);
    pid = g.pid;
    broken = g.brokenWhy;
  }
  std::optional<sys::ExitStatus> status;
  int st = 0;
  pid_t r = -1;
  while (pid > 0 && (r = ::waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
  }
  if (pid > 0 && r == pid) status = sys::ExitStatus::fromWaitStatus(st);
  // A set-up failure of the group itself came before its FIFO was in use: read the file.
  std::string why = "its group's init (" + g.name + ") " + (status ? status->describe() : "ended");
  if (!broken.empty()) why = "its group's init (" + g.name + ") killed by the worker: " + broken;
  if (auto text = sys::readFile(g.dir + "/" + kReportFile)) {
    std::istringstream lines(*text);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream rec(line);
      std::string kind, stage;
      int err = 0;
      if (rec >> kind >> err >> stage && kind == "setup-failed")
        why = "group " + g.name + " set-up failed at " + stage + ": " + std::strerror(err);
    }
  }
  std::vector<std::shared_ptr<Instance>> open;
  {
    std::lock_guard lock(mu_);
    g.ended = true;
    g.endWhy = why;
    g.pid = -1;
    for (auto& [index, inst] : g.members)
      if (!isFinal(inst->state)) open.push_back(inst);
  }
  spdlog::debug("group {}: {}, {} devices still open", g.name, why, open.size());
  for (auto& inst : open) {
    if (inst->log) (void)inst->log->finish(realtimeNs());
    std::lock_guard lock(mu_);
    inst->registered = false;
    conclude(*inst, why, "");
  }
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

std::map<InstanceId, Error> NsRuntime::leaveGroups(
    const std::vector<std::shared_ptr<Instance>>& devices) {
  // Per group: the devices that leave it, and whether it goes with them.
  struct Leaving {
    std::shared_ptr<Group> group;
    std::vector<uint32_t> indexes;  // of the devices that leave
    std::string forget;             // their forget commands in one batch, if the group stays
    InstanceId last;                // the device whose removal ends it
    pid_t pid = -1;
    bool ends = false;
  };
  std::map<Group*, Leaving> leaving;
  {
    std::lock_guard lock(mu_);
    for (const auto& inst : devices) {
      if (!inst->group) continue;
      auto& g = inst->group;
      auto& l = leaving[g.get()];
      l.group = g;
      l.last = inst->spec.id;
      g->members.erase(inst->spec.id.index);
      l.indexes.push_back(inst->spec.id.index);
    }
    for (auto& [key, l] : leaving) {
      Group& g = *l.group;
      l.pid = g.pid;
      l.ends = g.members.empty();
      if (!l.ends) {
        for (uint32_t index : l.indexes) l.forget += commandHeader("forget", index, 0, 0, 0);
        continue;
      }
      auto it = groups_.find({g.run, g.number});
      if (it != groups_.end() && it->second == l.group) groups_.erase(it);
    }
  }
  // Groups that stay forget their leaving devices: their processes, if any are left, and
  // their private directories. Groups that go are killed first, all of them, then waited for:
  // the kernel kills what is left in each PID namespace.
  for (auto& [key, l] : leaving) {
    if (!l.ends && l.pid > 0) {
      std::string left;
      for (uint32_t index : l.indexes) left += fmt::format("{} {}\n", kLeftRecord, index);
      // So that a worker restarted later does not re-adopt them. Should the disk be full, it
      // would, and the master removes again what it no longer wants (run_service_nodes.cpp).
      (void)appendRecord(*l.group, left);
      (void)sendCommands(*l.group, l.forget, true);
    }
    if (l.ends && l.pid > 0) ::kill(l.pid, SIGKILL);
  }
  std::map<InstanceId, Error> failed;
  for (auto& [key, l] : leaving) {
    if (!l.ends) continue;
    Group& g = *l.group;
    VoidResult r;
    if (l.pid > 0) {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, std::chrono::seconds(30), [&] { return g.ended; }))
        r = failMsg("its group's init " + std::to_string(l.pid) + " did not end after SIGKILL");
    }
    if (g.cgroup) {
      (void)g.cgroup->killAll();
      if (auto d = g.cgroup->destroy(); !d && r) r = d;
    }
    // Its link went with its network namespace.
    if (g.onRadio) radio_->released(groupAddressHolder(g));
    if (auto rm = sys::removeTree(g.dir); !rm && r) r = rm;
    {
      std::lock_guard lock(mu_);
      groupsBySerial_.erase(g.serial);
    }
    if (!r) failed.emplace(l.last, r.error());
  }
  return failed;
}

}  // namespace kuiga::worker::ns
