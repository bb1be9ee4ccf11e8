#include "worker/ns/ns_runtime.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <dirent.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/parallel.hpp"
#include "sys/file.hpp"
#include "sys/mount.hpp"
#include "sys/netns.hpp"
#include "sys/process.hpp"
#include "worker/ns/init/report.hpp"
#include "worker/ns/instance_network.hpp"
#include "worker/ns/io_loop.hpp"
#include "worker/ns/log_writer.hpp"
#include "worker/ns/radio_network.hpp"
#include "worker/ns/root_skeleton.hpp"

namespace kuiga::worker::ns {

using Clock = std::chrono::steady_clock;
using sys::UniqueFd;

enum IoKind : uint64_t { kOutput = 0, kReport = 1, kExit = 2 };

struct NsRuntime::Instance {
  InstanceSpec spec;
  uint64_t serial = 0;
  // Guarded by the runtime's mutex.
  InstanceState state = InstanceState::Pending;
  std::string reason;
  std::vector<InstanceEvent> history;
  bool stopRequested = false;
  bool registered = false;  // fds are in the I/O loop, which owns them from then on
  bool onRadio = false;
  sys::Child init;
  pid_t pid = -1;  // of init, kept after it is reaped
  std::optional<sys::cgroup::Cgroup> cgroup;
  // Owned by the I/O loop once registered.
  UniqueFd output, report;
  std::unique_ptr<LogWriter> log;
  std::string reportBuf;
  std::string lastLine;  // the AUT's last output line, quoted in failure reasons
  std::string setupFailure, execFailure;
  std::optional<sys::ExitStatus> autStatus;
  bool started = false;
};

namespace {

std::string fifoPath(const std::string& dir, const char* name) {
  return dir + "/" + name;
}

std::string describeErrno(int e) {
  return std::strerror(e);
}

std::string execFailureReason(const InstanceSpec& spec, int err, const std::string& stage) {
  std::string path = spec.appDir + "/" + spec.executable;
  std::string why = describeErrno(err);
  if (stage == "exec") {
    if (err == ENOEXEC)
      why += " (not an ELF executable, nor a script with #!)";
    else if (err == EACCES)
      why += " (not executable: check its mode bits)";
    else if (err == ENOENT && sys::exists(path))
      why += " (its interpreter or dynamic loader is missing)";
    return "cannot exec /app/" + spec.executable + ": " + why;
  }
  return "cannot start the AUT (" + stage + "): " + why;
}

}  // namespace

Result<std::unique_ptr<NsRuntime>> NsRuntime::open(NsRuntimeConfig config, EventSink sink) {
  if (config.stateDir.empty()) return failMsg("ns runtime: no state directory");
  if (config.initPath.empty() || ::access(config.initPath.c_str(), X_OK) < 0)
    return failMsg("ns runtime: kuiga-init not found at '" + config.initPath + "'");
  if (config.threads == 0) config.threads = defaultThreads();
  if (config.runDir.empty()) config.runDir = "/run/kuiga/" + config.name;
  if (config.runDir.size() > 400) return failMsg("ns runtime: run directory path too long");
  auto layout = sys::cgroup::detect(config.cgroupVersion);
  if (!layout) return fail(layout.error().context("ns runtime"));
  for (const char* sub : {"", "/work", "/logs"})
    KUIGA_TRY(sys::makeDirs(config.stateDir + sub, 0700), "ns runtime state directory");
  // Instances' own files churn thousands at a time: keep them off the disk's journal.
  KUIGA_TRY(sys::ensureTmpfs(config.runDir + "/instances", "mode=0700,size=64m"),
            "ns runtime directory");
  // Each instance holds a pidfd, two FIFOs and a log file.
  (void)sys::raiseFileLimit(1u << 20);

  std::unique_ptr<NsRuntime> rt(new NsRuntime(std::move(config), std::move(sink), *layout));
  auto sk = RootSkeleton::prepare(rt->config_.runDir + "/root");
  if (!sk) return fail(sk.error().context("ns runtime"));
  rt->skeleton_ = sk->path();
  auto radio = RadioNetwork::open(rt->config_.stateDir + "/radio.netns");
  if (!radio) return fail(radio.error().context("ns runtime"));
  rt->radio_ = std::move(*radio);
  auto parent = sys::cgroup::Cgroup::create(rt->layout_, rt->cgroupParent_);
  if (!parent) return fail(parent.error().context("ns runtime"));
  auto io = IoLoop::start([r = rt.get()](uint64_t k, uint32_t e) { r->onIo(k, e); },
                          [r = rt.get()] { r->flushEvents(); }, 50);
  if (!io) return fail(io.error());
  rt->io_ = std::move(*io);
  return rt;
}

NsRuntime::NsRuntime(NsRuntimeConfig config, EventSink sink, sys::cgroup::Layout layout)
    : config_(std::move(config)),
      sink_(std::move(sink)),
      layout_(std::move(layout)),
      cgroupParent_("kuiga/" + config_.name) {}

NsRuntime::~NsRuntime() {
  io_.reset();  // no handler runs past this point
  std::lock_guard lock(mu_);
  for (auto& [id, inst] : instances_) inst->init.release();  // instances outlive the worker
}

int NsRuntime::radioNetns() const {
  return radio_->netnsFd();
}

std::string NsRuntime::instanceDir(InstanceId id) const {
  return config_.runDir + "/instances/" + slug(id);
}

std::string NsRuntime::workDir(InstanceId id) const {
  return config_.stateDir + "/work/" + slug(id);
}

std::string NsRuntime::logPath(InstanceId id) const {
  return config_.stateDir + "/logs/" + slug(id) + ".log";
}

std::string NsRuntime::cgroupPath(InstanceId id) const {
  return cgroupParent_ + "/" + slug(id);
}

void NsRuntime::transition(Instance& inst, InstanceState to, std::string reason) {
  // Caller holds mu_.
  if (inst.state == to) return;
  if (!canTransition(inst.state, to)) {
    spdlog::debug("{}: ignored {} -> {}", displayName(inst.spec.id), toString(inst.state),
                  toString(to));
    return;
  }
  inst.state = to;
  inst.reason = reason;
  InstanceEvent ev{inst.spec.id, to, realtimeNs(), std::move(reason)};
  inst.history.push_back(ev);
  pendingEvents_.push_back(std::move(ev));
  cv_.notify_all();
}

void NsRuntime::flushEvents() {
  std::vector<InstanceEvent> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(pendingEvents_);
  }
  if (batch.empty() || !sink_) return;
  std::lock_guard lock(sinkMu_);
  sink_(batch);
}

