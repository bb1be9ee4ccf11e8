#include "bench/floor.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <vector>

#include "bench/system_probe.hpp"
#include "sys/file.hpp"
#include "sys/netlink.hpp"
#include "sys/netns.hpp"
#include "sys/process.hpp"
#include "worker/net/radio_network.hpp"

namespace kuiga::bench {

namespace {

// THREAD_SIZE on x86-64 and arm64.
constexpr double kKernelStackKib = 16;

// Memory in use once it holds still (namespaces are freed asynchronously).
uint64_t settledKiB() {
  return settledMemoryKiB(std::chrono::milliseconds(300), 1024);
}

// Waits until the kernel has torn down the network namespaces that died before (an earlier
// run's, or the copies'), then until memory in use holds still. A floor measured while the
// kernel frees other namespaces counts their going, hundreds of megabytes, against its own.
VoidResult waitUntilQuiet(size_t copies) {
  auto waited = waitForNamespaceTeardown(std::chrono::seconds(120 + copies / 20));
  if (!waited) return fail(waited.error());
  (void)settledKiB();
  return {};
}

// kuiga-init copies, each in its own namespaces. Only their pidfds are held: a floor at the
// run's scale (10,000 and more) could not also hold a namespace fd for each under
// RLIMIT_NOFILE; the veths find each namespace through its init instead.
Result<std::vector<sys::Child>> makeInits(const std::string& initPath, size_t copies) {
  std::vector<sys::Child> inits;
  inits.reserve(copies);
  for (size_t i = 0; i < copies; ++i) {
    sys::SpawnOptions so;
    so.path = initPath;
    so.argv = {"kuiga-init", "--pause"};
    so.namespaces = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
    so.parentDeathSignal = SIGKILL;  // none outlives a benchmark that was killed
    auto child = sys::spawn(so);
    if (!child) return fail(child.error().context("floor: kuiga-init"));
    auto ns = sys::netns::ofPid(child->pid());
    if (!ns) return fail(ns.error().context("floor"));
    auto nl = sys::Netlink::openIn(ns->get());
    if (!nl) return fail(nl.error().context("floor"));
    KUIGA_TRY(nl->setUp("lo"), "floor: loopback");
    inits.push_back(std::move(*child));
  }
  return inits;
}

// Veths from bridges in a namespace of their own to each copy's namespace, as the radio
// network's leaves are: a bridge per kPortsPerLeaf copies (a bridge alone is a few KiB, so
// hardly anything per copy).
VoidResult makeVeths(const std::vector<sys::Child>& inits, sys::UniqueFd& scratch) {
  auto ns = sys::netns::create();
  if (!ns) return fail(ns.error().context("floor"));
  scratch = std::move(*ns);
  {
    // As in the radio namespace (RadioNetwork::setUpNamespace()): no IPv6 on the bridges and
    // their ports, and bridged frames skip iptables. With IPv6 there, each port's addresses
    // and routes counted as the veth's (and each link's coming up walked all the routes).
    auto guard = sys::netns::ThreadGuard::enter(scratch.get());
    if (!guard) return fail(guard.error().context("floor"));
    KUIGA_TRY(sys::writeFile("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1"), "floor");
    KUIGA_TRY(sys::writeFile("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1"), "floor");
    for (const char* k : {"arptables", "iptables", "ip6tables"})
      (void)sys::writeFile(std::string("/proc/sys/net/bridge/bridge-nf-call-") + k, "0");
  }
  auto nl = sys::Netlink::openIn(scratch.get());
  if (!nl) return fail(nl.error().context("floor"));
  constexpr size_t kPorts = worker::net::RadioNetwork::kPortsPerLeaf;
  int bridge = -1;
  for (size_t i = 0; i < inits.size(); ++i) {
    if (i % kPorts == 0) {
      const std::string name = fmt::format("kfbr{}", i / kPorts);
      KUIGA_TRY(nl->createBridge(name), "floor");
      KUIGA_TRY(nl->setUp(name), "floor");
      auto br = nl->linkIndex(name);
      if (!br) return fail(br.error().context("floor"));
      bridge = *br;
    }
    auto peer = sys::netns::ofPid(inits[i].pid());
    if (!peer) return fail(peer.error().context("floor"));
    sys::VethSpec v;
    v.name = fmt::format("kf{}", i);
    v.masterIndex = bridge;
    v.peerName = "eth0";
    v.peerNetnsFd = peer->get();
    v.up = true;
    KUIGA_TRY(nl->createVeth(v), "floor");
    auto inside = sys::Netlink::openIn(peer->get());
    if (!inside) return fail(inside.error().context("floor"));
    KUIGA_TRY(inside->setUp("eth0", true, false), "floor");
  }
  return {};
}

// Copies of the AUT, each waiting for a start an hour away: what they cost beyond their PSS
// and beyond what the run reads from each running AUT (page tables, kernel stacks) is their
// process structures. No session of their own: the instance's AUT has none either.
Result<double> measureAutProcess(const AutCommand& aut, size_t copies) {
  const uint64_t before = settledKiB();
  std::vector<sys::Child> autCopies;
  for (size_t i = 0; i < copies; ++i) {
    sys::SpawnOptions so;
    so.path = aut.path;
    so.argv = aut.argv;
    so.newSession = false;
    so.parentDeathSignal = SIGKILL;
    auto child = sys::spawn(so);
    if (!child) return fail(child.error().context("floor: the AUT"));
    autCopies.push_back(std::move(*child));
  }
  const uint64_t with = settledKiB();
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
                           const AutCommand& aut, const FloorLog& log) {
  Floor f;
  f.copies = copies;
  if (copies == 0) return f;
  const double n = static_cast<double>(copies);
  auto step = std::chrono::steady_clock::now();
  auto done = [&](const char* what) {
    const auto now = std::chrono::steady_clock::now();
    if (log)
      log(fmt::format("floor: {} in {:.1f} s", what,
                      std::chrono::duration<double>(now - step).count()));
    step = now;
  };
  KUIGA_TRY(waitUntilQuiet(copies), "floor");
  done("the machine quiet");
  // First, while nothing of the floor's own is being freed.
  auto autProcess = measureAutProcess(aut, copies);
  if (!autProcess) return fail(autProcess.error());
  f.autProcessKib = *autProcess;
  done("the AUT's copies measured");
  const uint64_t before = settledKiB();
  auto inits = makeInits(initPath, copies);
  if (!inits) return fail(inits.error());
  const uint64_t withInits = settledKiB();
  f.initNamespacesKib = (static_cast<double>(withInits) - static_cast<double>(before)) / n;
  done("inits in their namespaces measured");
  if (veth) {
    sys::UniqueFd scratch;
    auto made = makeVeths(*inits, scratch);
    const uint64_t withVeths = settledKiB();
    f.vethKib = (static_cast<double>(withVeths) - static_cast<double>(withInits)) / n;
    // The bridge and the veths' bridge ends go with the scratch namespace.
    scratch.reset();
    if (!made) return fail(made.error());
    done("veths measured");
  }
  inits->clear();  // SIGKILL and reap
  // The kernel frees dead namespaces later, in batches: wait until it has, or the benchmark's
  // baseline would hold them and its figures come out low by as much.
  KUIGA_TRY(waitUntilQuiet(copies), "floor");
  done("the copies freed");
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
