#include "sys/cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "sys/file.hpp"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

namespace kuiga::sys::cgroup {
namespace {

bool isCgroup2(const std::string& path) {
  struct statfs fs {};
  return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

bool hasWord(const std::string& list, const std::string& word) {
  std::istringstream in(list);
  std::string w;
  while (in >> w)
    if (w == word) return true;
  return false;
}

// v1 mount point of a controller, from /proc/self/mounts ("cgroup /sys/fs/cgroup/memory cgroup
// rw,memory 0 0").
std::string v1Mount(const std::string& mounts, const std::string& controller) {
  std::istringstream in(mounts);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string dev, dir, type, opts;
    l >> dev >> dir >> type >> opts;
    if (type != "cgroup") continue;
    std::istringstream o(opts);
    std::string opt;
    while (std::getline(o, opt, ','))
      if (opt == controller) return dir;
  }
  return "";
}

uint64_t keyedValue(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  uint64_t v = 0;
  while (in >> k >> v)
    if (k == key) return v;
  return 0;
}

// Moves every process of `root`'s own group into `root`/init, so that `root` may enable
// controllers for its children.
VoidResult evacuateRoot(const std::string& root) {
  const std::string leaf = root + "/init";
  if (::mkdir(leaf.c_str(), 0755) < 0 && errno != EEXIST) return failSys("mkdir '" + leaf + "'");
  auto procs = readFile(root + "/cgroup.procs");
  if (!procs) return fail(procs.error());
  std::istringstream in(*procs);
  std::string pid;
  while (in >> pid)
    if (auto r = writeFile(leaf + "/cgroup.procs", pid); !r && r.error().code != ESRCH)
      return fail(r.error().context("move process " + pid + " to '" + leaf + "'"));
  return {};
}

}  // namespace

std::string findV2Mount() {
  for (const char* p : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"})
    if (isCgroup2(p)) return p;
  return "";
}

Result<Layout> detect(std::optional<Version> prefer) {
  std::string v2 = findV2Mount();
  bool v2Usable = false;
  if (!v2.empty()) {
    auto ctl = readFile(v2 + "/cgroup.controllers");
    v2Usable = ctl && hasWord(*ctl, "memory") && hasWord(*ctl, "pids");
  }
  if (prefer == Version::V2 || (!prefer && v2Usable)) {
    if (v2.empty()) return failMsg("no cgroup2 hierarchy is mounted");
    return Layout{Version::V2, v2, "", "", ""};
  }
  auto mounts = readFile("/proc/self/mounts");
  if (!mounts) return fail(mounts.error());
  Layout l{Version::V1, "", v1Mount(*mounts, "memory"), v1Mount(*mounts, "pids"),
           v1Mount(*mounts, "cpu")};
  if (l.memory.empty() || l.pids.empty())
    return failMsg(
        "no usable cgroups: cgroup2 lacks the memory and pids controllers and cgroup v1 has "
        "them not mounted");
  return l;
}

std::string describe(const Layout& l) {
  std::vector<std::string> cannot;
  std::string where;
  if (l.version == Version::V2) {
    auto ctl = readFile(l.v2Root + "/cgroup.controllers");
    std::string have = ctl ? *ctl : "";
    while (!have.empty() && (have.back() == '\n' || have.back() == ' ')) have.pop_back();
    // In a cgroup namespace (a container's), the process sees its own group as "/".
    auto self = readFile("/proc/self/cgroup");
    bool nsRoot = self && self->find("0::/\n") != std::string::npos;
    where = fmt::format("cgroup v2 at {} ({}), controllers: {}", l.v2Root,
                        nsRoot ? "the root of this cgroup namespace" : "the host's hierarchy",
                        have.empty() ? "none" : have);
    if (!hasWord(have, "cpu")) cannot.push_back("limits.cpu_milli (no cpu controller)");
  } else {
    where = fmt::format("cgroup v1: memory at {}, pids at {}, cpu at {}", l.memory, l.pids,
                        l.cpu.empty() ? "(not mounted)" : l.cpu);
    if (l.cpu.empty()) cannot.push_back("limits.cpu_milli (the cpu controller is not mounted)");
  }
  std::string out = where + "; enforces limits.memory_mb and limits.pids";
  if (cannot.empty()) return out + " and limits.cpu_milli";
  out += "; cannot enforce ";
  for (size_t i = 0; i < cannot.size(); ++i) out += (i ? ", " : "") + cannot[i];
  return out;
}

std::vector<std::string> Cgroup::dirs() const {
  if (layout_.version == Version::V2) return {layout_.v2Root + "/" + rel_};
  std::vector<std::string> d{layout_.pids + "/" + rel_};
  if (controllers_.memory) d.push_back(layout_.memory + "/" + rel_);
  if (controllers_.cpu && !layout_.cpu.empty()) d.push_back(layout_.cpu + "/" + rel_);
  return d;
}

std::string Cgroup::file(const std::string& v1Root, const std::string& name) const {
  const std::string& root = layout_.version == Version::V2 ? layout_.v2Root : v1Root;
  return root + "/" + rel_ + "/" + name;
}

Result<Cgroup> Cgroup::create(const Layout& layout, const std::string& relPath,
                              Controllers controllers) {
  controllers.pids = true;
  Cgroup cg(layout, relPath, controllers);
  if (layout.version == Version::V2) {
    // Enable controllers top-down; each ancestor must delegate them to its children.
    auto avail = readFile(layout.v2Root + "/cgroup.controllers");
    std::string enable;
    for (auto [c, used] : {std::pair{"memory", controllers.memory}, std::pair{"pids", true},
                           std::pair{"cpu", controllers.cpu}})
      if (used && avail && hasWord(*avail, c))
        enable += std::string(enable.empty() ? "+" : " +") + c;
    std::string path = layout.v2Root;
    std::istringstream parts(relPath);
    std::string part;
    while (std::getline(parts, part, '/')) {
      if (part.empty()) continue;
      if (!enable.empty()) {
        auto cur = readFile(path + "/cgroup.subtree_control");
        bool need = false;
        std::istringstream e(enable);
        std::string w;
        while (e >> w) need |= !(cur && hasWord(*cur, w.substr(1)));
        if (need) {
          auto r = writeFile(path + "/cgroup.subtree_control", enable);
          // The root of a container's cgroup namespace holds its processes, and a cgroup with
          // processes may not give controllers to its children (cgroup v2's "no internal
          // processes" rule): they move to a leaf of their own first.
          if (!r && r.error().code == EBUSY && path == layout.v2Root) {
            KUIGA_TRY(evacuateRoot(layout.v2Root), "enable controllers in '" + path + "'");
            r = writeFile(path + "/cgroup.subtree_control", enable);
          }
          if (!r) return fail(r.error().context("enable controllers in '" + path + "'"));
        }
      }
      path += "/" + part;
      if (::mkdir(path.c_str(), 0755) < 0 && errno != EEXIST)
        return failSys("mkdir cgroup '" + path + "'");
    }
    return cg;
  }
  for (const auto& d : cg.dirs()) KUIGA_TRY(makeDirs(d), "create cgroup");
  return cg;
}

Cgroup Cgroup::open(const Layout& layout, const std::string& relPath) {
  return Cgroup(layout, relPath, Controllers{});
}

bool Cgroup::exists() const {
  for (const auto& d : dirs())
    if (sys::exists(d)) return true;
  return false;
}

VoidResult Cgroup::setLimits(const Limits& limits) {
  const bool v2 = layout_.version == Version::V2;
  if (limits.memoryBytes) {
    auto v = std::to_string(limits.memoryBytes);
    KUIGA_TRY(writeFile(file(layout_.memory, v2 ? "memory.max" : "memory.limit_in_bytes"), v),
              "set memory limit");
    if (v2) (void)writeFile(file("", "memory.swap.max"), "0");  // absent without swap accounting
  }
  if (limits.pidsMax)
    KUIGA_TRY(writeFile(file(layout_.pids, "pids.max"), std::to_string(limits.pidsMax)),
              "set pids limit");
  if (limits.cpuMilli) {
    const uint64_t period = 100000;
    uint64_t quota = period * limits.cpuMilli / 1000;
    if (v2) {
      KUIGA_TRY(
          writeFile(file("", "cpu.max"), std::to_string(quota) + " " + std::to_string(period)),
          "set cpu limit");
    } else {
      if (layout_.cpu.empty())
        return failMsg("set cpu limit: the v1 cpu controller is not mounted");
      KUIGA_TRY(writeFile(file(layout_.cpu, "cpu.cfs_period_us"), std::to_string(period)),
                "set cpu period");
      KUIGA_TRY(writeFile(file(layout_.cpu, "cpu.cfs_quota_us"), std::to_string(quota)),
                "set cpu quota");
    }
  }
  return {};
}

VoidResult Cgroup::addProcess(pid_t pid) {
  for (const auto& d : dirs())
    KUIGA_TRY(writeFile(d + "/cgroup.procs", std::to_string(pid)),
              "move process " + std::to_string(pid) + " into cgroup");
  return {};
}

Result<UniqueFd> Cgroup::openDir() const {
  if (layout_.version != Version::V2) return failMsg("open cgroup dir: not a v2 cgroup");
  return openFile(dirs().front(), O_RDONLY | O_DIRECTORY);
}

Result<std::vector<pid_t>> Cgroup::processes() const {
  std::vector<pid_t> pids;
  // The pids hierarchy (v1) or the only one (v2) holds every process of the group.
  const std::string path = file(layout_.pids, "cgroup.procs");
  auto text = readFile(path);
  if (!text) {
    if (text.error().code == ENOENT) return pids;
    return fail(text.error());
  }
  std::istringstream in(*text);
  pid_t p;
  while (in >> p) pids.push_back(p);
  return pids;
}

Events Cgroup::events() const {
  Events ev;
  const bool v2 = layout_.version == Version::V2;
  if (auto t = readFile(file(layout_.memory, v2 ? "memory.events" : "memory.oom_control")))
    ev.oomKills = keyedValue(*t, "oom_kill");
  if (auto t = readFile(file(layout_.pids, "pids.events"))) ev.pidsMax = keyedValue(*t, "max");
  return ev;
}

VoidResult Cgroup::killAll() {
  if (layout_.version == Version::V2 && writeFile(file("", "cgroup.kill"), "1")) {
    // cgroup.kill (5.14+) kills atomically, also processes forked meanwhile; wait for them.
  }
  for (int round = 0; round < 500; ++round) {
    auto pids = processes();
    if (!pids) return fail(pids.error().context("list cgroup processes"));
    if (pids->empty()) return {};
    for (pid_t p : *pids) ::kill(p, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(round < 10 ? 1 : 10));
  }
  return failMsg("cgroup '" + rel_ + "' still has processes after SIGKILL");
}

VoidResult Cgroup::destroy(int busyRetries) {
  VoidResult result;
  for (const auto& d : dirs()) {
    for (int attempt = 0;; ++attempt) {
      if (::rmdir(d.c_str()) == 0 || errno == ENOENT) break;
      if (errno == EBUSY && attempt < busyRetries) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      if (result) result = failSys("rmdir cgroup '" + d + "'");
      break;
    }
  }
  return result;
}

Result<std::vector<std::string>> listChildren(const Layout& layout, const std::string& relPath) {
  std::string base = (layout.version == Version::V2 ? layout.v2Root : layout.pids) + "/" + relPath;
  std::vector<std::string> out;
  DIR* d = ::opendir(base.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    return failSys("opendir '" + base + "'");
  }
  while (auto* e = ::readdir(d))
    if (e->d_type == DT_DIR && e->d_name[0] != '.') out.emplace_back(e->d_name);
  ::closedir(d);
  return out;
}

}  // namespace kuiga::sys::cgroup