template <class Pred>
std::vector<InstanceId> NsRuntime::waitFor(std::span<const InstanceId> ids, Pred pred,
                                           Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  std::vector<InstanceId> missing;
  for (const auto& id : ids) {
    auto it = instances_.find(id);
    if (it == instances_.end()) continue;
    auto inst = it->second;
    if (!cv_.wait_until(lock, deadline, [&] { return pred(inst->state); })) missing.push_back(id);
  }
  return missing;
}

BulkResult NsRuntime::create(std::span<const InstanceSpec> specs, const Progress& progress) {
  BulkResult result;
  std::vector<std::shared_ptr<Instance>> fresh;
  {
    std::lock_guard lock(mu_);
    for (const auto& spec : specs) {
      std::string why;
      if (spec.id.index >= kMaxInstancesPerRun)
        why = fmt::format("index {} is past the limit of {} instances per run", spec.id.index,
                          kMaxInstancesPerRun);
      else if (instances_.count(spec.id))
        why = "instance already exists";
      else if (spec.executable.empty() || spec.executable.find('/') != std::string::npos)
        why = "executable must be a file name inside the app directory";
      else if (!sys::exists(spec.appDir + "/" + spec.executable))
        why = "no such file: " + spec.appDir + "/" + spec.executable;
      else if (struct stat st{}; ::stat(spec.appDir.c_str(), &st) < 0 || !(st.st_mode & S_IXOTH))
        why = "the app directory " + spec.appDir +
              " must be searchable by the instance's unprivileged user (mode o+x)";
      if (!why.empty()) {
        result.failed.emplace_back(spec.id, Error::msg(why));
        continue;
      }
      auto inst = std::make_shared<Instance>();
      inst->spec = spec;
      inst->serial = nextSerial_++;
      InstanceEvent ev{spec.id, InstanceState::Pending, realtimeNs(), {}};
      inst->history.push_back(ev);
      pendingEvents_.push_back(ev);
      instances_[spec.id] = inst;
      bySerial_[inst->serial] = inst;
      fresh.push_back(inst);
    }
  }
  std::mutex resultMu;
  size_t done = 0;
  parallelFor(fresh.size(), config_.threads, [&](size_t i) {
    Instance& inst = *fresh[i];
    auto r = prolog(inst);
    std::lock_guard lock(resultMu);
    if (!r) {
      discardPartial(inst);
      std::lock_guard l2(mu_);
      transition(inst, InstanceState::Failed, r.error().message);
      result.failed.emplace_back(inst.spec.id, r.error());
    }
    if (progress) progress(++done, fresh.size());
  });
  // Prolog ends when init reports its mounts and hostname ready.
  std::vector<InstanceId> ids;
  for (auto& inst : fresh) ids.push_back(inst->spec.id);
  auto late = waitFor(
      ids,
      [](InstanceState s) { return s != InstanceState::Prolog && s != InstanceState::Pending; },
      Clock::now() + config_.readyTimeout);
  std::lock_guard lock(mu_);
  for (auto& inst : fresh) {
    if (inst->state == InstanceState::Booting) {
      ++result.ok;
    } else if (std::find(late.begin(), late.end(), inst->spec.id) != late.end()) {
      result.failed.emplace_back(inst->spec.id,
                                 Error::msg("instance did not become ready in time"));
    } else if (inst->state == InstanceState::Failed &&
               std::none_of(result.failed.begin(), result.failed.end(),
                            [&](auto& f) { return f.first == inst->spec.id; })) {
      result.failed.emplace_back(inst->spec.id, Error::msg(inst->reason));
    }
  }
  return result;
}

