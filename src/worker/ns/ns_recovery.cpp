// The ns runtime's recovery: what a previous process of this worker left behind is re-adopted
// when it still runs, and reaped otherwise.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <span>

#include <nlohmann/json.hpp>

#include "sys/file.hpp"
#include "worker/net/radio_network.hpp"
#include "worker/ns/io_loop.hpp"
#include "worker/ns/ns_group.hpp"
#include "worker/ns/ns_instance.hpp"

namespace kuiga::worker::ns {

namespace {

// The text of the first state record of a report file, or "" when it has none.
std::string stateRecordText(const std::string& path) {
  std::ifstream f(path);
  const std::string prefix = std::string(kStateRecord) + " ";
  for (std::string line; std::getline(f, line);)
    if (line.starts_with(prefix)) return line.substr(prefix.size());
  return {};
}

// A state record's text parsed, or a discarded value.
nlohmann::json parseStateRecord(const std::string& text) {
  return nlohmann::json::parse(text, nullptr, false);
}

nlohmann::json stateRecordOf(const std::string& path) {
  return parseStateRecord(stateRecordText(path));
}

bool initAlive(const nlohmann::json& state) {
  if (state.is_discarded() || !state.contains("pid")) return false;
  const pid_t pid = state.value("pid", -1);
  auto st = sys::processStartTime(pid);
  return pid > 0 && st && *st == state.value("start_time", 0ull);
}

}  // namespace

Result<RecoveryReport> NsRuntime::recover() {
  RecoveryReport report;
  const std::string base = config_.runDir + "/instances";
  std::vector<std::string> dirs;
  if (DIR* d = ::opendir(base.c_str())) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.') dirs.emplace_back(e->d_name);
    ::closedir(d);
  }
  std::set<std::string> kept, reportsDone;
  const auto slots = reportSlots();
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, inst] : instances_) reportsDone.insert(inst->reportFile);  // ours
  }
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
    // A group an earlier process of this worker left (isolation: group), re-adopted with its
    // devices while its init runs. Otherwise it is reaped below, and its devices' logs stay.
    if (!id && isGroupName(name)) {
      auto devices = recoverGroup(name, dir);
      if (devices) {
        report.adopted += *devices;
        kept.insert(name);
        continue;
      }
      report.notes.push_back(name + ": not re-adopted: " + devices.error().message);
    }
    // In its uid's slot on the state disk; by its name there, or in the instance's directory,
    // for an instance of a worker from before.
    // A slot's record was read when the slots were listed; it is not read again.
    std::string reportFile;
    nlohmann::json state;
    if (auto slot = id ? slots.byInstance.find(*id) : slots.byInstance.end();
        slot != slots.byInstance.end()) {
      reportFile = slot->second.path;
      state = parseStateRecord(slot->second.record);
    } else if (id) {
      reportFile =
          sys::exists(legacyReportPath(*id)) ? legacyReportPath(*id) : dir + "/" + kReportFile;
      state = stateRecordOf(reportFile);
    }
    if (id && initAlive(state)) {
      auto r = adopt(*id, state, dir, reportFile);
      if (r) {
        ++report.adopted;
        kept.insert(name);
        reportsDone.insert(reportFile);
        continue;
      }
      report.notes.push_back(name + ": cannot adopt: " + r.error().message);
    }
    // Gone, half-made or unadoptable: tear down whatever is left (an init without a cgroup of
    // its own is killed below, by its command line).
    auto cg = sys::cgroup::Cgroup::open(layout_, cgroupParent_ + "/" + name);
    (void)cg.killAll();
    (void)cg.destroy();
    if (id) (void)radio_->detach(*id);
    (void)sys::removeTree(dir);
    if (id) (void)sys::removeTree(workDir(*id));
    if (!reportFile.starts_with(dir)) (void)retireReport(reportFile);
    reportsDone.insert(reportFile);
    ++report.reaped;
  }
  // Reports and work directories of instances that are gone (after a reboot, /run is empty;
  // the disk is not). A slot is emptied and stays for the next instance with its uid.
  for (const auto& path : slots.filled)
    if (!reportsDone.count(path) && retireReport(path)) ++report.reaped;
  for (const std::string sub : {"/reports/", "/work/"}) {
    const bool reports = sub == "/reports/";
    std::vector<std::string> stale;
    if (DIR* d = ::opendir((config_.stateDir + sub).c_str())) {
      while (auto* e = ::readdir(d))
        if (e->d_name[0] != '.' && !(reports && e->d_name[0] == 'u') && !kept.count(e->d_name))
          stale.emplace_back(e->d_name);
      ::closedir(d);
    }
    for (const auto& name : stale)
      if (sys::removeTree(config_.stateDir + sub + name)) ++report.reaped;
  }
  // Inits of instances gone or half-made, which no cgroup of their own may hold (most have
  // none; on v1 an init joins its group only after clone): they name our skeleton.
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
      if (kept.count(g) || g == kSharedCgroup) continue;
      auto cg = sys::cgroup::Cgroup::open(layout_, cgroupParent_ + "/" + g);
      (void)cg.killAll();
      if (cg.destroy()) ++report.reaped;
    }
  }
  if (auto links = radio_->instanceLinks()) {
    std::set<std::string> keptLinks;
    for (const auto& k : kept)
      if (auto id = parseSlug(k)) keptLinks.insert(radioLinkName(*id));
    {
      std::lock_guard lock(mu_);
      for (const auto& [key, g] : groups_)
        if (g->onRadio) keptLinks.insert(radioLinkName(groupAddressHolder(*g)));
    }
    for (const auto& l : *links) {
      if (keptLinks.count(l)) continue;
      unsigned run = 0, index = 0;
      if (std::sscanf(l.c_str(), "kv%x.%x", &run, &index) == 2 && radio_->detach({run, index}))
        ++report.reaped;
    }
  }
  return report;
}

