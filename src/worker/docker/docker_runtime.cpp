#include "worker/docker/docker_runtime.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/parallel.hpp"
#include "sys/fd.hpp"
#include "sys/file.hpp"
#include "sys/netns.hpp"
#include "worker/docker/follower.hpp"
#include "worker/docker/image_builder.hpp"
#include "worker/log_writer.hpp"
#include "worker/net/instance_network.hpp"
#include "worker/net/radio_network.hpp"

namespace kuiga::worker::docker {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct DockerRuntime::Instance {
  InstanceSpec spec;
  std::string container;  // the engine's id, once created
  // Guarded by the runtime's mutex.
  InstanceState state = InstanceState::Pending;
  std::string reason;
  std::vector<InstanceEvent> history;
  bool stopRequested = false;
  bool oom = false;
  bool onRadio = false;
  bool following = false;
  bool outputDone = false;                         // the engine ended its log stream
  std::optional<std::pair<int, bool>> pendingEnd;  // exit code and OOM, waiting for the output
  pid_t pid = -1;  // Docker's init in the container, as the host sees it
  uid_t uid = 0;   // the AUT's, from the runtime's pool (label kuiga.uid)
  bool uidPooled = false;
  // The console's attach to stdin, opened at the first line, and when the next line may go.
  std::mutex consoleMu;
  sys::UniqueFd console;
  Clock::time_point consoleNext{};
  // Written by the follower's thread.
  std::shared_ptr<std::mutex> lastLineMu = std::make_shared<std::mutex>();
  std::shared_ptr<std::string> lastLine = std::make_shared<std::string>();
};

namespace {

constexpr const char* kGatePath = "/kuiga/gate";

std::string readText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The gate is Docker's init's child. It is safe to signal once SIGUSR1 is blocked in it, or
// once it waits in sigwait (rt_sigtimedwait), which takes the waited signals out of the
// blocked mask that /proc shows while it waits.
pid_t waitingGate(pid_t init) {
  std::string children = readText(fmt::format("/proc/{}/task/{}/children", init, init));
  pid_t gate = 0;
  if (std::sscanf(children.c_str(), "%d", &gate) != 1) return 0;
  if (readText(fmt::format("/proc/{}/comm", gate)) != "gate\n") return 0;
  std::string status = readText(fmt::format("/proc/{}/status", gate));
  auto at = status.find("SigBlk:");
  if (at == std::string::npos) return 0;
  unsigned long long mask = std::strtoull(status.c_str() + at + 7, nullptr, 16);
  if ((mask >> (SIGUSR1 - 1)) & 1) return gate;
  long nr = -1;
  std::sscanf(readText(fmt::format("/proc/{}/syscall", gate)).c_str(), "%ld", &nr);
  return nr == SYS_rt_sigtimedwait ? gate : 0;
}

// Resource limits set, not inherited: Podman asks for more open files and processes than a
// machine whose hard limits are lower allows (this one's: 20,000 files; Podman's service runs
// with 32,768 processes), and the container then fails to start. 4,096 of each is far more
// than a device needs; its pids limit stays the cgroup's.
json ulimits() {
  json out = json::array();
  for (auto [name, resource, cap] : {std::tuple{"nofile", RLIMIT_NOFILE, rlim_t{4096}},
                                     std::tuple{"nproc", RLIMIT_NPROC, rlim_t{4096}}}) {
    rlimit lim{};
    if (::getrlimit(resource, &lim) != 0) continue;
    rlim_t v = std::min(lim.rlim_max, cap);
    if (v == RLIM_INFINITY) continue;
    out.push_back({{"Name", name}, {"Soft", v}, {"Hard", v}});
  }
  return out;
}

std::string describeExit(int code, bool oom, uint64_t memoryBytes, const std::string& lastLine) {
  std::string why;
  if (oom)
    why = fmt::format("killed for exceeding its memory limit ({} MiB)", memoryBytes >> 20);
  else if (code > 128 && code < 128 + 65)
    why = fmt::format("killed by signal {} ({})", code - 128, strsignal(code - 128));
  else if (code == 127)
    why = "could not be started (exit code 127)";
  else
    why = fmt::format("exited with code {}", code);
  if (!lastLine.empty()) why += "; its last line: \"" + lastLine + "\"";
  return why;
}

}  // namespace

DockerRuntime::DockerRuntime(DockerRuntimeConfig config, EventSink sink, Engine engine)
    : config_(std::move(config)),
      sink_(std::move(sink)),
      engine_(std::move(engine)),
      uids_(config_.uidBase, config_.uidCount) {}

DockerRuntime::~DockerRuntime() {
  follower_.reset();
}

Result<std::unique_ptr<DockerRuntime>> DockerRuntime::open(DockerRuntimeConfig config,
                                                           EventSink sink) {
  if (config.stateDir.empty()) return failMsg("docker runtime: no state directory");
  if (config.gatePath.empty() || ::access(config.gatePath.c_str(), X_OK) < 0)
    return failMsg("docker runtime: kuiga-gate not found at '" + config.gatePath + "'");
  if (config.threads == 0) config.threads = 8;
  for (const char* sub : {"", "/logs", "/build"})
    KUIGA_TRY(sys::makeDirs(config.stateDir + sub, 0700), "docker runtime state directory");
  auto engine = Engine::connect(config.socket);
  if (!engine) return fail(engine.error().context("docker runtime"));
  spdlog::info("docker runtime: {} {} (API {}) at {}", engine->engineName(),
               engine->engineVersion(), engine->apiVersion(), config.socket);
  std::unique_ptr<DockerRuntime> rt(
      new DockerRuntime(std::move(config), std::move(sink), std::move(*engine)));
  auto radio = net::RadioNetwork::open(rt->config_.stateDir + "/radio.netns");
  if (!radio) return fail(radio.error().context("docker runtime"));
  rt->radio_ = std::move(*radio);
  // No "event" filter: Podman answers a list of them with no events at all.
  json filters = {{"type", {"container"}}, {"label", {"kuiga.worker=" + rt->config_.name}}};
  rt->follower_ = std::make_unique<Follower>(
      rt->engine_, "/events?filters=" + queryEscape(filters.dump()),
      [r = rt.get()](const json& ev) { r->onEngineEvent(ev); },
      [r = rt.get()] {
        r->endOverdue();
        r->flushEvents();
      });
  return rt;
}

std::string DockerRuntime::containerName(InstanceId id) const {
  return "kuiga-" + config_.name + "-" + slug(id);
}

std::string DockerRuntime::logPath(InstanceId id) const {
  return config_.stateDir + "/logs/" + slug(id) + ".log";
}

int DockerRuntime::radioNetnsFd() const {
  return radio_->netnsFd();
}

Result<std::vector<std::string>> DockerRuntime::radioLinks() const {
  return radio_->instanceLinks();
}

std::shared_ptr<DockerRuntime::Instance> DockerRuntime::find(InstanceId id) const {
  std::lock_guard lock(mu_);
  auto it = instances_.find(id);
  return it == instances_.end() ? nullptr : it->second;
}

void DockerRuntime::transition(Instance& inst, InstanceState to, std::string reason) {
  if (inst.state == to || isFinal(inst.state)) return;
  inst.state = to;
  inst.reason = reason;
  InstanceEvent ev{inst.spec.id, to, realtimeNs(), std::move(reason)};
  inst.history.push_back(ev);
  pendingEvents_.push_back(std::move(ev));
}

std::function<void()> DockerRuntime::outputEnded(InstanceId id) {
  return [this, id] {
    auto inst = find(id);
    if (!inst) return;
    std::optional<std::pair<int, bool>> end;
    {
      std::lock_guard lock(mu_);
      inst->outputDone = true;
      end = std::exchange(inst->pendingEnd, std::nullopt);
      endWaiting_.erase(id);
    }
    if (end) ended(*inst, end->first, end->second);
  };
}

void DockerRuntime::endOverdue() {
  std::vector<std::pair<std::shared_ptr<Instance>, std::pair<int, bool>>> due;
  {
    std::lock_guard lock(mu_);
    auto now = Clock::now();
    for (auto it = endWaiting_.begin(); it != endWaiting_.end();) {
      auto inst = instances_.find(it->first);
      if (it->second > now && inst != instances_.end()) {
        ++it;
        continue;
      }
      if (inst != instances_.end() && inst->second->pendingEnd)
        due.emplace_back(inst->second, *std::exchange(inst->second->pendingEnd, std::nullopt));
      it = endWaiting_.erase(it);
    }
  }
  for (auto& [inst, end] : due) ended(*inst, end.first, end.second);
}

void DockerRuntime::flushEvents() {
  std::lock_guard sinkLock(sinkMu_);
  std::vector<InstanceEvent> out;
  {
    std::lock_guard lock(mu_);
    out.swap(pendingEvents_);
  }
  if (!out.empty() && sink_) sink_(out);
}

void DockerRuntime::ended(Instance& inst, int exitCode, bool oomKilled) {
  std::string last;
  {
    std::lock_guard l(*inst.lastLineMu);
    last = *inst.lastLine;
  }
  std::lock_guard lock(mu_);
  if (isFinal(inst.state)) return;
  if (inst.onRadio) radio_->released(inst.spec.id), inst.onRadio = false;
  bool oom = oomKilled || inst.oom;
  if (inst.stopRequested && !oom)
    transition(inst, InstanceState::Terminated, fmt::format("stopped (exit code {})", exitCode));
  else if (exitCode == 0 && !oom)
    transition(inst, InstanceState::Terminated, "exited with code 0");
  else
    transition(inst, InstanceState::Failed,
               describeExit(exitCode, oom, inst.spec.limits.memoryBytes, last));
}

void DockerRuntime::onEngineEvent(const json& ev) {
  const json attrs =
      ev.contains("Actor") ? ev["Actor"].value("Attributes", json::object()) : json::object();
  unsigned run = 0, index = 0;
  if (std::sscanf(attrs.value("kuiga.run", "").c_str(), "%u", &run) != 1 ||
      std::sscanf(attrs.value("kuiga.index", "").c_str(), "%u", &index) != 1)
    return;
  auto inst = find(InstanceId{run, index});
  if (!inst || inst->container.empty() || ev["Actor"].value("ID", "") != inst->container) return;
  std::string action = ev.value("Action", ev.value("status", ""));
  if (action == "oom") {
    std::lock_guard lock(mu_);
    inst->oom = true;
  } else if (action == "die") {
    int code = std::atoi(attrs.value("exitCode", attrs.value("containerExitCode", "0")).c_str());
    // A container that dies during its prolog is the prolog's to report.
    {
      std::lock_guard lock(mu_);
      if (inst->state == InstanceState::Prolog || inst->state == InstanceState::Pending) return;
    }
    // Killed by SIGKILL: ask whether it was the memory limit (not every engine sends "oom").
    bool oom = false;
    if (code == 128 + SIGKILL)
      if (auto info = engine_.call("GET", "/containers/" + inst->container + "/json", {}, 10);
          info && info->status == 200)
        oom = info->json()["State"].value("OOMKilled", false);
    // The final state waits for the last of the output (the log stream may trail the event),
    // so that the log is whole and the reason quotes the real last line; at most 2 s.
    {
      std::lock_guard lock(mu_);
      if (inst->following && !inst->outputDone) {
        inst->pendingEnd = std::pair{code, oom};
        endWaiting_[inst->spec.id] = Clock::now() + std::chrono::seconds(2);
        return;
      }
    }
    ended(*inst, code, oom);
  }
}

// ---- create ----

BulkResult DockerRuntime::create(std::span<const InstanceSpec> specs, const Progress& progress) {
  BulkResult result;
  std::vector<std::shared_ptr<Instance>> fresh;
  {
    std::lock_guard lock(mu_);
    for (const auto& spec : specs) {
      std::string why;
      if (instances_.count(spec.id))
        why = "instance already exists";
      else if (spec.isolation == Isolation::Group)
        why = "isolation group needs the ns runtime: a container is an isolated instance";
      else if (spec.executable.empty() || spec.executable.find('/') != std::string::npos)
        why = "executable must be a file name inside the app directory";
      else if (!sys::exists(spec.appDir + "/" + spec.executable))
        why = "no such file: " + spec.appDir + "/" + spec.executable;
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
      InstanceEvent ev{spec.id, InstanceState::Pending, realtimeNs(), {}};
      inst->history.push_back(ev);
      pendingEvents_.push_back(ev);
      instances_[spec.id] = inst;
      fresh.push_back(inst);
    }
  }
  // One image per AUT, built before any container.
  std::map<std::string, Result<BuiltImage>> images;
  for (const auto& inst : fresh) {
    std::string key = inst->spec.appDir + "/" + inst->spec.executable;
    if (!images.count(key))
      images.emplace(key, ensureImage(engine_, inst->spec.appDir, inst->spec.executable,
                                      config_.gatePath, config_.stateDir + "/build"));
  }
  std::mutex resultMu;
  size_t done = 0;
  parallelFor(fresh.size(), config_.threads, [&](size_t i) {
    Instance& inst = *fresh[i];
    auto& image = images.at(inst.spec.appDir + "/" + inst.spec.executable);
    VoidResult r =
        image ? prolog(inst, image->tag) : VoidResult(fail(image.error().context("docker image")));
    if (!r) discard(inst);
    std::lock_guard lock(resultMu);
    if (r) {
      ++result.ok;
    } else {
      std::lock_guard l2(mu_);
      transition(inst, InstanceState::Failed, r.error().message);
      result.failed.emplace_back(inst.spec.id, r.error());
    }
    if (progress) progress(++done, fresh.size());
  });
  flushEvents();
  return result;
}

VoidResult DockerRuntime::prolog(Instance& inst, const std::string& image) {
  const InstanceSpec& spec = inst.spec;
  {
    std::lock_guard lock(mu_);
    transition(inst, InstanceState::Prolog);
  }
  const uid_t uid = inst.uid;
  json cmd = json::array({"/app/" + spec.executable});
  for (const auto& a : spec.args) cmd.push_back(a);
  json env = json::array({"HOME=/work", "LANG=C.UTF-8", "KUIGA_RUN=" + std::to_string(spec.id.run),
                          "KUIGA_INDEX=" + std::to_string(spec.id.index),
                          "KUIGA_INSTANCE=" + displayName(spec.id)});
  for (const auto& e : spec.env) env.push_back(e);
  // Podman (4.3) refuses tmpfs's nr_inodes: its containers' files are capped in bytes only.
  const bool podman = engine_.engineName().find("Podman") != std::string::npos;
  const std::string disk = podman ? fmt::format("size={}m", spec.limits.diskMb)
                                  : fmt::format("size={}m,nr_inodes={}", spec.limits.diskMb,
                                                diskInodes(spec.limits.diskMb));
  json host = {
      {"NetworkMode", "none"},
      {"Init", true},  // Docker's init as PID 1: it forwards signals and reaps orphans
      {"ReadonlyRootfs", true},
      // Each capped like an ns instance's one tmpfs (Docker mounts one per path).
      {"Tmpfs",
       {{"/tmp", disk + ",mode=1777"},
        {"/work", disk + ",mode=1777"},
        {"/run", disk + ",mode=1777"}}},
      {"CapDrop", {"ALL"}},
      {"Ulimits", ulimits()},
      // The engine's default seccomp profile applies, unless the run asks for none.
      {"SecurityOpt", spec.seccomp ? json::array({"no-new-privileges"})
                                   : json::array({"no-new-privileges", "seccomp=unconfined"})},
      // Docker turns IPv6 off in a container without a network of its own; devices have
      // IPv6 addresses on the radio network.
      {"Sysctls",
       {{"net.ipv6.conf.all.disable_ipv6", "0"}, {"net.ipv6.conf.default.disable_ipv6", "0"}}},
      {"LogConfig",
       {{"Type", "json-file"},
        {"Config", {{"max-size", fmt::format("{}", config_.logMaxBytes)}, {"max-file", "2"}}}}},
  };
  if (spec.limits.memoryBytes) host["Memory"] = spec.limits.memoryBytes;
  // The container holds Docker's init too, which limits.pids does not count.
  if (spec.limits.pids) host["PidsLimit"] = spec.limits.pids + 1;
  if (spec.limits.cpuMilli) host["NanoCpus"] = uint64_t{spec.limits.cpuMilli} * 1000000;
  if (spec.net == NetMode::Tap || spec.net == NetMode::Tun)
    host["Devices"] = {{{"PathOnHost", "/dev/net/tun"},
                        {"PathInContainer", "/dev/net/tun"},
                        {"CgroupPermissions", "rwm"}}};
  json body = {{"Image", image},
               {"Entrypoint", {kGatePath}},
               {"Cmd", cmd},
               {"Env", env},
               {"Hostname", hostname(spec.id)},
               {"User", fmt::format("{}:{}", uid, config_.gid)},
               {"WorkingDir", "/work"},
               {"OpenStdin", true},
               {"StdinOnce", false},
               {"Labels",
                {{"kuiga.worker", config_.name},
                 {"kuiga.run", std::to_string(spec.id.run)},
                 {"kuiga.index", std::to_string(spec.id.index)},
                 {"kuiga.uid", std::to_string(uid)},
                 {"kuiga.net", std::string(toString(spec.net))}}},
               {"HostConfig", host}};
  const std::string name = containerName(spec.id);
  auto created = engine_.call("POST", "/containers/create?name=" + queryEscape(name), body);
  if (!created) return fail(created.error());
  if (created->status == 409) {
    // A leftover of an earlier life under this name: it is not ours to keep.
    (void)engine_.call("DELETE", "/containers/" + queryEscape(name) + "?force=1");
    created = engine_.call("POST", "/containers/create?name=" + queryEscape(name), body);
    if (!created) return fail(created.error());
  }
  if (created->status != 201) return fail(engineError("create container " + name, *created));
  {
    std::lock_guard lock(mu_);
    inst.container = created->json().value("Id", "");
  }
  auto started = engine_.call("POST", "/containers/" + inst.container + "/start");
  if (!started) return fail(started.error());
  if (started->status != 204 && started->status != 304)
    return fail(engineError("start container " + name, *started));
  auto info = engine_.call("GET", "/containers/" + inst.container + "/json");
  if (!info) return fail(info.error());
  if (info->status != 200) return fail(engineError("inspect container " + name, *info));
  pid_t pid = info->json()["State"].value("Pid", 0);
  if (pid <= 0) return failMsg("container " + name + " ended at once: " + info->body);
  {
    std::lock_guard lock(mu_);
    inst.pid = pid;
  }
  // The AUT must find its network ready: wire the namespace while the gate holds it back.
  auto deadline = Clock::now() + config_.readyTimeout;
  while (!waitingGate(pid)) {
    if (::kill(pid, 0) != 0) return failMsg("container " + name + " ended before it was ready");
    if (Clock::now() > deadline) return failMsg("container " + name + " did not become ready");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (spec.net == NetMode::Tap || spec.net == NetMode::Tun) {
    // The engine copies the host node's mode, 0600 on hosts without udev's rule; the
    // unprivileged AUT must open it as RIOT native does. Only this container's /dev changes.
    std::string tun = fmt::format("/proc/{}/root/dev/net/tun", pid);
    if (::chmod(tun.c_str(), 0666) != 0) return failSys("chmod " + tun);
  }
  auto netns = sys::netns::ofPid(pid);
  if (!netns) return fail(netns.error());
  if (spec.net != NetMode::None) {
    KUIGA_TRY(radio_->attach(spec.id, netns->get(), spec.net == NetMode::Tap), "network");
    std::lock_guard lock(mu_);
    inst.onRadio = true;
  }
  KUIGA_TRY(net::configureInstanceNetwork(netns->get(), spec.id, spec.net, uid, config_.gid),
            "network");
  follower_->follow(slug(spec.id), inst.container,
                    std::make_unique<LogWriter>(logPath(spec.id), config_.logMaxBytes),
                    inst.lastLineMu, inst.lastLine, 0, outputEnded(spec.id));
  std::lock_guard lock(mu_);
  inst.following = true;
  transition(inst, InstanceState::Booting);
  return {};
}

void DockerRuntime::discard(Instance& inst) {
  std::string container;
  {
    std::lock_guard lock(mu_);
    container = inst.container;
    if (inst.onRadio) radio_->released(inst.spec.id), inst.onRadio = false;
  }
  if (inst.following && follower_) follower_->unfollow(slug(inst.spec.id));
  if (!container.empty()) (void)engine_.call("DELETE", "/containers/" + container + "?force=1");
}

// ---- start, stop, remove ----

BulkResult DockerRuntime::forEach(std::span<const InstanceId> ids, const Progress& progress,
                                  const std::function<VoidResult(InstanceId)>& op) {
  BulkResult result;
  std::mutex resultMu;
  size_t done = 0;
  parallelFor(ids.size(), config_.threads, [&](size_t i) {
    auto r = op(ids[i]);
    std::lock_guard lock(resultMu);
    if (r)
      ++result.ok;
    else
      result.failed.emplace_back(ids[i], r.error());
    if (progress) progress(++done, ids.size());
  });
  flushEvents();
  return result;
}

BulkResult DockerRuntime::start(std::span<const InstanceId> ids, const Progress& progress) {
  return forEach(ids, progress, [this](InstanceId id) -> VoidResult {
    auto inst = find(id);
    if (!inst) return failMsg("no such instance");
    std::string container;
    {
      std::lock_guard lock(mu_);
      if (inst->state == InstanceState::Running) return {};
      if (inst->state != InstanceState::Booting)
        return failMsg(fmt::format("instance is {}, not booting", toString(inst->state)));
      container = inst->container;
    }
    auto k = engine_.call("POST", "/containers/" + container + "/kill?signal=SIGUSR1");
    if (!k) return fail(k.error());
    if (k->status != 204) return fail(engineError("start the AUT", *k));
    std::lock_guard lock(mu_);
    transition(*inst, InstanceState::Running);
    return {};
  });
}

BulkResult DockerRuntime::stop(std::span<const InstanceId> ids, std::chrono::milliseconds grace,
                               const Progress& progress) {
  // Docker's grace is in whole seconds: round up, never below what was asked.
  long seconds = static_cast<long>((grace.count() + 999) / 1000);
  return forEach(ids, progress, [this, seconds](InstanceId id) -> VoidResult {
    auto inst = find(id);
    if (!inst) return {};  // stop is idempotent
    std::string container;
    {
      std::lock_guard lock(mu_);
      if (isFinal(inst->state)) return {};
      inst->stopRequested = true;
      container = inst->container;
      transition(*inst, InstanceState::ShuttingDown);
    }
    if (container.empty()) return {};
    auto s = engine_.call("POST", fmt::format("/containers/{}/stop?t={}", container, seconds),
                          std::nullopt, seconds + 60);
    if (!s) return fail(s.error());
    if (s->status != 204 && s->status != 304 && s->status != 404)
      return fail(engineError("stop", *s));
    auto info = engine_.call("GET", "/containers/" + container + "/json");
    int code = 0;
    bool oom = false;
    if (info && info->status == 200) {
      auto st = info->json()["State"];
      code = st.value("ExitCode", 0);
      oom = st.value("OOMKilled", false);
    }
    ended(*inst, code, oom);
    return {};
  });
}

BulkResult DockerRuntime::remove(std::span<const InstanceId> ids, const Progress& progress) {
  return forEach(ids, progress, [this](InstanceId id) -> VoidResult {
    auto inst = find(id);
    if (!inst) return {};  // remove is idempotent
    {
      std::lock_guard lock(mu_);
      inst->stopRequested = true;
    }
    std::string target = inst->container.empty() ? containerName(id) : inst->container;
    auto d = engine_.call("DELETE", "/containers/" + queryEscape(target) + "?force=1&v=1");
    if (!d) return fail(d.error().context("remove"));
    if (d->status != 204 && d->status != 404) return fail(engineError("remove", *d));
    if (follower_) follower_->unfollow(slug(id));
    std::lock_guard lock(mu_);
    if (inst->onRadio) radio_->released(inst->spec.id), inst->onRadio = false;
    if (!isFinal(inst->state)) transition(*inst, InstanceState::Terminated, "removed");
    if (inst->uidPooled) uids_.release(inst->uid), inst->uidPooled = false;
    instances_.erase(id);
    return {};
  });
}

std::optional<InstanceStatus> DockerRuntime::status(InstanceId id) const {
  std::lock_guard lock(mu_);
  auto it = instances_.find(id);
  if (it == instances_.end()) return std::nullopt;
  const Instance& i = *it->second;
  return InstanceStatus{id, i.state, i.reason, i.pid, i.history};
}

std::vector<InstanceStatus> DockerRuntime::list() const {
  std::lock_guard lock(mu_);
  std::vector<InstanceStatus> out;
  out.reserve(instances_.size());
  for (const auto& [id, i] : instances_)
    out.push_back(InstanceStatus{id, i->state, i->reason, i->pid, i->history});
  return out;
}

// ---- console ----

// Docker's attach is a hijacked HTTP connection: after the answer's headers the socket is the
// container's stdin. libcurl does not hand a hijacked connection back, so this one request is
// written by hand on a unix socket of its own.
VoidResult DockerRuntime::console(InstanceId id, std::string_view line) {
  auto inst = find(id);
  if (!inst) return failMsg("no such instance");
  std::string container;
  {
    std::lock_guard lock(mu_);
    if (inst->state != InstanceState::Running && inst->state != InstanceState::Booting)
      return failMsg(fmt::format("instance is {}", toString(inst->state)));
    container = inst->container;
  }
  // The attach stays open for the instance's life: Podman closes a container's stdin when
  // the attach that wrote to it ends (Docker keeps it open either way).
  std::lock_guard consoleLock(inst->consoleMu);
  if (!inst->console) {
    auto s = attachStdin(container);
    if (!s) return fail(s.error());
    inst->console = std::move(*s);
  }
  // Paced for shells that read 64 bytes at a time and lose what else is waiting (RIOT's):
  // 64 bytes a write, 10 ms apart, and lines to one instance 300 ms apart. (The ns runtime
  // sends the next line as soon as the AUT prompts; here the prompt cannot be seen in time,
  // since the engine logs a line without its newline only once the line is complete.)
  std::this_thread::sleep_until(inst->consoleNext);
  std::string data = std::string(line) + "\n";
  for (size_t off = 0; off < data.size(); off += 64) {
    if (off) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::string piece = data.substr(off, 64);
    if (auto w = sys::writeAll(inst->console.get(), piece.data(), piece.size()); !w) {
      inst->console.reset();
      return fail(w.error().context("write to stdin"));
    }
  }
  inst->consoleNext = Clock::now() + std::chrono::milliseconds(300);
  return {};
}

Result<sys::UniqueFd> DockerRuntime::attachStdin(const std::string& container) {
  sys::UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return failSys("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", engine_.socketPath().c_str());
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return failSys("connect to " + engine_.socketPath());
  timeval tv{5, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string req = fmt::format(
      "POST /v{}/containers/{}/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: docker\r\n"
      "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n",
      engine_.apiVersion(), container);
  if (auto w = sys::writeAll(s.get(), req.data(), req.size()); !w) return fail(w.error());
  std::string head;
  char c;
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 8192) {
    if (::read(s.get(), &c, 1) != 1) return failSys("attach: no answer");
    head += c;
  }
  if (head.rfind("HTTP/1.1 101", 0) != 0 && head.rfind("HTTP/1.1 200", 0) != 0)
    return failMsg("attach: " + head.substr(0, head.find("\r\n")));
  return s;
}

// ---- recovery and teardown ----

Result<RecoveryReport> DockerRuntime::recover() {
  RecoveryReport rep;
  json filters = {{"label", {"kuiga.worker=" + config_.name}}};
  auto listed =
      engine_.call("GET", "/containers/json?all=1&filters=" + queryEscape(filters.dump()));
  if (!listed) return fail(listed.error());
  if (listed->status != 200) return fail(engineError("list containers", *listed));
  for (const auto& c : listed->json()) {
    const json labels = c.value("Labels", json::object());
    unsigned run = 0, index = 0;
    std::string id = c.value("Id", "");
    if (std::sscanf(labels.value("kuiga.run", "").c_str(), "%u", &run) != 1 ||
        std::sscanf(labels.value("kuiga.index", "").c_str(), "%u", &index) != 1)
      continue;
    InstanceId iid{run, index};
    if (find(iid)) continue;
    auto info = engine_.call("GET", "/containers/" + id + "/json");
    pid_t pid = info && info->status == 200 ? info->json()["State"].value("Pid", 0) : 0;
    bool running = c.value("State", "") == "running" && pid > 0;
    if (!running) {
      (void)engine_.call("DELETE", "/containers/" + id + "?force=1&v=1");
      (void)radio_->detach(iid);
      ++rep.reaped;
      rep.notes.push_back(displayName(iid) + ": its container had ended; removed");
      continue;
    }
    auto inst = std::make_shared<Instance>();
    inst->spec.id = iid;
    auto net = parseNetMode(labels.value("kuiga.net", "veth"));
    inst->spec.net = net ? *net : NetMode::Veth;
    inst->container = id;
    inst->pid = pid;
    unsigned long uid = config_.uidBase + index;  // containers from before kuiga.uid
    std::sscanf(labels.value("kuiga.uid", "").c_str(), "%lu", &uid);
    inst->uid = static_cast<uid_t>(uid);
    inst->uidPooled = uids_.claim(inst->uid);
    inst->onRadio = inst->spec.net != NetMode::None;
    // Still held by the gate, or running the AUT?
    inst->state = waitingGate(pid) ? InstanceState::Booting : InstanceState::Running;
    inst->history.push_back({iid, inst->state, realtimeNs(), "re-adopted after a restart"});
    // Continue the log where it ended: the last line's time, from the file itself.
    int64_t since = 0;
    {
      std::ifstream in(logPath(iid));
      std::string l, last;
      while (std::getline(in, l))
        if (!l.empty()) last = l;
      if (auto sp = last.find(' '); sp != std::string::npos)
        since = parseDockerTime(last.substr(0, sp));
    }
    follower_->follow(slug(iid), id, std::make_unique<LogWriter>(logPath(iid), config_.logMaxBytes),
                      inst->lastLineMu, inst->lastLine, since, outputEnded(iid));
    inst->following = true;
    std::lock_guard lock(mu_);
    instances_[iid] = inst;
    ++rep.adopted;
  }
  return rep;
}

VoidResult DockerRuntime::destroyAll() {
  std::vector<InstanceId> ids;
  for (const auto& s : list()) ids.push_back(s.id);
  auto r = remove(ids);
  // Containers of this worker that no record knows of.
  json filters = {{"label", {"kuiga.worker=" + config_.name}}};
  if (auto listed =
          engine_.call("GET", "/containers/json?all=1&filters=" + queryEscape(filters.dump()));
      listed && listed->status == 200)
    for (const auto& c : listed->json())
      (void)engine_.call("DELETE", "/containers/" + c.value("Id", "") + "?force=1&v=1");
  follower_.reset();
  VoidResult out;
  if (!r.allOk()) out = fail(r.failed.front().second);
  if (auto d = radio_->destroy(); !d && out) out = d;
  return out;
}

}  // namespace kuiga::worker::docker