VoidResult NsRuntime::prolog(Instance& inst) {
  const InstanceSpec& spec = inst.spec;
  {
    std::lock_guard lock(mu_);
    transition(inst, InstanceState::Prolog);
  }
  const std::string dir = instanceDir(spec.id), work = workDir(spec.id);
  if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) return failSys("mkdir '" + dir + "'");
  if (::mkdir(work.c_str(), 0700) < 0 && errno != EEXIST) return failSys("mkdir '" + work + "'");
  if (::chown(work.c_str(), uidOf(spec.id), config_.gid) < 0)
    return failSys("chown '" + work + "'");
  for (const char* f : {"output", "console", "report"}) {
    std::string p = fifoPath(dir, f);
    if (::mkfifo(p.c_str(), 0600) < 0 && errno != EEXIST) return failSys("mkfifo '" + p + "'");
  }
  // The instance holds every FIFO read-write: its writers never see EPIPE and its stdin never
  // sees EOF, even while the worker restarts.
  auto outRead = sys::openFile(fifoPath(dir, "output"), O_RDONLY | O_NONBLOCK);
  auto outRw = sys::openFile(fifoPath(dir, "output"), O_RDWR);
  auto conRw = sys::openFile(fifoPath(dir, "console"), O_RDWR);
  auto repRead = sys::openFile(fifoPath(dir, "report"), O_RDONLY | O_NONBLOCK);
  auto repRw = sys::openFile(fifoPath(dir, "report"), O_RDWR);
  for (auto* r : {&outRead, &outRw, &conRw, &repRead, &repRw})
    if (!*r) return fail(r->error());

  auto cg = sys::cgroup::Cgroup::create(
      layout_, cgroupPath(spec.id), {spec.limits.memoryBytes > 0, true, spec.limits.cpuMilli > 0});
  if (!cg) return fail(cg.error());
  inst.cgroup.emplace(std::move(*cg));
  KUIGA_TRY(
      inst.cgroup->setLimits({spec.limits.memoryBytes, spec.limits.pids, spec.limits.cpuMilli}),
      "cgroup");

  sys::SpawnOptions so;
  so.path = config_.initPath;
  so.argv = {"kuiga-init",
             "--root",
             skeleton_,
             "--app",
             spec.appDir,
             "--work",
             work,
             "--hostname",
             hostname(spec.id),
             "--uid",
             std::to_string(uidOf(spec.id)),
             "--gid",
             std::to_string(config_.gid),
             "--",
             "/app/" + spec.executable};
  so.argv.insert(so.argv.end(), spec.args.begin(), spec.args.end());
  so.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/work",
            "LANG=C.UTF-8",
            "KUIGA_RUN=" + std::to_string(spec.id.run),
            "KUIGA_INDEX=" + std::to_string(spec.id.index),
            "KUIGA_INSTANCE=" + displayName(spec.id)};
  so.env.insert(so.env.end(), spec.env.begin(), spec.env.end());
  so.namespaces = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
  so.fds = {{conRw->get(), 0}, {outRw->get(), 1}, {outRw->get(), 2}, {repRw->get(), kInitReportFd}};
  so.blockedSignals = {SIGUSR1, SIGTERM, SIGINT, SIGHUP};
  UniqueFd cgDir;
  if (layout_.version == sys::cgroup::Version::V2) {
    auto d = inst.cgroup->openDir();
    if (!d) return fail(d.error());
    cgDir = std::move(*d);
    so.cgroupFd = cgDir.get();
  }
  auto child = sys::spawn(so);
  if (!child) return fail(child.error().context("start instance init"));
  {
    std::lock_guard lock(mu_);
    inst.init = std::move(*child);
    inst.pid = inst.init.pid();
  }
  if (layout_.version == sys::cgroup::Version::V1)
    KUIGA_TRY(inst.cgroup->addProcess(inst.init.pid()), "cgroup");

  auto netns = sys::netns::ofPid(inst.init.pid());
  if (!netns) return fail(netns.error());
  if (spec.net != NetMode::None) {
    KUIGA_TRY(radio_->attach(spec.id, netns->get()), "network");
    inst.onRadio = true;
  }
  KUIGA_TRY(configureInstanceNetwork(netns->get(), spec.id, spec.net, uidOf(spec.id), config_.gid),
            "network");

  auto start = sys::processStartTime(inst.init.pid());
  nlohmann::json state = {{"run", spec.id.run},       {"index", spec.id.index},
                          {"pid", inst.init.pid()},   {"start_time", start ? *start : 0},
                          {"app_dir", spec.appDir},   {"executable", spec.executable},
                          {"net", toString(spec.net)}};
  {
    std::ofstream f(dir + "/instance.json");
    f << state.dump() << "\n";
    if (!f) return failMsg("write '" + dir + "/instance.json'");
  }

  inst.log = std::make_unique<LogWriter>(logPath(spec.id), config_.logMaxBytes);
  inst.output = std::move(*outRead);
  inst.report = std::move(*repRead);
  KUIGA_TRY(io_->add(inst.output.get(), inst.serial * 4 + kOutput), "watch output");
  KUIGA_TRY(io_->add(inst.report.get(), inst.serial * 4 + kReport), "watch report");
  KUIGA_TRY(io_->add(inst.init.pidfd(), inst.serial * 4 + kExit), "watch exit");
  std::lock_guard lock(mu_);
  inst.registered = true;
  return {};
}