NsRuntime::ReportSlots NsRuntime::reportSlots() const {
  ReportSlots slots;
  const std::string base = config_.stateDir + "/reports/";
  std::vector<std::string> names;
  if (DIR* d = ::opendir(base.c_str())) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] == 'u') names.emplace_back(e->d_name);
    ::closedir(d);
  }
  for (const auto& name : names) {
    const std::string path = base + name;
    if (struct stat st{}; ::stat(path.c_str(), &st) < 0 || st.st_size == 0) continue;
    slots.filled.push_back(path);
    std::string record = stateRecordText(path);
    auto state = parseStateRecord(record);
    if (state.is_discarded() || !state.contains("run") || !state.contains("index")) continue;
    const InstanceId id{state.value("run", 0u), state.value("index", 0u)};
    auto [it, fresh] = slots.byInstance.emplace(id, ReportSlot{path, record});
    if (!fresh && !initAlive(parseStateRecord(it->second.record)) && initAlive(state))
      it->second = ReportSlot{path, std::move(record)};
  }
  return slots;
}

VoidResult NsRuntime::adopt(InstanceId id, const nlohmann::json& state, const std::string& dir,
                            const std::string& reportFile) {
  auto inst = std::make_shared<Instance>();
  inst->spec.id = id;
  inst->spec.appDir = state.value("app_dir", "");
  inst->spec.executable = state.value("executable", "");
  inst->spec.net = parseNetMode(state.value("net", "veth")).value_or(NetMode::Veth);
  inst->dir = dir;
  inst->reportFile = reportFile;
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
  // Only an instance with a memory or CPU limit has a cgroup of its own (prolog()).
  if (auto cg = sys::cgroup::Cgroup::open(layout_, cgroupPath(id)); cg.exists())
    inst->cgroup.emplace(std::move(cg));
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

namespace kuiga::worker::ns {

Result<size_t> NsRuntime::recoverGroup(const std::string& name, const std::string& dir) {
  auto text = sys::readFile(dir + "/" + kReportFile);
  if (!text) return fail(text.error());
  std::vector<std::string_view> lines;
  for (size_t pos = 0, nl; (nl = text->find('\n', pos)) != std::string::npos; pos = nl + 1)
    lines.emplace_back(text->data() + pos, nl - pos);  // a last line cut short is left out
  const std::string statePrefix = std::string(kStateRecord) + " ";
  nlohmann::json state;
  for (auto line : lines)
    if (line.starts_with(statePrefix)) {
      state = nlohmann::json::parse(line.substr(statePrefix.size()), nullptr, false);
      break;
    }
  if (!state.is_object()) return failMsg("its report file has no state record");
  auto g = std::make_shared<Group>();
  try {
    g->pid = state.at("pid").get<pid_t>();
    auto started = sys::processStartTime(g->pid);
    if (g->pid <= 0 || !started || *started != state.at("start_time").get<uint64_t>())
      return failMsg("its init " + std::to_string(g->pid) + " has ended");
    g->run = state.at("run").get<RunId>();
    g->number = state.at("number").get<uint32_t>();
    g->size = state.at("size").get<uint32_t>();
    g->spec.appDir = state.at("app_dir").get<std::string>();
    g->spec.seccomp = state.at("seccomp").get<bool>();
    g->spec.limits = {state.at("memory_bytes").get<uint64_t>(), state.at("pids").get<uint64_t>(),
                      state.at("cpu_milli").get<uint32_t>(), state.at("disk_mb").get<uint32_t>()};
  } catch (const nlohmann::json::exception& e) {
    return failMsg(std::string("its state record is not this worker's: ") + e.what());
  }
  g->spec.isolation = Isolation::Group;
  g->spec.groupSize = g->size;
  g->spec.net = parseNetMode(state.value("net", "none")).value_or(NetMode::None);
  g->onRadio = g->spec.net != NetMode::None;
  g->name = name;
  g->dir = dir;
  g->startTried = true;  // devices created from now on join it as it is
  g->cgroup.emplace(sys::cgroup::Cgroup::open(layout_, cgroupParent_ + "/" + name));
  auto output = sys::openFile(dir + "/" + kOutputFifo, O_RDONLY | O_NONBLOCK);
  auto control = sys::openFile(dir + "/" + kControlFifo, O_RDWR | O_NONBLOCK);
  auto reportFd = sys::openFile(dir + "/" + kReportFile, O_WRONLY | O_APPEND);
  for (auto* f : {&output, &control, &reportFd})
    if (!*f) return fail(f->error());
  g->output = std::move(*output);
  g->control = std::move(*control);
  g->report = std::move(*reportFd);
  g->resync = true;
  replayGroup(g, lines);
  std::lock_guard lock(mu_);
  if (g->members.empty()) return failMsg("it holds no device");
  g->serial = nextSerial_++;
  groups_[{g->run, g->number}] = g;
  groupsBySerial_[g->serial] = g;
  for (auto& [index, inst] : g->members) {
    inst->serial = nextSerial_++;
    instances_[inst->spec.id] = inst;
    bySerial_[inst->serial] = inst;
  }
  // Output and records the init wrote while no worker read: the FIFO kept them.
  if (auto r = io_->add(g->output.get(), g->serial | kGroupKey); !r) {
    for (auto& [index, inst] : g->members) {
      instances_.erase(inst->spec.id);
      bySerial_.erase(inst->serial);
      if (inst->uidPooled) uids_.release(inst->uid);
    }
    groups_.erase({g->run, g->number});
    groupsBySerial_.erase(g->serial);
    return fail(r.error());
  }
  spdlog::info("group {}: re-adopted after a worker restart, with {} devices", name,
               g->members.size());
  return g->members.size();
}

void NsRuntime::replayGroup(const std::shared_ptr<Group>& group,
                            std::span<const std::string_view> lines) {
  Group& g = *group;
  // In file order: the worker's "member" before the init's "added", and "left" after the last
  // record of a device that went. The init's records set each device's state as they did.
  const std::string member = std::string(kMemberRecord) + " ",
                    left = std::string(kLeftRecord) + " ";
  auto drop = [&](uint32_t index) {
    auto it = g.members.find(index);
    if (it == g.members.end()) return;
    if (it->second->uidPooled) uids_.release(it->second->uid);
    g.members.erase(it);
  };
  for (auto line : lines) {
    if (line.starts_with(left)) {
      drop(static_cast<uint32_t>(
          std::strtoul(std::string(line.substr(left.size())).c_str(), nullptr, 10)));
    } else if (line.starts_with(member)) {
      auto m = nlohmann::json::parse(line.substr(member.size()), nullptr, false);
      if (!m.is_object() || !m.contains("index") || !m.contains("uid")) continue;
      auto inst = std::make_shared<Instance>();
      inst->spec = g.spec;
      inst->spec.id = {g.run, m.value("index", 0u)};
      inst->spec.executable = m.value("executable", "");
      inst->uid = m.value("uid", 0u);
      inst->uidPooled = uids_.claim(inst->uid);
      inst->pid = g.pid;
      inst->ourChild = false;
      inst->state = InstanceState::Prolog;
      inst->registered = true;
      inst->log = std::make_unique<LogWriter>(logPath(inst->spec.id), config_.logMaxBytes);
      drop(inst->spec.id.index);
      inst->group = group;
      g.members[inst->spec.id.index] = std::move(inst);
    } else {
      applyGroupRecord(g, line);
    }
  }
}

}  // namespace kuiga::worker::ns
