#include "worker/ns/ns_runtime.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/parallel.hpp"
#include "sys/file.hpp"
#include "sys/mount.hpp"
#include "sys/process.hpp"
#include "worker/net/radio_network.hpp"
#include "worker/node_limits.hpp"
#include "worker/ns/init/report.hpp"
#include "worker/ns/io_loop.hpp"
#include "worker/ns/ns_group.hpp"
#include "worker/ns/ns_instance.hpp"
#include "worker/ns/root_skeleton.hpp"
#include "worker/ns/seccomp_policy.hpp"

namespace kuiga::worker::ns {

using Clock = std::chrono::steady_clock;
using sys::UniqueFd;
using namespace std::chrono_literals;

namespace {

// The CPU time the calling thread has used.
std::chrono::nanoseconds threadCpuTime() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// Whether the instance's pid still names its init; the caller holds the runtime's mutex. Our
// own init's pid is ours until finish() marks it reaped (under that mutex, before it reaps
// it); an adopted init is reaped by someone else, and its start time tells it from a later
// process with its pid.
bool pidIsItsInit(const NsRuntime::Instance& inst) {
  if (inst.pid <= 0 || inst.initReaped) return false;
  if (inst.ourChild) return true;
  auto st = sys::processStartTime(inst.pid);
  return st && *st == inst.startTime;
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
  // What it can enforce where it runs (on a host, or in a container's cgroup namespace).
  spdlog::info("worker {}: {}", config.name, sys::cgroup::describe(*layout));
  for (const char* sub : {"", "/logs", "/reports"})
    KUIGA_TRY(sys::makeDirs(config.stateDir + sub, 0700), "ns runtime state directory");
  // Instances' FIFOs churn thousands at a time: keep them off the disk's journal. They hold no
  // page here (a group's report does, one per group): 1 GiB is a limit, not a reservation.
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
    if (rt->shared_) (void)rt->shared_->destroy(0);
    (void)sys::cgroup::Cgroup::open(rt->layout_, rt->cgroupParent_).destroy(0);
    return fail(e.context("ns runtime"));
  };
  auto sk = RootSkeleton::prepare(rt->config_.runDir + "/root", rt->config_.exposed);
  // The instances' seccomp filter, compiled once: each init reads it for its AUT.
  auto filter = defaultSeccompFilter();
  if (!filter) return undo(filter.error());
  if (auto w = sys::replaceFile(rt->seccompPath(), *filter); !w) return undo(w.error());
  if (!sk) return undo(sk.error());
  rt->skeleton_ = sk->path();
  rt->startZygote();
  auto radio = net::RadioNetwork::open(rt->config_.stateDir + "/radio.netns");
  if (!radio) return undo(radio.error());
  rt->radio_ = std::move(*radio);
  auto parent = sys::cgroup::Cgroup::create(rt->layout_, rt->cgroupParent_);
  if (!parent) return undo(parent.error());
  auto shared = sys::cgroup::Cgroup::create(rt->layout_, rt->sharedCgroupPath(),
                                            {.memory = false, .pids = true, .cpu = false});
  if (!shared) return undo(shared.error());
  rt->shared_.emplace(std::move(*shared));
  if (rt->layout_.version == sys::cgroup::Version::V2) {
    auto dir = rt->shared_->openDir();
    if (!dir) return undo(dir.error());
    rt->sharedDir_ = std::move(*dir);
  }
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

size_t NsRuntime::uidsInUse() const {
  return uids_.inUse();
}

std::string NsRuntime::instanceDir(InstanceId id) const {
  return config_.runDir + "/instances/" + slug(id);
}

std::string NsRuntime::reportSlot(uid_t uid) const {
  return config_.stateDir + "/reports/u" + std::to_string(uid);
}

std::string NsRuntime::legacyReportPath(InstanceId id) const {
  return config_.stateDir + "/reports/" + slug(id);
}

VoidResult NsRuntime::retireReport(const std::string& reportFile) const {
  if (reportFile.empty()) return {};
  const std::string base = reportFile.substr(reportFile.rfind('/') + 1);
  const bool slot = base.size() > 1 && base[0] == 'u' &&
                    base.find_first_not_of("0123456789", 1) == std::string::npos;
  if ((slot ? ::truncate(reportFile.c_str(), 0) : ::unlink(reportFile.c_str())) < 0 &&
      errno != ENOENT)
    return failSys((slot ? "empty '" : "remove '") + reportFile + "'");
  return {};
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

void NsRuntime::startZygote() {
  if (!config_.zygote) return;
  auto without = [this](const Error& e) {
    spdlog::warn("worker {}: no zygote ({}): each instance pivots into the root skeleton itself",
                 config_.name, e.message);
  };
  // A kernel before 5.2 has no open_tree(), which hands each init its AUT's directory.
  if (auto probe = sys::detachedTree(skeleton_ + "/app"); !probe) return without(probe.error());
  auto filter = sys::openFile(seccompPath(), O_RDONLY | O_CLOEXEC);
  if (!filter) return without(filter.error());
  auto z = Zygote::start(config_.initPath, skeleton_);
  if (!z) return without(z.error());
  zygote_ = std::move(*z);
  seccompFd_ = std::move(*filter);
}

std::string NsRuntime::logPath(InstanceId id) const {
  return config_.stateDir + "/logs/" + slug(id) + ".log";
}

std::string NsRuntime::cgroupPath(InstanceId id) const {
  return cgroupParent_ + "/" + slug(id);
}

std::string NsRuntime::sharedCgroupPath() const {
  return cgroupParent_ + "/" + kSharedCgroup;
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

void NsRuntime::awaitAdoptedInitEnd(const Instance& inst) {
  for (int i = 0; i < 5000; ++i) {
    auto st = sys::processStartTime(inst.pid);
    if (!st || *st != inst.startTime || sys::processState(inst.pid) == 'Z') return;
    std::this_thread::sleep_for(1ms);
  }
  spdlog::warn("{}: its adopted init {} has not ended 5 s after its output closed",
               displayName(inst.spec.id), inst.pid);
}

void NsRuntime::signalInits(const std::vector<std::shared_ptr<Instance>>& insts, int sig) {
  // The signals go out without mu_: each woken init runs before the thread that signals it,
  // and a hold per signal still lasted 0.4 s at times at a 1,000-instance start, through which
  // the I/O thread relayed no instance's output, of any run (docs/performance.md). Under mu_,
  // a batch of inits is only looked up and pinned by a pidfd each, which names its process
  // even once the init is reaped and its pid reused: the signal reaches that init or nobody.
  constexpr size_t kBatch = 64;  // descriptors held at once
  std::vector<sys::UniqueFd> pinned;
  pinned.reserve(kBatch);
  for (size_t first = 0; first < insts.size(); first += kBatch) {
    pinned.clear();
    {
      std::lock_guard lock(mu_);
      for (size_t k = first; k < std::min(insts.size(), first + kBatch); ++k) {
        const Instance& inst = *insts[k];
        if (!inst.registered || isFinal(inst.state) || inst.pid <= 0) continue;
        if (auto fd = pinInit(inst)) {
          pinned.push_back(std::move(*fd));
        } else if (fd.error().code == EMFILE || fd.error().code == ENFILE) {
          signalInit(inst, sig);  // no descriptor to spare: under mu_, as before
        }
      }
    }
    for (const auto& fd : pinned) (void)sys::pidfdSignal(fd.get(), sig);
  }
}

Result<sys::UniqueFd> NsRuntime::pinInit(const Instance& inst) {
  // Caller holds mu_. Checked after the open, so that the pidfd holds the init checked, not a
  // later process with its pid.
  auto fd = sys::pidfdOpen(inst.pid);
  if (fd && !pidIsItsInit(inst)) return failMsg("its init has ended");
  return fd;
}

void NsRuntime::signalInit(const Instance& inst, int sig) {
  // Caller holds mu_.
  if (pidIsItsInit(inst)) ::kill(inst.pid, sig);
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
    const auto roundCpu = threadCpuTime();
    std::erase_if(pending, [&](const std::shared_ptr<Instance>& inst) {
      readReport(*inst);
      std::lock_guard lock(mu_);
      return pred(inst->state);
    });
    if (pending.empty() || Clock::now() >= deadline) break;
    // Rest at least as long as the round's own CPU: with thousands pending a round reads
    // thousands of files, and the instances being waited for need the CPU more. Not its wall
    // time: while thousands of inits start, a round waits for the CPU as long as they run, and
    // resting that long again only delayed seeing them started (docs/performance.md, "Page
    // tables at every init").
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::max<Clock::duration>(5ms, threadCpuTime() - roundCpu));
  }
  std::vector<InstanceId> missing;
  for (const auto& inst : pending) missing.push_back(inst->spec.id);
  return missing;
}

std::vector<InstanceId> NsRuntime::waitProgressing(std::span<const InstanceId> ids,
                                                   const std::function<bool(InstanceState)>& pred) {
  std::vector<InstanceId> left(ids.begin(), ids.end());
  for (;;) {
    const size_t before = left.size();
    left = waitFor(left, pred, Clock::now() + config_.readyTimeout);
    if (left.empty() || left.size() == before) return left;
  }
}

BulkResult NsRuntime::start(std::span<const InstanceId> ids, const Progress& progress) {
  FlushEventsOnExit flush{*this};  // the sink hears of every change before we return
  BulkResult result;
  std::vector<InstanceId> sent;
  std::vector<std::shared_ptr<Instance>> members, solo;  // of groups, and isolated
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
      (inst.group ? members : solo).push_back(it->second);
      sent.push_back(id);
    }
  }
  signalInits(solo, SIGUSR1);
  signalMembers(members, SIGUSR1);
  size_t done = 0;
  auto late = waitProgressing(sent, [&](InstanceState s) {
    bool left = s != InstanceState::Booting;
    if (left && progress) progress(++done, sent.size());
    return left;
  });
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
  std::vector<std::shared_ptr<Instance>> members;  // of groups: signalled through their inits
  std::vector<std::shared_ptr<Instance>> solo;     // isolated
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
      (inst.group ? members : solo).push_back(it->second);
      live.push_back(id);
    }
  }
  signalInits(solo, grace.count() > 0 ? SIGTERM : SIGKILL);
  signalMembers(members, grace.count() > 0 ? SIGTERM : SIGKILL);
  members.clear();
  solo.clear();
  auto final = [](InstanceState s) { return isFinal(s); };
  auto late = waitFor(live, final, Clock::now() + grace);
  if (!late.empty()) {
    std::lock_guard lock(mu_);
    for (const auto& id : late) {
      auto& inst = instances_.at(id);
      if (isFinal(inst->state)) continue;
      // A group's init kills every process of the device's uid; an isolated instance's PID
      // namespace dies with its init.
      (inst->group ? members : solo).push_back(inst);
    }
  }
  signalInits(solo, SIGKILL);
  signalMembers(members, SIGKILL);
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
  auto groupFailures = leaveGroups(victims);
  std::mutex resultMu;
  parallelFor(victims.size(), config_.threads, [&](size_t i) {
    Instance& inst = *victims[i];
    VoidResult r;
    if (inst.cgroup) {
      (void)inst.cgroup->killAll();
      r = inst.cgroup->destroy();
    }
    if (auto it = groupFailures.find(inst.spec.id); it != groupFailures.end()) r = fail(it->second);
    if (inst.onRadio) radio_->released(inst.spec.id);
    // A device of a group has no directories of its own here: its group's init removed its
    // private one.
    if (!inst.group) {
      // Before its uid goes back to the pool: the next instance with it writes to this slot.
      if (auto rm = retireReport(inst.reportFile); !rm && r) r = rm;
      if (auto rm = sys::removeTree(instanceDir(inst.spec.id)); !rm && r) r = rm;
      if (auto rm = sys::removeTree(workDir(inst.spec.id)); !rm && r) r = rm;
    }
    // Nothing of the instance runs as its uid any more, and its RLIMIT_NPROC count is back to
    // 0: a cgroup was emptied above, our own init was reaped after its PID namespace emptied.
    // An adopted init's end is known when the last writer of its output closed, which may be a
    // moment before its namespace's processes are gone: it has ended once it is a zombie.
    if (!inst.cgroup && !inst.ourChild && inst.pid > 0) awaitAdoptedInitEnd(inst);
    if (inst.uidPooled) uids_.release(inst.uid);
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
  std::string& front = inst.consoleQueue.front();
  ssize_t w = writeConsole(inst, std::string_view(front).substr(0, kConsoleChunk));
  if (w <= 0) return;  // its stdin is full, or the instance is ending: later, or never
  front.erase(0, static_cast<size_t>(w));
  inst.consoleNext = now + kConsoleChunkGap;
  if (front.empty()) {
    inst.consoleQueue.pop_front();
    inst.awaitPrompt = true;
    inst.promptSeen = false;
    inst.promptDeadline = now + kConsolePromptWait;
  }
}

ssize_t NsRuntime::writeConsole(Instance& inst, std::string_view bytes) {
  if (inst.group)
    return command(*inst.group, "in", inst.spec.id.index, 0, 0, bytes, false)
               ? static_cast<ssize_t>(bytes.size())
               : -1;
  auto fd = sys::openFile(inst.dir + "/" + kConsoleFifo, O_WRONLY | O_NONBLOCK);
  if (!fd) return -1;
  return ::write(fd->get(), bytes.data(), bytes.size());
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
  zygote_.reset();  // it stands in the skeleton, which goes next
  seccompFd_.reset();
  if (auto r = radio_->destroy(); !r && result) result = r;
  if (auto r = RootSkeleton::destroy(config_.runDir + "/root"); !r && result) result = r;
  if (auto r = sys::unmountAndRemove(config_.runDir + "/instances"); !r && result) result = r;
  ::unlink(seccompPath().c_str());
  ::rmdir(config_.runDir.c_str());
  ::rmdir("/run/kuiga");  // unless another worker uses it
  sharedDir_.reset();
  if (shared_)
    if (auto r = shared_->destroy(); !r && result) result = r;
  auto parent = sys::cgroup::Cgroup::open(layout_, cgroupParent_);
  if (auto r = parent.destroy(); !r && result) result = r;
  (void)sys::cgroup::Cgroup::open(layout_, "kuiga").destroy(0);  // unless another worker uses it
  return result;
}

}  // namespace kuiga::worker::ns