void NsRuntime::discardPartial(Instance& inst) {
  // Undo a failed prolog: nothing of the instance may stay behind.
  if (inst.output) io_->remove(inst.output.get());
  if (inst.report) io_->remove(inst.report.get());
  if (inst.init.pid() > 0) {
    io_->remove(inst.init.pidfd());
    (void)inst.init.signal(SIGKILL);
    (void)inst.init.wait();
  }
  inst.output.reset();
  inst.report.reset();
  if (inst.cgroup) {
    (void)inst.cgroup->killAll();
    (void)inst.cgroup->destroy();
  }
  if (inst.onRadio) radio_->released(inst.spec.id), inst.onRadio = false;
  (void)sys::removeTree(instanceDir(inst.spec.id));
  (void)sys::removeTree(workDir(inst.spec.id));
}

BulkResult NsRuntime::start(std::span<const InstanceId> ids, const Progress& progress) {
  BulkResult result;
  std::vector<InstanceId> sent;
  {
    std::lock_guard lock(mu_);
    for (const auto& id : ids) {
      auto it = instances_.find(id);
      if (it == instances_.end()) {
        result.failed.emplace_back(id, Error::msg("no such instance"));
        continue;
      }
      Instance& inst = *it->second;
      if (inst.state != InstanceState::Booting) {
        result.failed.emplace_back(
            id, Error::msg(fmt::format("instance is {}, not booting", toString(inst.state))));
        continue;
      }
      // SIGUSR1 queues at init (blocked since before its exec) and releases the AUT.
      if (auto r = inst.init.signal(SIGUSR1); !r) {
        result.failed.emplace_back(id, r.error().context("start"));
        continue;
      }
      sent.push_back(id);
    }
  }
  size_t done = 0;
  auto late = waitFor(
      sent,
      [&](InstanceState s) {
        bool left = s != InstanceState::Booting;
        if (left && progress) progress(++done, sent.size());
        return left;
      },
      Clock::now() + config_.readyTimeout);
  std::lock_guard lock(mu_);
  for (const auto& id : sent) {
    const Instance& inst = *instances_.at(id);
    if (inst.state == InstanceState::Running || inst.state == InstanceState::Terminated)
      ++result.ok;
    else if (std::find(late.begin(), late.end(), id) != late.end())
      result.failed.emplace_back(id, Error::msg("the AUT did not start in time"));
    else
      result.failed.emplace_back(id, Error::msg(inst.reason));
  }
  return result;
}

