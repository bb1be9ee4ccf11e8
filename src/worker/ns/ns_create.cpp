// The ns runtime's creation: the bulk create, and each instance's prolog (its directory and
// FIFOs, cgroup, init in new namespaces, radio link and network), undone whole when a step
// fails. The rest of the life cycle is in ns_runtime.cpp and ns_supervision.cpp.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/parallel.hpp"
#include "sys/file.hpp"
#include "sys/mount.hpp"
#include "sys/netns.hpp"
#include "worker/net/instance_network.hpp"
#include "worker/net/radio_network.hpp"
#include "worker/ns/init/report.hpp"
#include "worker/ns/io_loop.hpp"
#include "worker/ns/ns_group.hpp"
#include "worker/ns/ns_instance.hpp"
#include "worker/ns/ns_runtime.hpp"

namespace kuiga::worker::ns {

using Clock = std::chrono::steady_clock;
using sys::UniqueFd;

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
      if (spec.isolation == Isolation::Group) {
        if (auto no = joinGroup(inst); !no.empty()) {
          uids_.release(*uid);
          result.failed.emplace_back(spec.id, Error::msg(no));
          continue;
        }
      }
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
  // One port per isolated device on the radio network, and one per group that starts now.
  std::map<RunId, size_t> onRadio;
  std::set<Group*> groups;
  for (const auto& inst : fresh) {
    if (inst->spec.net == NetMode::None) continue;
    if (!inst->group) {
      ++onRadio[inst->spec.id.run];
    } else if (groups.insert(inst->group.get()).second) {
      std::lock_guard start(inst->group->startMu);
      if (!inst->group->startTried) ++onRadio[inst->spec.id.run];
    }
  }
  for (auto [run, ports] : onRadio)
    if (auto r = radio_->reserve(run, ports); !r)
      spdlog::warn("radio network: {}; leaves will be added as needed", r.error().message);
  std::mutex resultMu;
  size_t done = 0;
  parallelFor(fresh.size(), config_.threads, [&](size_t i) {
    Instance& inst = *fresh[i];
    auto r = inst.group ? memberProlog(inst) : prolog(inst);
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
  auto late = waitProgressing(ids, [](InstanceState s) {
    return s != InstanceState::Prolog && s != InstanceState::Pending;
  });
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

Result<pid_t> NsRuntime::startInit(const sys::SpawnOptions& so) {
  if (zygote_) return zygote_->spawn(so);
  auto child = sys::spawn(so);
  if (!child) return fail(child.error());
  // The pid stays ours (a zombie until finish() reaps it); its pidfd would cost an fd.
  const pid_t pid = child->pid();
  child->release();
  return pid;
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
  inst.reportFile = reportSlot(inst.uid);
  auto report = sys::openFile(inst.reportFile, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
  for (auto* r : {&outRead, &outRw, &conRw, &report})
    if (!*r) return fail(r->error());
  // The console carries lines in 64-byte writes (kConsoleChunk): a page of pipe is plenty, and
  // a ring of one slot is a 64-byte allocation instead of the default sixteen's 1 KiB.
  (void)::fcntl(conRw->get(), F_SETPIPE_SZ, 4096);

  // A cgroup of its own only for a memory or CPU limit, which need one; its pids limit is then
  // the cgroup's too, which counts the forks it refused. Without, the pids limit is
  // RLIMIT_NPROC of the AUT's uid, which no other live instance has: a pids cgroup costs 6 to
  // 14 KiB of kernel memory per instance and a mkdir and writes per create
  // (docs/performance.md).
  const Limits& lim = spec.limits;
  const bool ownCgroup = lim.memoryBytes > 0 || lim.cpuMilli > 0;
  if (ownCgroup) {
    auto cg = sys::cgroup::Cgroup::create(layout_, cgroupPath(spec.id),
                                          {lim.memoryBytes > 0, true, lim.cpuMilli > 0});
    if (!cg) return fail(cg.error());
    inst.cgroup.emplace(std::move(*cg));
    // The cgroup holds init too, which limits.pids does not count: one more for it, so that a
    // limit means the same number of the AUT's processes with a cgroup of its own or without.
    const uint64_t pidsMax = lim.pids ? lim.pids + 1 : 0;
    KUIGA_TRY(inst.cgroup->setLimits({lim.memoryBytes, pidsMax, lim.cpuMilli}), "cgroup");
  }

  // Cloned by the zygote, the init stands in the skeleton already: its app comes as a
  // detached mount and its filter as a descriptor, since it sees no host path. "--root" stays
  // in its command line, by which recovery knows it.
  sys::UniqueFd appTree;
  if (zygote_) {
    auto tree = sys::detachedTree(spec.appDir);
    if (!tree) return fail(tree.error().context("the AUT's directory"));
    appTree = std::move(*tree);
  }
  const bool filtered = spec.seccomp;
  sys::SpawnOptions so;
  so.path = config_.initPath;
  so.argv = {"kuiga-init",
             "--root",
             skeleton_,
             zygote_ ? "--app-fd" : "--app",
             zygote_ ? std::to_string(kInitAppFd) : spec.appDir,
             "--disk-size",
             fmt::format("{}m", spec.limits.diskMb),
             "--disk-inodes",
             std::to_string(diskInodes(spec.limits.diskMb)),
             "--hostname",
             hostname(spec.id),
             "--uid",
             std::to_string(inst.uid),
             zygote_ ? "--seccomp-fd" : "--seccomp",
             !filtered ? ""
             : zygote_ ? std::to_string(kInitSeccompFd)
                       : seccompPath(),
             "--gid",
             std::to_string(config_.gid),
             "--nproc",
             std::to_string(ownCgroup ? 0 : lim.pids),
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
  if (zygote_) {
    so.fds.emplace_back(appTree.get(), kInitAppFd);
    if (filtered) so.fds.emplace_back(seccompFd_.get(), kInitSeccompFd);
  }
  so.blockedSignals = {SIGUSR1, SIGTERM, SIGINT, SIGHUP};
  UniqueFd cgDir;
  if (layout_.version == sys::cgroup::Version::V2) {
    if (ownCgroup) {
      auto d = inst.cgroup->openDir();
      if (!d) return fail(d.error());
      cgDir = std::move(*d);
    }
    so.cgroupFd = ownCgroup ? cgDir.get() : sharedDir_.get();
  }
  auto pid = startInit(so);
  if (!pid) return fail(pid.error().context("start instance init"));
  {
    std::lock_guard lock(mu_);
    inst.pid = *pid;
    inst.ourChild = true;
  }
  if (layout_.version == sys::cgroup::Version::V1)
    KUIGA_TRY((ownCgroup ? *inst.cgroup : *shared_).addProcess(inst.pid), "cgroup");

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
  // Recovery's record goes into init's report file rather than a file of its own: a file takes
  // a page however small, once per instance. One write on an O_APPEND file lands whole between
  // init's records.
  const std::string record = std::string(kStateRecord) + " " + state.dump() + "\n";
  if (::write(report->get(), record.data(), record.size()) != static_cast<ssize_t>(record.size()))
    return failSys("write the instance's state to '" + inst.reportFile + "'");

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
  if (inst.group) {
    // Its group stays for the other devices (and goes with the last one at remove).
    bool added;
    {
      std::lock_guard lock(mu_);
      added = std::exchange(inst.registered, false);
    }
    if (added) (void)command(*inst.group, "forget", inst.spec.id.index);
    return;
  }
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
  (void)retireReport(inst.reportFile);
  (void)sys::removeTree(instanceDir(inst.spec.id));
  (void)sys::removeTree(workDir(inst.spec.id));
}

}  // namespace kuiga::worker::ns
