// The ns runtime's recovery: what a previous process of this worker left behind is re-adopted
// when it still runs, and reaped otherwise.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "sys/file.hpp"
#include "worker/net/radio_network.hpp"
#include "worker/ns/io_loop.hpp"
#include "worker/ns/ns_group.hpp"
#include "worker/ns/ns_instance.hpp"

namespace kuiga::worker::ns {

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
      const bool ourGroup = std::any_of(groups_.begin(), groups_.end(),
                                        [&](const auto& g) { return g.second->name == name; });
      if ((id && instances_.count(*id)) || ourGroup) {
        kept.insert(name);
        continue;  // ours already
      }
    }
    // A group an earlier process of this worker left (isolation: group) is not re-adopted
    // yet: it is reaped below, and its devices' logs stay. Without an instance id, it is.
    nlohmann::json state;
    bool alive = false;
    std::ifstream f(dir + "/" + kReportFile);
    const std::string prefix = std::string(kStateRecord) + " ";
    for (std::string line; id && std::getline(f, line);) {
      if (line.rfind(prefix, 0) != 0) continue;
      state = nlohmann::json::parse(line.substr(prefix.size()), nullptr, false);
      if (!state.is_discarded() && state.contains("pid")) {
        pid_t pid = state.value("pid", -1);
        auto st = sys::processStartTime(pid);
        alive = pid > 0 && st && *st == state.value("start_time", 0ull);
      }
      break;
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
  inst->dir = dir;
  inst->pid = state.value("pid", -1);
  inst->startTime = state.value("start_time", 0ull);
  inst->ourChild = false;
  // Records from before uids were pooled have none: those ran as uidBase + index.
  inst->uid = state.value("uid", config_.uidBase + id.index);
  inst->uidPooled = uids_.claim(inst->uid);
  if (!inst->uidPooled)
    spdlog::warn(
        "{}: re-adopted with uid {}, which another re-adopted instance has too (it "
        "was made before each instance had a uid of its own)",
        displayName(id), inst->uid);
  auto out = sys::openFile(dir + "/" + kOutputFifo, O_RDONLY | O_NONBLOCK);
  if (!out) return fail(out.error());
  inst->output = std::move(*out);
  inst->cgroup.emplace(sys::cgroup::Cgroup::open(layout_, cgroupPath(id)));
  inst->onRadio = inst->spec.net != NetMode::None;
  inst->log = std::make_unique<LogWriter>(logPath(id), config_.logMaxBytes);
  {
    std::lock_guard lock(mu_);
    inst->serial = nextSerial_++;
    inst->state = InstanceState::Prolog;
    instances_[id] = inst;
    bySerial_[inst->serial] = inst;
  }
  // Replaying init's report from its start restores the state: ready, then started.
  readReport(*inst);
  spdlog::info("{}: re-adopted after a worker restart, {}", displayName(id), toString(inst->state));
  if (auto r = io_->add(inst->output.get(), inst->serial); !r) {
    std::lock_guard lock(mu_);
    instances_.erase(id);
    bySerial_.erase(inst->serial);
    return fail(r.error());
  }
  std::lock_guard lock(mu_);
  inst->registered = true;
  prologWaiting_.insert(inst->serial);
  return {};
}

}  // namespace kuiga::worker::ns