BulkResult NsRuntime::stop(std::span<const InstanceId> ids, std::chrono::milliseconds grace,
                           const Progress& progress) {
  BulkResult result;
  std::vector<InstanceId> live;
  {
    std::lock_guard lock(mu_);
    for (const auto& id : ids) {
      auto it = instances_.find(id);
      if (it == instances_.end() || isFinal(it->second->state) || !it->second->registered) {
        ++result.ok;  // stopping what is not running is done already
        continue;
      }
      Instance& inst = *it->second;
      inst.stopRequested = true;
      transition(inst, InstanceState::ShuttingDown, "stop requested");
      (void)inst.init.signal(grace.count() > 0 ? SIGTERM : SIGKILL);
      live.push_back(id);
    }
  }
  auto final = [](InstanceState s) { return isFinal(s); };
  auto late = waitFor(live, final, Clock::now() + grace);
  if (!late.empty()) {
    std::lock_guard lock(mu_);
    for (const auto& id : late) {
      Instance& inst = *instances_.at(id);
      if (!isFinal(inst.state)) (void)inst.init.signal(SIGKILL);  // the PID namespace dies with it
    }
  }
  auto stuck = waitFor(late, final, Clock::now() + std::chrono::seconds(30));
  for (const auto& id : live) {
    if (std::find(stuck.begin(), stuck.end(), id) != stuck.end())
      result.failed.emplace_back(id, Error::msg("instance did not end after SIGKILL"));
    else
      ++result.ok;
    if (progress) progress(result.ok + result.failed.size(), ids.size());
  }
  return result;
}

BulkResult NsRuntime::remove(std::span<const InstanceId> ids, const Progress& progress) {
  BulkResult stopped = stop(ids, std::chrono::milliseconds(0));
  BulkResult result;
  result.failed = stopped.failed;
  std::vector<std::shared_ptr<Instance>> victims;
  {
    std::lock_guard lock(mu_);
    for (const auto& id : ids) {
      auto it = instances_.find(id);
      if (it == instances_.end()) {
        ++result.ok;
        continue;
      }
      if (!isFinal(it->second->state)) continue;  // reported by stop()
      victims.push_back(it->second);
      bySerial_.erase(it->second->serial);
      instances_.erase(it);
    }
  }
  std::mutex resultMu;
  parallelFor(victims.size(), config_.threads, [&](size_t i) {
    Instance& inst = *victims[i];
    VoidResult r;
    if (inst.cgroup) {
      (void)inst.cgroup->killAll();
      r = inst.cgroup->destroy();
    }
    if (inst.onRadio) radio_->released(inst.spec.id);
    if (auto rm = sys::removeTree(instanceDir(inst.spec.id)); !rm && r) r = rm;
    if (auto rm = sys::removeTree(workDir(inst.spec.id)); !rm && r) r = rm;
    std::lock_guard lock(resultMu);
    if (r)
      ++result.ok;
    else
      result.failed.emplace_back(inst.spec.id, r.error().context("remove"));
    if (progress) progress(result.ok + result.failed.size(), ids.size());
  });
  return result;
}

std::optional<InstanceStatus> NsRuntime::status(InstanceId id) const {
  std::lock_guard lock(mu_);
  auto it = instances_.find(id);
  if (it == instances_.end()) return std::nullopt;
  const Instance& inst = *it->second;
  return InstanceStatus{id, inst.state, inst.reason, inst.pid, inst.history};
}

