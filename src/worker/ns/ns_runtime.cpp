#include "worker/ns/ns_runtime.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/parallel.hpp"
#include "sys/file.hpp"
#include "sys/mount.hpp"
#include "sys/netns.hpp"
#include "worker/net/instance_network.hpp"
#include "worker/net/radio_network.hpp"
#include "worker/node_limits.hpp"
#include "worker/ns/init/report.hpp"
#include "worker/ns/io_loop.hpp"
#include "worker/ns/ns_instance.hpp"
#include "worker/ns/root_skeleton.hpp"
#include "worker/ns/seccomp_policy.hpp"

namespace kuiga::worker::ns {

using Clock = std::chrono::steady_clock;
using sys::UniqueFd;

Result<std::unique_ptr<NsRuntime>> NsRuntime::open(NsRuntimeConfig config, EventSink sink) {
  if (config.stateDir.empty()) return failMsg("ns runtime: no state directory");
  if (config.initPath.empty() || ::access(config.initPath.c_str(), X_OK) < 0)
    return failMsg("ns runtime: kuiga-init not found at '" + config.initPath + "'");
  if (config.threads == 0) config.threads = defaultThreads();
  if (config.runDir.empty()) config.runDir = "/run/kuiga/" + config.name;
  if (config.runDir.size() > 400) return failMsg("ns runtime: run directory path too long");
  auto layout = sys::cgroup::detect(config.cgroupVersion);
  if (!layout) return fail(layout.error().context("ns runtime"));
  // What it can enforce where it runs (on a host, or in a container's cgroup namespace).
  spdlog::info("worker {}: {}", config.name, sys::cgroup::describe(*layout));
  for (const char* sub : {"", "/logs"})
    KUIGA_TRY(sys::makeDirs(config.stateDir + sub, 0700), "ns runtime state directory");
  // Instances' own files churn thousands at a time: keep them off the disk's journal.
  // Each instance keeps two small files here, a page each: 1 GiB is a limit, not a
  // reservation, and leaves room for 50,000 instances and more.
  KUIGA_TRY(sys::ensureTmpfs(config.runDir + "/instances", "mode=0700,size=1g,nr_inodes=1m"),
            "ns runtime directory");
  // Past 10,000 instances the host's defaults run out (pid_max, the neighbour tables).
  auto limits = raiseNodeLimits(config.capacity);
  if (!limits.raised.empty())
    spdlog::info("worker {}: raised kernel limits for {} instances: {}", config.name,
                 config.capacity, describe(limits));
  for (const auto& w : limits.warnings) spdlog::warn("worker {}: {}", config.name, w);

  std::unique_ptr<NsRuntime> rt(new NsRuntime(std::move(config), std::move(sink), *layout));
  // A runtime that cannot open leaves nothing behind; but what an earlier process of this
  // worker left (instances may still run on it) is only re-used, and stays.
  const bool fresh = !sys::exists(rt->config_.runDir + "/root") &&
                     !sys::exists(rt->config_.stateDir + "/radio.netns");
  auto undo = [&rt, fresh](const Error& e) {
    if (!fresh) return fail(e.context("ns runtime"));
    if (rt->radio_) (void)rt->radio_->destroy();
    (void)RootSkeleton::destroy(rt->config_.runDir + "/root");
    (void)sys::unmountAndRemove(rt->config_.runDir + "/instances");
    ::unlink(rt->seccompPath().c_str());
    ::rmdir(rt->config_.runDir.c_str());
    return fail(e.context("ns runtime"));
  };
  auto sk = RootSkeleton::prepare(rt->config_.runDir + "/root", rt->config_.exposed);
  // The instances' seccomp filter, compiled once: each init reads it for its AUT.
  auto filter = defaultSeccompFilter();
  if (!filter) return undo(filter.error());
  if (auto w = sys::replaceFile(rt->seccompPath(), *filter); !w) return undo(w.error());
  if (!sk) return undo(sk.error());
  rt->skeleton_ = sk->path();
  auto radio = net::RadioNetwork::open(rt->config_.stateDir + "/radio.netns");
  if (!radio) return undo(radio.error());
  rt->radio_ = std::move(*radio);
  auto parent = sys::cgroup::Cgroup::create(rt->layout_, rt->cgroupParent_);
  if (!parent) return undo(parent.error());
  auto io = IoLoop::start([r = rt.get()](uint64_t k, uint32_t e) { r->onIo(k, e); },
                          [r = rt.get()] {
                            r->readPrologReports();
                            r->flushEvents();
                            r->pumpConsoles();
                          },
                          50);
  if (!io) return fail(io.error());
  rt->io_ = std::move(*io);
  return rt;
}

NsRuntime::NsRuntime(NsRuntimeConfig config, EventSink sink, sys::cgroup::Layout layout)
    : config_(std::move(config)),
      sink_(std::move(sink)),
      layout_(std::move(layout)),
      cgroupParent_("kuiga/" + config_.name),
      uids_(config_.uidBase, config_.uidCount) {}

NsRuntime::~NsRuntime() {
  io_.reset();  // no handler runs past this point; instances outlive the worker
}

Result<std::vector<std::string>> NsRuntime::radioLinks() const {
  return radio_->instanceLinks();
}

std::string NsRuntime::instanceDir(InstanceId id) const {
  return config_.runDir + "/instances/" + slug(id);
}

// Where instances of workers from before /work was the instance's own tmpfs kept it; removed
// with those instances.
std::string NsRuntime::workDir(InstanceId id) const {
  return config_.stateDir + "/work/" + slug(id);
}

int NsRuntime::radioNetnsFd() const {
  return radio_->netnsFd();
}

std::string NsRuntime::seccompPath() const {
  return config_.runDir + "/seccomp.bpf";
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

void NsRuntime::readPrologReports() {
  // A bulk create waits for every prolog before it reads the reports; read them meanwhile, so
  // that each instance is booting as soon as its init is ready and a create's progress moves.
  std::vector<std::shared_ptr<Instance>> waiting;
  {
    // Only those still in their prolog: this runs every 50 ms, and walking all 10,000
    // instances each time was 6% of the machine's CPU in a steady run (perf).
    std::lock_guard lock(mu_);
    std::erase_if(prologWaiting_, [&](uint64_t serial) {
      auto it = bySerial_.find(serial);
      if (it == bySerial_.end() || it->second->state != InstanceState::Prolog ||
          !it->second->registered)
        return true;
      waiting.push_back(it->second);
      return false;
    });
  }
  for (const auto& inst : waiting) readReport(*inst);
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

void NsRuntime::signalInit(const Instance& inst, int sig) {
  // Our own inits stay zombies until finish() reaps them, so their pids cannot be reused
  // before; an adopted init is reaped by someone else, so check it is still the same process.
  if (inst.pid <= 0) return;
  if (!inst.ourChild) {
    auto st = sys::processStartTime(inst.pid);
    if (!st || *st != inst.startTime) return;
  }
  ::kill(inst.pid, sig);
}

std::vector<InstanceId> NsRuntime::waitFor(std::span<const InstanceId> ids,
                                           const std::function<bool(InstanceState)>& pred,
                                           Clock::time_point deadline) {
  std::vector<std::shared_ptr<Instance>> pending;
  {
    std::lock_guard lock(mu_);
    for (const auto& id : ids)
      if (auto it = instances_.find(id); it != instances_.end()) pending.push_back(it->second);
  }
  // Init reports to a file, so waiting means reading the reports of those not there yet.
  for (;;) {
    const auto round = Clock::now();
    std::erase_if(pending, [&](const std::shared_ptr<Instance>& inst) {
      readReport(*inst);
      std::lock_guard lock(mu_);
      return pred(inst->state);
    });
    if (pending.empty() || Clock::now() >= deadline) break;
    // Rest at least as long as the round took: with thousands pending a round reads thousands
    // of files, and the instances being waited for need the CPU more.
    std::unique_lock lock(mu_);
    cv_.wait_for(lock,
                 std::max<Clock::duration>(std::chrono::milliseconds(5), Clock::now() - round));
  }
  std::vector<InstanceId> missing;
  for (const auto& inst : pending) missing.push_back(inst->spec.id);
  return missing;
}

namespace {

// Whether a failed prolog may succeed if made again: the kernel refused a network step for a
// reason that passes (a busy or full queue, a link that another change held down for a
// moment), or gave no reason at all. Once in 20,000 creations at 10,000 instances an IPv6
// default route failed this way ("Unspecific failure", libnl's name for an errno it does not
// know); a device lost for that is a bug. Exhaustion (ENOMEM, ENOSPC, EMFILE) and refusals
// (EPERM, EEXIST, EINVAL) would fail the same way again.
bool worthAnotherTry(const Error& e) {
  if (e.message.rfind("network: ", 0) != 0) return false;
  switch (e.code) {
    case EAGAIN:
    case EBUSY:
    case EINTR:
    case ENOBUFS:
    case ENETDOWN:
    case ENETUNREACH:
    case EHOSTUNREACH:
      return true;
    case 0:
      return e.message.find("Unspecific failure") != std::string::npos;
    default:
      return false;
  }
}

}  // namespace

BulkResult NsRuntime::create(std::span<const InstanceSpec> specs, const Progress& progress) {
  FlushEventsOnExit flush{*this};  // the sink hears of every change before we return
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
      std::optional<uid_t> uid;
      if (why.empty() && !(uid = uids_.take()))
        why = fmt::format("no free uid: all {} of this worker's are taken by live instances",
                          uids_.count());
      if (!why.empty()) {
        result.failed.emplace_back(spec.id, Error::msg(why));
        continue;
      }
      auto inst = std::make_shared<Instance>();
      inst->spec = spec;
      inst->uid = *uid;
      inst->uidPooled = true;
      inst->serial = nextSerial_++;
      InstanceEvent ev{spec.id, InstanceState::Pending, realtimeNs(),
                       spec.seccomp ? "" : "without the seccomp filter, as the run asks"};
      inst->history.push_back(ev);
      pendingEvents_.push_back(ev);
      instances_[spec.id] = inst;
      bySerial_[inst->serial] = inst;
      fresh.push_back(inst);
    }
  }
  std::map<RunId, size_t> onRadio;
  for (const auto& inst : fresh)
    if (inst->spec.net != NetMode::None) ++onRadio[inst->spec.id.run];
  for (auto [run, ports] : onRadio)
    if (auto r = radio_->reserve(run, ports); !r)
      spdlog::warn("radio network: {}; leaves will be added as needed", r.error().message);
  std::mutex resultMu;
  size_t done = 0;
  parallelFor(fresh.size(), config_.threads, [&](size_t i) {
    Instance& inst = *fresh[i];
    auto r = prolog(inst);
    if (!r && worthAnotherTry(r.error()) && !initEndedEarly(inst)) {
      // Everything of the first attempt goes; the second makes the instance anew.
      spdlog::warn("{}: prolog failed ({}); trying once more", displayName(inst.spec.id),
                   r.error().message);
      discardPartial(inst);
      if (auto again = prolog(inst); again)
        r = again;
      else
        r = fail(again.error().context("again, after \"" + r.error().message + "\""));
    }
    if (!r) {
      // A step that failed because init died first ("no such process") says less than why
      // init died: prefer that.
      // A vanished /proc/PID/ns/net means init is exiting: give it a moment to be reapable.
      const int code = r.error().code;
      const auto grace = code == ENOENT || code == ESRCH ? std::chrono::milliseconds(500)
                                                         : std::chrono::milliseconds(0);
      if (auto why = initEndedEarly(inst, grace))
        r = fail(Error::msg(*why + " (" + r.error().message + ")"));
      discardPartial(inst);
    }
    std::lock_guard lock(resultMu);
    if (!r) {
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
  const std::string dir = instanceDir(spec.id);
  inst.dir = dir;
  if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) return failSys("mkdir '" + dir + "'");
  for (const char* f : {kOutputFifo, kConsoleFifo}) {
    std::string p = dir + "/" + f;
    if (::mkfifo(p.c_str(), 0600) < 0 && errno != EEXIST) return failSys("mkfifo '" + p + "'");
  }
  // The instance holds both FIFOs read-write: its writers never see EPIPE and its stdin never
  // sees EOF, even while the worker restarts.
  auto outRead = sys::openFile(dir + "/" + kOutputFifo, O_RDONLY | O_NONBLOCK);
  auto outRw = sys::openFile(dir + "/" + kOutputFifo, O_RDWR);
  auto conRw = sys::openFile(dir + "/" + kConsoleFifo, O_RDWR);
  auto report =
      sys::openFile(dir + "/" + kReportFile, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
  for (auto* r : {&outRead, &outRw, &conRw, &report})
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
             "--disk-size",
             fmt::format("{}m", spec.limits.diskMb),
             "--disk-inodes",
             std::to_string(diskInodes(spec.limits.diskMb)),
             "--hostname",
             hostname(spec.id),
             "--uid",
             std::to_string(inst.uid),
             "--seccomp",
             spec.seccomp ? seccompPath() : "",
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
  so.fds = {
      {conRw->get(), 0}, {outRw->get(), 1}, {outRw->get(), 2}, {report->get(), kInitReportFd}};
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
    inst.pid = child->pid();
    inst.ourChild = true;
  }
  // The pid stays ours (a zombie until finish() reaps it); its pidfd would cost an fd.
  child->release();
  if (layout_.version == sys::cgroup::Version::V1)
    KUIGA_TRY(inst.cgroup->addProcess(inst.pid), "cgroup");

  auto netns = sys::netns::ofPid(inst.pid);
  if (!netns) return fail(netns.error());
  if (spec.net != NetMode::None) {
    KUIGA_TRY(radio_->attach(spec.id, netns->get(), spec.net == NetMode::Tap), "network");
    inst.onRadio = true;
  }
  if (config_.networkFault) KUIGA_TRY(config_.networkFault(spec.id), "network");
  KUIGA_TRY(net::configureInstanceNetwork(netns->get(), spec.id, spec.net, inst.uid, config_.gid),
            "network");

  auto start = sys::processStartTime(inst.pid);
  inst.startTime = start ? *start : 0;
  nlohmann::json state = {{"run", spec.id.run},        {"index", spec.id.index},
                          {"pid", inst.pid},           {"start_time", inst.startTime},
                          {"app_dir", spec.appDir},    {"executable", spec.executable},
                          {"net", toString(spec.net)}, {"uid", inst.uid}};
  // Recovery's record goes into init's report file rather than a file of its own: a tmpfs file
  // takes a page however small, once per instance. One write on an O_APPEND file lands whole
  // between init's records.
  const std::string record = std::string(kStateRecord) + " " + state.dump() + "\n";
  if (::write(report->get(), record.data(), record.size()) != static_cast<ssize_t>(record.size()))
    return failSys("write the instance's state to '" + dir + "/" + kReportFile + "'");

  inst.log = std::make_unique<LogWriter>(logPath(spec.id), config_.logMaxBytes);
  inst.output = std::move(*outRead);
  KUIGA_TRY(io_->add(inst.output.get(), inst.serial), "watch output");
  std::lock_guard lock(mu_);
  inst.registered = true;
  prologWaiting_.insert(inst.serial);
  return {};
}

std::optional<std::string> NsRuntime::initEndedEarly(Instance& inst,
                                                     std::chrono::milliseconds grace) {
  if (inst.pid <= 0 || !inst.ourChild) return std::nullopt;
  int st = 0;
  auto until = std::chrono::steady_clock::now() + grace;
  while (::waitpid(inst.pid, &st, WNOHANG) != inst.pid) {
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  inst.pid = -1;  // reaped
  readReport(inst);
  std::lock_guard lock(mu_);
  if (!inst.setupFailure.empty()) return inst.setupFailure;
  return describeInitEnd(inst, sys::ExitStatus::fromWaitStatus(st));
}

void NsRuntime::discardPartial(Instance& inst) {
  // Undo a failed prolog: nothing of the instance may stay behind.
  if (inst.output) io_->remove(inst.output.get());
  inst.output.reset();
  if (inst.pid > 0 && inst.ourChild) {
    ::kill(inst.pid, SIGKILL);
    while (::waitpid(inst.pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    inst.pid = -1;
  }
  if (inst.cgroup) {
    (void)inst.cgroup->killAll();
    (void)inst.cgroup->destroy();
  }
  // The link goes now, not when the kernel gets round to the dead namespace: the instance may
  // be made again at once (a second attempt) and needs its name.
  if (inst.onRadio) (void)radio_->detach(inst.spec.id), inst.onRadio = false;
  (void)sys::removeTree(instanceDir(inst.spec.id));
  (void)sys::removeTree(workDir(inst.spec.id));
}

BulkResult NsRuntime::start(std::span<const InstanceId> ids, const Progress& progress) {
  FlushEventsOnExit flush{*this};  // the sink hears of every change before we return
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
      signalInit(inst, SIGUSR1);
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
  FlushEventsOnExit flush{*this};
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
      signalInit(inst, grace.count() > 0 ? SIGTERM : SIGKILL);
      live.push_back(id);
    }
  }
  auto final = [](InstanceState s) { return isFinal(s); };
  auto late = waitFor(live, final, Clock::now() + grace);
  if (!late.empty()) {
    std::lock_guard lock(mu_);
    for (const auto& id : late) {
      Instance& inst = *instances_.at(id);
      if (!isFinal(inst.state)) signalInit(inst, SIGKILL);  // the PID namespace dies with it
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
  FlushEventsOnExit flush{*this};
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
    if (inst.uidPooled) uids_.release(inst.uid);  // nothing of the instance runs as it any more
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
  std::shared_ptr<Instance> inst;
  {
    std::lock_guard lock(mu_);
    auto it = instances_.find(id);
    if (it == instances_.end()) return failMsg("no such instance " + displayName(id));
    inst = it->second;
  }
  {
    std::lock_guard lock(inst->consoleMu);
    if (inst->consoleQueue.size() >= kConsoleQueueLines)
      return failMsg(fmt::format("console of {} has {} lines waiting: the AUT is not reading them",
                                 displayName(id), kConsoleQueueLines));
    inst->consoleQueue.push_back(std::string(line) + "\n");
  }
  {
    std::lock_guard lock(consoleSetMu_);
    consoleQueued_.insert(id);
  }
  pumpConsole(*inst);
  return {};
}

void NsRuntime::pumpConsole(Instance& inst) {
  std::lock_guard lock(inst.consoleMu);
  if (inst.consoleQueue.empty()) return;
  auto now = std::chrono::steady_clock::now();
  if (now < inst.consoleNext) return;
  if (inst.awaitPrompt && !inst.promptSeen && now < inst.promptDeadline) return;
  inst.awaitPrompt = false;
  auto fd = sys::openFile(inst.dir + "/" + kConsoleFifo, O_WRONLY | O_NONBLOCK);
  if (!fd) return;  // the instance is ending; its queue goes with it
  std::string& front = inst.consoleQueue.front();
  size_t n = std::min(front.size(), kConsoleChunk);
  ssize_t w = ::write(fd->get(), front.data(), n);
  if (w <= 0) return;  // its stdin is full: later
  front.erase(0, static_cast<size_t>(w));
  inst.consoleNext = now + kConsoleChunkGap;
  if (front.empty()) {
    inst.consoleQueue.pop_front();
    inst.awaitPrompt = true;
    inst.promptSeen = false;
    inst.promptDeadline = now + kConsolePromptWait;
  }
}

void NsRuntime::pumpConsoles() {
  std::vector<std::shared_ptr<Instance>> busy;
  {
    std::lock_guard lock(consoleSetMu_);
    if (consoleQueued_.empty()) return;
    std::lock_guard runtimeLock(mu_);
    for (auto it = consoleQueued_.begin(); it != consoleQueued_.end();) {
      auto inst = instances_.find(*it);
      if (inst == instances_.end()) {
        it = consoleQueued_.erase(it);
        continue;
      }
      busy.push_back(inst->second);
      ++it;
    }
  }
  for (auto& inst : busy) {
    pumpConsole(*inst);
    std::lock_guard lock(inst->consoleMu);
    if (inst->consoleQueue.empty()) {
      std::lock_guard setLock(consoleSetMu_);
      consoleQueued_.erase(inst->spec.id);
    }
  }
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
  ::unlink(seccompPath().c_str());
  ::rmdir(config_.runDir.c_str());
  ::rmdir("/run/kuiga");  // unless another worker uses it
  auto parent = sys::cgroup::Cgroup::open(layout_, cgroupParent_);
  if (auto r = parent.destroy(); !r && result) result = r;
  (void)sys::cgroup::Cgroup::open(layout_, "kuiga").destroy(0);  // unless another worker uses it
  return result;
}

}  // namespace kuiga::worker::ns
