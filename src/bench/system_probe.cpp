#include "bench/system_probe.hpp"

#include <dirent.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "sys/file.hpp"
#include "sys/netlink.hpp"
#include "sys/netns.hpp"

namespace kuiga::bench {

namespace {

// Free pages the kernel keeps on its per-CPU lists (/proc/zoneinfo, each CPU's "count" under
// "pagesets"), in KiB. MemFree leaves them out, and since the kernel tunes those lists to the
// load (6.7 and later) they swing by tens of megabytes between two readings: on the machine of
// docs/performance.md, 100 MiB allocated read as 11 to 72 MiB less free, and as 100.1 with
// these added back.
uint64_t perCpuFreeKiB() {
  std::ifstream in("/proc/zoneinfo");
  const uint64_t pageKib = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) / 1024;
  uint64_t pages = 0;
  for (std::string line; std::getline(in, line);) {
    const auto at = line.find_first_not_of(' ');
    if (at != std::string::npos && line.compare(at, 6, "count:") == 0)
      pages += std::strtoull(line.c_str() + at + 6, nullptr, 10);
  }
  return pages * pageKib;
}

}  // namespace

uint64_t memoryInUseKiB() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t v = 0, total = 0, free = 0, buffers = 0, cached = 0, shmem = 0, sreclaim = 0;
  std::string unit;
  while (in >> key >> v) {
    std::getline(in, unit);
    if (key == "MemTotal:")
      total = v;
    else if (key == "MemFree:")
      free = v;
    else if (key == "Buffers:")
      buffers = v;
    else if (key == "Cached:")
      cached = v;
    else if (key == "Shmem:")
      shmem = v;
    else if (key == "SReclaimable:")
      sreclaim = v;
  }
  return total - free - perCpuFreeKiB() - buffers - (cached - shmem) - sreclaim;
}

uint64_t settledMemoryKiB(std::chrono::milliseconds interval, uint64_t toleranceKiB) {
  uint64_t a = memoryInUseKiB();
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(interval);
    uint64_t b = memoryInUseKiB();
    if ((a > b ? a - b : b - a) < toleranceKiB) return b;
    a = b;
  }
  return a;
}

std::map<std::string, uint64_t> memInfo() {
  std::map<std::string, uint64_t> out;
  std::ifstream in("/proc/meminfo");
  std::string key, rest;
  uint64_t v;
  while (in >> key >> v) {
    std::getline(in, rest);
    out[key.substr(0, key.size() - 1)] = v;
  }
  return out;
}

uint64_t busyCpuMicros() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t user, nice, system, idle, iowait, irq, softirq, steal;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  const uint64_t hz = static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  return (user + nice + system + irq + softirq + steal) * 1000000 / hz;
}

template <class Fn>
static void forEachPid(Fn fn) {
  DIR* d = opendir("/proc");
  if (!d) return;
  while (auto* e = readdir(d)) {
    char* end;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end == 0 && pid > 0) fn(static_cast<pid_t>(pid));
  }
  closedir(d);
}

size_t countNetworkNamespaces() {
  std::set<std::string> seen;
  forEachPid([&](pid_t pid) {
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/%d/ns/net", pid);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 0) seen.insert(std::string(target, static_cast<size_t>(n)));
  });
  // Namespaces pinned by bind mounts: "... - nsfs nsfs rw" with root "net:[4026532]".
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mi, line)) {
    std::istringstream l(line);
    std::string id, parent, dev, root;
    l >> id >> parent >> dev >> root;
    if (root.rfind("net:[", 0) == 0) seen.insert(root);
  }
  return seen.size();
}

size_t countProcesses(uid_t uidFirst, uid_t uidLast, const std::string& comm) {
  size_t n = 0;
  forEachPid([&](pid_t pid) {
    std::ifstream st("/proc/" + std::to_string(pid) + "/status");
    std::string key, name;
    uid_t uid = 0;
    while (st >> key) {
      if (key == "Name:") st >> name;
      if (key == "Uid:") {
        st >> uid;
        break;
      }
      std::getline(st, key);
    }
    if ((uid >= uidFirst && uid <= uidLast) || name == comm) ++n;
  });
  return n;
}