std::vector<InstanceStatus> NsRuntime::list() const {
  std::lock_guard lock(mu_);
  std::vector<InstanceStatus> out;
  out.reserve(instances_.size());
  for (const auto& [id, inst] : instances_)
    out.push_back({id, inst->state, inst->reason, inst->pid, inst->history});
  return out;
}

VoidResult NsRuntime::console(InstanceId id, std::string_view line) {
  {
    std::lock_guard lock(mu_);
    auto it = instances_.find(id);
    if (it == instances_.end()) return failMsg("no such instance " + displayName(id));
    if (it->second->state != InstanceState::Running)
      return failMsg(fmt::format("instance {} is {}, not running", displayName(id),
                                 toString(it->second->state)));
  }
  if (line.find('\n') != std::string_view::npos) return failMsg("console line contains a newline");
  auto fd = sys::openFile(fifoPath(instanceDir(id), "console"), O_WRONLY | O_NONBLOCK);
  if (!fd) return fail(fd.error().context("console"));
  std::string data(line);
  data += '\n';
  ssize_t n = ::write(fd->get(), data.data(), data.size());
  if (n < 0 && errno == EAGAIN)
    return failMsg("console of " + displayName(id) + " is full: the AUT is not reading its stdin");
  if (n < 0) return failSys("write console of " + displayName(id));
  if (static_cast<size_t>(n) != data.size()) return failMsg("console line was cut short");
  return {};
}

void NsRuntime::onIo(uint64_t key, uint32_t) {
  std::shared_ptr<Instance> inst;
  {
    std::lock_guard lock(mu_);
    auto it = bySerial_.find(key / 4);
    if (it == bySerial_.end() || !it->second->registered) return;
    inst = it->second;
  }
  switch (key % 4) {
    case kOutput:
      drainOutput(*inst);
      break;
    case kReport:
      drainReport(*inst);
      break;
    case kExit:
      finish(*inst);
      break;
    default:
      break;
  }
}

void NsRuntime::drainOutput(Instance& inst) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(inst.output.get(), buf, sizeof buf);
    if (n <= 0) break;
    std::string_view chunk(buf, static_cast<size_t>(n));
    if (auto r = inst.log->append(chunk, realtimeNs()); !r)
      spdlog::warn("{}: {}", displayName(inst.spec.id), r.error().message);
    // Keep the last complete line for failure reasons.
    auto end = chunk.find_last_not_of('\n');
    if (end != std::string_view::npos) {
      auto begin = chunk.rfind('\n', end);
      inst.lastLine =
          std::string(chunk.substr(begin == std::string_view::npos ? 0 : begin + 1,
                                   end - (begin == std::string_view::npos ? 0 : begin + 1) + 1));
    }
    if (static_cast<size_t>(n) < sizeof buf) break;
  }
}

