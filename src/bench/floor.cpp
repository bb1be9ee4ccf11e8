#include "bench/floor.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "bench/system_probe.hpp"
#include "sys/file.hpp"
#include "sys/netlink.hpp"
#include "sys/netns.hpp"
#include "sys/process.hpp"

namespace kuiga::bench {

namespace {

// THREAD_SIZE on x86-64 and arm64.
constexpr double kKernelStackKib = 16;

// Memory in use once it holds still (namespaces are freed asynchronously).
uint64_t settledMemoryKiB() {
  uint64_t a = memoryInUseKiB();
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    uint64_t b = memoryInUseKiB();
    if ((a > b ? a - b : b - a) < 1024) return b;
    a = b;
  }
  return a;
}

// Waits (up to two minutes) until the kernel has done freeing what earlier runs left: no
// network namespace freed and memory in use within 1 MiB over three seconds. A run started
// right after another one would otherwise count the other's namespaces going, hundreds of
// megabytes over a minute, against its own pieces.
void waitUntilQuiet() {
  auto netns = liveNetworkNamespaces();
  uint64_t mem = memoryInUseKiB();
  int quietTicks = 0;
  for (int i = 0; i < 240 && quietTicks < 6; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const auto n = liveNetworkNamespaces();
    const uint64_t m = memoryInUseKiB();
    const bool quiet = n == netns && (m > mem ? m - mem : mem - m) < 1024;
    quietTicks = quiet ? quietTicks + 1 : 0;
    if (!quiet) netns = n, mem = m;
  }
}

struct Copies {
  std::vector<sys::Child> inits;
  std::vector<sys::UniqueFd> netns;
};

Result<Copies> makeInits(const std::string& initPath, size_t copies) {
  Copies c;
  for (size_t i = 0; i < copies; ++i) {
    sys::SpawnOptions so;
    so.path = initPath;
    so.argv = {"kuiga-init", "--pause"};
    so.namespaces = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
    auto child = sys::spawn(so);
    if (!child) return fail(child.error().context("floor: kuiga-init"));
    auto ns = sys::netns::ofPid(child->pid());
    if (!ns) return fail(ns.error().context("floor"));
    auto nl = sys::Netlink::openIn(ns->get());
    if (!nl) return fail(nl.error().context("floor"));
    KUIGA_TRY(nl->setUp("lo"), "floor: loopback");
    c.inits.push_back(std::move(*child));
    c.netns.push_back(std::move(*ns));
  }
  return c;
}

// Veths from a bridge in a namespace of their own to each copy's namespace, as the radio
// network's leaves are.
VoidResult makeVeths(const Copies& c, sys::UniqueFd& scratch) {
  auto ns = sys::netns::create();
  if (!ns) return fail(ns.error().context("floor"));
  scratch = std::move(*ns);
  auto nl = sys::Netlink::openIn(scratch.get());
  if (!nl) return fail(nl.error().context("floor"));
  KUIGA_TRY(nl->createBridge("kfbr"), "floor");
  KUIGA_TRY(nl->setUp("kfbr"), "floor");
  auto br = nl->linkIndex("kfbr");
  if (!br) return fail(br.error().context("floor"));
  for (size_t i = 0; i < c.netns.size(); ++i) {
    sys::VethSpec v;
    v.name = fmt::format("kf{}", i);
    v.masterIndex = *br;
    v.peerName = "eth0";
    v.peerNetnsFd = c.netns[i].get();
    v.up = true;
    KUIGA_TRY(nl->createVeth(v), "floor");
    auto inside = sys::Netlink::openIn(c.netns[i].get());
    if (!inside) return fail(inside.error().context("floor"));
    KUIGA_TRY(inside->setUp("eth0", true, false), "floor");
  }
  return {};
}

// Copies of the AUT, each waiting for a start an hour away: what they cost beyond their PSS
// and beyond what the run reads from each running AUT (page tables, kernel stacks) is their
// process structures. No session of their own: the instance's AUT has none either.
Result<double> measureAutProcess(const AutCommand& aut, size_t copies) {
  const uint64_t before = settledMemoryKiB();
  std::vector<sys::Child> autCopies;
  for (size_t i = 0; i < copies; ++i) {
    sys::SpawnOptions so;
    so.path = aut.path;
    so.argv = aut.argv;
    so.newSession = false;
    auto child = sys::spawn(so);
    if (!child) return fail(child.error().context("floor: the AUT"));
    autCopies.push_back(std::move(*child));
  }
  const uint64_t with = settledMemoryKiB();
  double own = 0;
  for (const auto& c : autCopies)
    own += static_cast<double>(pssKiB(c.pid())) + autKernelKib(c.pid());
  for (auto& c : autCopies)
    if (auto exited = c.tryWait(); !exited || *exited)
      return failMsg(
          fmt::format("floor: a copy of the AUT '{}' ended before it was measured (an AUT of this "
                      "benchmark waits until START_MS, its first argument)",
                      aut.path));
  return (static_cast<double>(with) - static_cast<double>(before) - own) /
         static_cast<double>(copies);
}

}  // namespace

Result<Floor> measureFloor(const std::string& initPath, size_t copies, bool veth,
                           const AutCommand& aut) {
  Floor f;
  f.copies = copies;
  if (copies == 0) return f;
  const double n = static_cast<double>(copies);
  waitUntilQuiet();
  // First, while nothing of the floor's own is being freed.
  auto autProcess = measureAutProcess(aut, copies);
  if (!autProcess) return fail(autProcess.error());
  f.autProcessKib = *autProcess;
  const auto live = liveNetworkNamespaces();
  const uint64_t before = settledMemoryKiB();
  auto c = makeInits(initPath, copies);
  if (!c) return fail(c.error());
  const uint64_t withInits = settledMemoryKiB();
  f.initNamespacesKib = (static_cast<double>(withInits) - static_cast<double>(before)) / n;
  if (veth) {
    sys::UniqueFd scratch;
    auto made = makeVeths(*c, scratch);
    const uint64_t withVeths = settledMemoryKiB();
    f.vethKib = (static_cast<double>(withVeths) - static_cast<double>(withInits)) / n;
    // The bridge and the veths' bridge ends go with the scratch namespace.
    scratch.reset();
    if (!made) return fail(made.error());
  }
  c->netns.clear();
  c->inits.clear();  // SIGKILL and reap
  // The kernel frees dead namespaces later, in batches: wait until it has, or the benchmark's
  // baseline would hold them and its figures come out low by as much.
  for (int i = 0; i < 600 && live && liveNetworkNamespaces().value_or(0) > *live; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (void)settledMemoryKiB();
  return f;
}

double autKernelKib(pid_t aut) {
  auto status = sys::readFile(fmt::format("/proc/{}/status", aut));
  if (!status) return 0;
  auto field = [&](const char* key) -> double {
    auto at = status->find(key);
    return at == std::string::npos ? 0 : std::strtod(status->c_str() + at + strlen(key), nullptr);
  };
  return field("\nVmPTE:") + field("\nThreads:") * kKernelStackKib;
}

}  // namespace kuiga::bench