ProcessCount processesNaming(const std::string& needle) {
  ProcessCount out;
  std::set<std::string> netns;
  forEachPid([&](pid_t pid) {
    // A process that ends while it is read fails the read (ESRCH); it is not counted.
    auto args = sys::readFile("/proc/" + std::to_string(pid) + "/cmdline");
    if (!args || args->find(needle) == std::string::npos) return;
    // The worker's zygote holds no instance, and goes with the runtime.
    if (args->starts_with(std::string_view("kuiga-init\0--zygote\0", 20))) return;
    ++out.processes;
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/%d/ns/net", pid);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 0) netns.insert(std::string(target, static_cast<size_t>(n)));
  });
  out.netns = netns.size();
  return out;
}

uint64_t pssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string key;
  uint64_t v;
  std::string rest;
  while (in >> key) {
    if (key == "Pss:" && in >> v) return v;
    std::getline(in, rest);
  }
  return 0;
}

namespace {

// The fields of a /proc/PID/stat (or /proc/self/task/TID/stat) the benchmarks need; nullopt
// once the process or thread is gone.
struct ProcStat {
  std::string comm;
  unsigned long flags = 0;
  uint64_t ticks = 0;  // user + system
  unsigned long long startTime = 0;
};

std::optional<ProcStat> procStat(const std::string& path) {
  auto stat = sys::readFile(path);
  if (!stat) return std::nullopt;
  const size_t open = stat->find('('), close = stat->rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  ProcStat st;
  st.comm = stat->substr(open + 1, close - open - 1);
  // Fields after the command name (which may hold spaces) start at its closing parenthesis.
  std::istringstream in(stat->substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && in >> field; ++i) {
    if (i == 9) st.flags = std::stoul(field);
    if (i == 14 || i == 15) st.ticks += std::stoull(field);
    if (i == 22) st.startTime = std::stoull(field);
  }
  return st;
}

constexpr unsigned long kKernelThread = 0x00200000;  // PF_KTHREAD

}  // namespace

double threadCpuSeconds(pid_t tid) {
  auto st = procStat(fmt::format("/proc/self/task/{}/stat", tid));
  return st ? static_cast<double>(st->ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK)) : 0;
}

double selfCpuSeconds() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

BystanderCpu::BystanderCpu() {
  const pid_t self = ::getpid();
  forEachPid([&](pid_t pid) {
    if (pid == self) return;
    auto st = procStat(fmt::format("/proc/{}/stat", pid));
    if (st && !(st->flags & kKernelThread))
      procs_.push_back({pid, st->startTime, st->comm, st->ticks});
  });
}

BystanderCpu::Lap BystanderCpu::lap() {
  const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  Lap out;
  for (auto& p : procs_) {
    auto st = procStat(fmt::format("/proc/{}/stat", p.pid));
    if (!st || st->startTime != p.startTime) continue;  // gone, or its pid is another's now
    const double s = static_cast<double>(st->ticks - std::min(st->ticks, p.ticks)) / hz;
    p.ticks = st->ticks;
    out.seconds += s;
    if (s > out.topSeconds) {
      out.topSeconds = s;
      out.top = fmt::format("{} (pid {})", p.comm, p.pid);
    }
  }
  return out;
}

void addMachine(nlohmann::json& out) {
  struct utsname u {};
  ::uname(&u);
  out["kernel"] = u.release;
  out["cpus"] = std::thread::hardware_concurrency();
}

Result<double> waitForNamespaceTeardown(std::chrono::seconds bound) {
  const auto from = std::chrono::steady_clock::now();
  auto observer = sys::netns::create();
  if (!observer) return fail(observer.error().context("namespace teardown"));
  auto nl = sys::Netlink::openIn(observer->get());
  if (!nl) return fail(nl.error().context("namespace teardown"));
  for (int probe = 0; probe < 2; ++probe) {
    auto ns = sys::netns::create();
    if (!ns) return fail(ns.error().context("namespace teardown"));
    sys::VethSpec v;
    v.name = "kprobe";
    v.peerName = "kprobe";
    v.peerNetnsFd = ns->get();
    KUIGA_TRY(nl->createVeth(v), "namespace teardown");
    ns->reset();  // nothing else holds it: it dies, and its veth with it
    while (nl->linkIndex("kprobe")) {
      if (std::chrono::steady_clock::now() - from > bound)
        return failMsg(
            fmt::format("the kernel has not torn down the dead network namespaces "
                        "within {} s",
                        bound.count()));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - from).count();
}

}  // namespace kuiga::bench