void NsRuntime::drainReport(Instance& inst) {
  char buf[4096];
  ssize_t n;
  while ((n = ::read(inst.report.get(), buf, sizeof buf)) > 0)
    inst.reportBuf.append(buf, static_cast<size_t>(n));
  size_t nl;
  while ((nl = inst.reportBuf.find('\n')) != std::string::npos) {
    std::istringstream rec(inst.reportBuf.substr(0, nl));
    inst.reportBuf.erase(0, nl + 1);
    std::string kind;
    rec >> kind;
    std::lock_guard lock(mu_);
    if (kind == "ready") {
      transition(inst, InstanceState::Booting);
    } else if (kind == "started") {
      inst.started = true;
      transition(inst, InstanceState::Running);
    } else if (kind == "setup-failed" || kind == "exec-failed") {
      int err = 0;
      std::string stage;
      rec >> err >> stage;
      if (kind == "setup-failed")
        inst.setupFailure = "instance set-up failed at " + stage + ": " + describeErrno(err);
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
  // left in the FIFOs, then decide how the instance ended.
  drainOutput(inst);
  drainReport(inst);
  (void)inst.log->finish(realtimeNs());
  inst.log->close();
  io_->remove(inst.init.pidfd());
  io_->remove(inst.output.get());
  io_->remove(inst.report.get());
  // Fails with ECHILD for an instance adopted after a restart: it is not our child any more,
  // and its report FIFO tells how it ended.
  auto initStatus = inst.init.tryWait();
  inst.output.reset();
  inst.report.reset();
  sys::cgroup::Events ev;
  if (inst.cgroup) ev = inst.cgroup->events();

  std::lock_guard lock(mu_);
  inst.registered = false;
  std::string limits;
  if (ev.oomKills) limits += fmt::format("; memory limit reached ({} OOM kills)", ev.oomKills);
  if (ev.pidsMax)
    limits += fmt::format("; pids limit {} reached ({} forks refused)", inst.spec.limits.pids,
                          ev.pidsMax);
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
    std::string how = initStatus && *initStatus ? (*initStatus)->describe() : "ended";
    transition(inst, InstanceState::Failed, "the instance's init " + how + limits);
  }
}

Result<RecoveryReport> NsRuntime::recover() {
  RecoveryReport report;
  const std::string base = config_.runDir + "/instances";
  std::vector<std::string> dirs;
  if (DIR* d = ::opendir(base.c_str())) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.') dirs.emplace_back(e->d_name);
    ::closedir(d);
  }
  std::set<std::string> kept;
  for (const auto& name : dirs) {
    auto id = parseSlug(name);
    const std::string dir = base + "/" + name;
    {
      std::lock_guard lock(mu_);
      if (id && instances_.count(*id)) {
        kept.insert(name);
        continue;  // ours already
      }
    }
    nlohmann::json state;
    bool alive = false;
    if (std::ifstream f(dir + "/instance.json"); f && id) {
      state = nlohmann::json::parse(f, nullptr, false);
      if (!state.is_discarded() && state.contains("pid")) {
        pid_t pid = state.value("pid", -1);
        auto st = sys::processStartTime(pid);
        alive = pid > 0 && st && *st == state.value("start_time", 0ull);
      }
    }
    if (alive) {
      auto r = adopt(*id, state, dir);
      if (r) {
        ++report.adopted;
        kept.insert(name);
        continue;
      }
      report.notes.push_back(name + ": cannot adopt: " + r.error().message);
    }
    // Gone, half-made or unadoptable: tear down whatever is left.
    auto cg = sys::cgroup::Cgroup::open(layout_, cgroupParent_ + "/" + name);
    (void)cg.killAll();
    (void)cg.destroy();
    if (id) (void)radio_->detach(*id);
    (void)sys::removeTree(dir);
    if (id) (void)sys::removeTree(workDir(*id));
    ++report.reaped;
  }
  // Work directories of instances that are gone (after a reboot, /run is empty).
  if (DIR* d = ::opendir((config_.stateDir + "/work").c_str())) {
    std::vector<std::string> stale;
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.' && !kept.count(e->d_name)) stale.emplace_back(e->d_name);
    ::closedir(d);
    for (const auto& w : stale)
      if (sys::removeTree(config_.stateDir + "/work/" + w)) ++report.reaped;
  }
  // Inits of instances whose prolog a crash cut short (on cgroup v1 an init is moved into its
  // group only after clone, so the group may not know it): they name our skeleton.
  const std::string rootArg = std::string("--root") + '\0' + skeleton_ + '\0';
  std::set<pid_t> keptPids;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, inst] : instances_) keptPids.insert(inst->pid);
  }
  if (DIR* d = ::opendir("/proc")) {
    while (auto* e = ::readdir(d)) {
      pid_t pid = std::atoi(e->d_name);
      if (pid <= 0 || keptPids.count(pid)) continue;
      auto cmd = sys::readFile(fmt::format("/proc/{}/cmdline", pid));
      if (cmd && cmd->rfind("kuiga-init", 0) == 0 && cmd->find(rootArg) != std::string::npos &&
          ::kill(pid, SIGKILL) == 0)
        ++report.reaped;
    }
    ::closedir(d);
  }
  // Cgroups and radio links with no instance directory behind them.
  if (auto groups = sys::cgroup::listChildren(layout_, cgroupParent_)) {
    for (const auto& g : *groups) {
      if (kept.count(g)) continue;
      auto cg = sys::cgroup::Cgroup::open(layout_, cgroupParent_ + "/" + g);
      (void)cg.killAll();
      if (cg.destroy()) ++report.reaped;
    }
  }
  if (auto links = radio_->instanceLinks()) {
    std::set<std::string> keptLinks;
    for (const auto& k : kept)
      if (auto id = parseSlug(k)) keptLinks.insert(radioLinkName(*id));
    for (const auto& l : *links) {
      if (keptLinks.count(l)) continue;
      unsigned run = 0, index = 0;
      if (std::sscanf(l.c_str(), "kv%x.%x", &run, &index) == 2 && radio_->detach({run, index}))
        ++report.reaped;
    }
  }
  return report;
}

VoidResult NsRuntime::adopt(InstanceId id, const nlohmann::json& state, const std::string& dir) {
  auto inst = std::make_shared<Instance>();
  inst->spec.id = id;
  inst->spec.appDir = state.value("app_dir", "");
  inst->spec.executable = state.value("executable", "");
  inst->spec.net = parseNetMode(state.value("net", "veth")).value_or(NetMode::Veth);
  pid_t pid = state.value("pid", -1);
  auto pidfd = sys::pidfdOpen(pid);
  if (!pidfd) return fail(pidfd.error());
  auto out = sys::openFile(fifoPath(dir, "output"), O_RDONLY | O_NONBLOCK);
  if (!out) return fail(out.error());
  auto rep = sys::openFile(fifoPath(dir, "report"), O_RDONLY | O_NONBLOCK);
  if (!rep) return fail(rep.error());
  inst->init = sys::Child(pid, std::move(*pidfd));
  inst->pid = pid;
  inst->cgroup.emplace(sys::cgroup::Cgroup::open(layout_, cgroupPath(id)));
  inst->onRadio = inst->spec.net != NetMode::None;
  inst->output = std::move(*out);
  inst->report = std::move(*rep);
  inst->log = std::make_unique<LogWriter>(logPath(id), config_.logMaxBytes);
  // The AUT runs as init's child once started.
  auto children = sys::readFile(fmt::format("/proc/{}/task/{}/children", pid, pid));
  inst->started = children && children->find_first_not_of(" \n") != std::string::npos;
  {
    std::lock_guard lock(mu_);
    inst->serial = nextSerial_++;
    inst->state = inst->started ? InstanceState::Running : InstanceState::Booting;
    InstanceEvent ev{id, inst->state, realtimeNs(), "re-adopted after a worker restart"};
    inst->history.push_back(ev);
    pendingEvents_.push_back(ev);
    instances_[id] = inst;
    bySerial_[inst->serial] = inst;
  }
  auto undo = [&](Error e) {
    std::lock_guard lock(mu_);
    instances_.erase(id);
    bySerial_.erase(inst->serial);
    inst->init.release();
    return fail(e);
  };
  if (auto r = io_->add(inst->output.get(), inst->serial * 4 + kOutput); !r) return undo(r.error());
  if (auto r = io_->add(inst->report.get(), inst->serial * 4 + kReport); !r) return undo(r.error());
  if (auto r = io_->add(inst->init.pidfd(), inst->serial * 4 + kExit); !r) return undo(r.error());
  std::lock_guard lock(mu_);
  inst->registered = true;
  return {};
}

VoidResult NsRuntime::destroyAll() {
  std::vector<InstanceId> ids;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, inst] : instances_) ids.push_back(id);
  }
  VoidResult result;
  auto removed = remove(ids);
  if (!removed.allOk())
    result = fail(removed.failed.front().second.context(
        fmt::format("{} instances not removed, first {}", removed.failed.size(),
                    displayName(removed.failed.front().first))));
  flushEvents();
  if (auto r = radio_->destroy(); !r && result) result = r;
  if (auto r = RootSkeleton::destroy(config_.runDir + "/root"); !r && result) result = r;
  if (auto r = sys::unmountAndRemove(config_.runDir + "/instances"); !r && result) result = r;
  ::rmdir(config_.runDir.c_str());
  ::rmdir("/run/kuiga");  // unless another worker uses it
  auto parent = sys::cgroup::Cgroup::open(layout_, cgroupParent_);
  if (auto r = parent.destroy(); !r && result) result = r;
  (void)sys::cgroup::Cgroup::open(layout_, "kuiga").destroy(0);  // unless another worker uses it
  return result;
}

}  // namespace kuiga::worker::ns
