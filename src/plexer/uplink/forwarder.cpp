#include "plexer/uplink/forwarder.hpp"

#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <unordered_map>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "common/json_number.hpp"
#include "spec/net_mode.hpp"
#include "sys/file.hpp"
#include "sys/netlink.hpp"
#include "sys/netns.hpp"

namespace kuiga::plexer {
namespace {

constexpr uint64_t kRadioKey = 0;
constexpr uint64_t kWakeKey = 1;
constexpr uint64_t kCellKey = uint64_t{1} << 32;  // | run
constexpr size_t kMaxPacket = 65536;
constexpr int kBatch = 256;  // packets read from one tun before looking at the others
constexpr uint32_t kDeviceRulePriority = 1000;

int64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::string uplinkTunName(RunId run) {
  return fmt::format("kue{:x}", run);
}

std::string specPath(const std::string& dir, RunId run) {
  return fmt::format("{}/run-{}.radio.json", dir, run);
}

// Written whole or not at all: a restarted worker reads it back.
bool sameSpec(const RadioSpec& a, const RadioSpec& b) {
  return a.toJson() == b.toJson();
}

}  // namespace

struct Forwarder::Cell {
  Cell(RunId r, RadioSpec s, UeConfig ueConfig, MediumConfig mediumConfig)
      : run(r),
        spec(std::move(s)),
        mux(ueConfig, [this](const LeaseEvent& e) { logLease(e); }),
        medium(mediumConfig) {}
  ~Cell() {
    if (leaseLog) std::fclose(leaseLog);
  }
  Cell(const Cell&) = delete;
  Cell& operator=(const Cell&) = delete;

  // The IPv6 address a device last sent from, where it is not its plan address (a Contiki-NG
  // device numbers itself in its own prefix): what comes back for its UE goes there.
  std::unordered_map<uint32_t, IpAddress> ownSource6;

  DeviceRadioCounters& device(uint32_t index) {
    if (index >= counters.size()) counters.resize(index + 1);
    return counters[index];
  }
  void logLease(const LeaseEvent& e) {
    if (!leaseLog) return;
    auto now = std::chrono::system_clock::now();
    std::fprintf(
        leaseLog, "%s %s ue=%u device=%s\n",
        fmt::format("{:%FT%T}Z", std::chrono::floor<std::chrono::microseconds>(now)).c_str(),
        e.granted ? "grant" : "release", e.ue, displayName({run, e.device}).c_str());
    leaseLogDirty = true;
  }

  RunId run;
  RadioSpec spec;
  Prefix ue4, ue6;
  sys::UniqueFd tun;
  UeMux mux;
  Medium medium;
  std::vector<DeviceRadioCounters> counters;
  uint32_t groupSize = 0;  // isolation: group; its devices share their first device's address
  uint64_t droppedNoLease = 0, writeErrors = 0;
  std::FILE* leaseLog = nullptr;
  bool leaseLogDirty = false;
};

struct Forwarder::Scheduled {
  int64_t at;
  uint64_t sequence;
  RunId run;
  bool up;
  uint32_t device, ue;
  IpHeader header;  // of `packet`
  std::vector<uint8_t> packet;
  // For a min-heap with std::push_heap: the later one is "less".
  bool operator<(const Scheduled& o) const {
    return at != o.at ? at > o.at : sequence > o.sequence;
  }
};

Result<std::unique_ptr<Forwarder>> Forwarder::start(int radioNetnsFd, std::string stateDir) {
  std::unique_ptr<Forwarder> f(new Forwarder());
  f->radioNetnsFd_ = radioNetnsFd;
  f->stateDir_ = std::move(stateDir);
  f->epoll_ = sys::UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  if (!f->epoll_) return failSys("epoll_create1");
  f->wake_ = sys::UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!f->wake_) return failSys("eventfd");
  {
    auto guard = sys::netns::ThreadGuard::enter(radioNetnsFd);
    if (!guard) return fail(guard.error().context("enter radio namespace"));
    auto tun = sys::openTun(kRadioTun);
    if (!tun) return fail(tun.error());
    f->radioTun_ = std::move(*tun);
    auto nl = sys::Netlink::open();
    if (!nl) return fail(nl.error());
    // The radio namespace turns IPv6 off for new links; the tun carries the devices' IPv6.
    KUIGA_TRY(
        sys::writeFile(std::string("/proc/sys/net/ipv6/conf/") + kRadioTun + "/disable_ipv6", "0"),
        "radio tun");
    KUIGA_TRY(nl->setUp(kRadioTun, true, false), "radio tun");
    KUIGA_TRY(sys::writeFile("/proc/sys/net/ipv4/ip_forward", "1"), "forwarding");
    KUIGA_TRY(sys::writeFile("/proc/sys/net/ipv6/conf/all/forwarding", "1"), "forwarding");
    // Whatever leaves the radio network goes to the Plexer.
    KUIGA_TRY(nl->addRoute("0.0.0.0/0", kRadioTun), "radio tun");
    KUIGA_TRY(nl->addRoute("::/0", kRadioTun), "radio tun");
    // Also what a device sends to another run's devices (openGateway()'s rules).
    KUIGA_TRY(nl->addRoute("0.0.0.0/0", kRadioTun, {}, kDeviceTable), "radio tun");
    KUIGA_TRY(nl->addRoute("::/0", kRadioTun, {}, kDeviceTable), "radio tun");
  }
  for (auto [fd, key] : {std::pair{f->radioTun_.get(), kRadioKey}, {f->wake_.get(), kWakeKey}}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = key;
    if (::epoll_ctl(f->epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) return failSys("epoll_ctl");
  }
  f->thread_ = std::jthread([p = f.get()](std::stop_token st) { p->loop(st); });
  return f;
}

Forwarder::~Forwarder() {
  thread_.request_stop();
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

VoidResult Forwarder::addCell(RunId run, const RadioSpec& given, uint32_t groupSize) {
  std::lock_guard lock(mu_);
  if (auto it = cells_.find(run); it != cells_.end()) {
    if (sameSpec(it->second->spec, given)) return {};
    return failMsg(fmt::format("run {} already has a radio cell with another spec", run));
  }
  RadioSpec spec = given;
  UeConfig ueConfig = spec.ue;
  ueConfig.ues = spec.ues.value_or(kMaxInstancesPerRun);
  MediumConfig mediumConfig = spec.medium;
  mediumConfig.seed = spec.seed.value_or(0);
  auto cell = std::make_unique<Cell>(run, spec, ueConfig, mediumConfig);
  cell->groupSize = groupSize;
  cell->ue4 = spec.ueIpv4.value_or(defaultUeIpv4(run));
  cell->ue6 = spec.ueIpv6.value_or(defaultUeIpv6(run));
  for (const auto* p : {&cell->ue4, &cell->ue6})
    if (!p->host(ueConfig.ues - 1))
      return failMsg(fmt::format("radio: prefix {} has fewer than {} addresses for the UEs",
                                 p->toString(), ueConfig.ues));

  const std::string path = "/run/netns/" + spec.uplink;
  auto uplinkNs = sys::netns::openPinned(path);
  if (!uplinkNs)
    return failMsg(fmt::format("radio uplink: no network namespace '{}' ({})", spec.uplink,
                               uplinkNs.error().message));
  const std::string tunName = uplinkTunName(run);
  {
    auto guard = sys::netns::ThreadGuard::enter(uplinkNs->get());
    if (!guard) return fail(guard.error().context("enter uplink namespace " + spec.uplink));
    auto tun = sys::openTun(tunName);
    if (!tun) return fail(tun.error().context("radio uplink " + spec.uplink));
    cell->tun = std::move(*tun);
    auto nl = sys::Netlink::open();
    if (!nl) return fail(nl.error());
    (void)sys::writeFile("/proc/sys/net/ipv6/conf/" + tunName + "/disable_ipv6", "0");
    KUIGA_TRY(nl->setUp(tunName, true, false), "radio uplink " + spec.uplink);
    KUIGA_TRY(nl->addRoute(cell->ue4.toString(), tunName), "radio uplink " + spec.uplink);
    KUIGA_TRY(nl->addRoute(cell->ue6.toString(), tunName), "radio uplink " + spec.uplink);
  }
  KUIGA_TRY(openGateway(radioNetnsFd_, run), "radio cell");
  nlohmann::json saved = spec.toJson();
  if (groupSize > 0) saved["group_size"] = groupSize;  // not the user's: restore() takes it out
  if (auto w = sys::replaceFile(specPath(stateDir_, run), saved.dump()); !w)
    return fail(w.error().context("radio cell"));
  cell->leaseLog = std::fopen(leaseLogPath(run).c_str(), "ae");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kCellKey | run;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, cell->tun.get(), &ev) < 0)
    return failSys("epoll_ctl");
  spdlog::info("plexer: run {} cell up: {} UEs ({} / {}) toward network namespace {}", run,
               ueConfig.ues, cell->ue4.toString(), cell->ue6.toString(), spec.uplink);
  cells_[run] = std::move(cell);
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  return {};
}

namespace {
std::array<std::string, 2> gatewayAddresses(RunId run) {
  return {gatewayIpv4(run) + "/" + std::to_string(kIpv4PrefixLen),
          gatewayIpv6(run) + "/" + std::to_string(kIpv6PrefixLen)};
}
}  // namespace

VoidResult openGateway(int radioNetnsFd, RunId run) {
  auto nl = sys::Netlink::openIn(radioNetnsFd);
  if (!nl) return fail(nl.error().context("radio namespace"));
  const std::string core = runCoreLink(run);
  for (const auto& a : gatewayAddresses(run)) {
    auto r = nl->addAddress(core, a);
    if (!r && r.error().code != EEXIST) return fail(r.error().context("radio gateway"));
  }
  // Without these rules, what a device sends to another run's devices would be routed straight
  // back into the radio namespace's bridges (each run's gateway address makes its /16 a
  // connected route here), past the Plexer.
  for (int family : {AF_INET, AF_INET6})
    KUIGA_TRY(nl->addRule(family, core, kDeviceTable, kDeviceRulePriority), "radio rule");
  return {};
}

VoidResult closeGateway(int radioNetnsFd, RunId run) {
  auto nl = sys::Netlink::openIn(radioNetnsFd);
  if (!nl) return fail(nl.error().context("radio namespace"));
  for (int family : {AF_INET, AF_INET6})
    KUIGA_TRY(nl->deleteRule({.family = family,
                              .iif = runCoreLink(run),
                              .from = {},
                              .to = {},
                              .table = kDeviceTable,
                              .priority = kDeviceRulePriority}),
              "radio rule");
  // The addresses too: a core whose run's cell moved to another host keeps its bridge.
  for (const auto& a : gatewayAddresses(run))
    if (auto r = nl->deleteAddress(runCoreLink(run), a); !r && r.error().code != ENODEV)
      return fail(r.error().context("radio gateway"));
  return {};
}

void Forwarder::removeCell(RunId run) {
  std::lock_guard lock(mu_);
  auto it = cells_.find(run);
  if (it == cells_.end()) return;
  (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second->tun.get(), nullptr);
  cells_.erase(it);  // closing the tun removes it and its routes
  std::error_code ec;
  std::filesystem::remove(specPath(stateDir_, run), ec);
  std::erase_if(schedule_, [&](const Scheduled& s) { return s.run == run; });
  std::make_heap(schedule_.begin(), schedule_.end());
}

Result<uint64_t> Forwarder::gatewayDrops() const {
  auto nl = sys::Netlink::openIn(radioNetnsFd_);
  if (!nl) return fail(nl.error());
  auto tun = nl->link(kRadioTun);
  if (!tun) return fail(tun.error());
  return tun->txDropped;
}

std::optional<CellReport> Forwarder::report(RunId run) {
  std::lock_guard lock(mu_);
  auto it = cells_.find(run);
  if (it == cells_.end()) return std::nullopt;
  const Cell& c = *it->second;
  CellReport r;
  r.run = run;
  r.uplink = c.spec.uplink;
  r.ues = c.mux.config().ues;
  r.ue = c.mux.counters();
  r.medium = c.medium.counters();
  r.activeDevices = c.medium.activeDevices();
  r.droppedNoLease = c.droppedNoLease;
  r.writeErrors = c.writeErrors;
  for (uint32_t i = 0; i < c.counters.size(); ++i)
    if (c.counters[i].sentFrames || c.counters[i].downFrames || c.counters[i].droppedLoss ||
        c.counters[i].droppedActiveCap || c.counters[i].droppedMediumQueue)
      r.devices[i] = c.counters[i];
  return r;
}

Forwarder::Restored Forwarder::restore() {
  Restored out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(stateDir_, ec)) {
    unsigned run = 0;
    // Exactly the names specPath() makes (not a leftover "….radio.json.tmp").
    if (std::sscanf(e.path().filename().c_str(), "run-%u", &run) != 1 ||
        e.path().filename() != std::filesystem::path(specPath(stateDir_, run)).filename())
      continue;
    auto opened = [&]() -> VoidResult {
      auto text = sys::readFile(e.path());
      if (!text) return fail(text.error());
      auto saved = nlohmann::json::parse(*text, nullptr, false);
      uint32_t groupSize = 0;
      if (saved.is_object() && saved.contains("group_size")) {
        auto given = wholeNumber<uint32_t>(saved["group_size"]);
        if (!given || *given > kMaxGroupSize)
          return failMsg(fmt::format("{}: group_size is not between 0 and {}", e.path().string(),
                                     kMaxGroupSize));
        groupSize = *given;
        saved.erase("group_size");
      }
      auto spec = RadioSpec::fromJson(saved);
      if (!spec) return fail(spec.error().context(e.path().string()));
      return addCell(run, *spec, groupSize);
    }();
    if (opened)
      ++out.cells;
    else
      out.failed.push_back(
          opened.error().context("reopen the radio cell of run " + std::to_string(run)));
  }
  return out;
}

std::string Forwarder::leaseLogPath(RunId run) const {
  return fmt::format("{}/run-{}.leases", stateDir_, run);
}

std::vector<RunId> Forwarder::cells() const {
  std::lock_guard lock(mu_);
  std::vector<RunId> out;
  for (const auto& [run, cell] : cells_) out.push_back(run);
  return out;
}

Forwarder::Cell* Forwarder::cellFor(std::span<const uint8_t> packet, const IpHeader& h,
                                    uint32_t* index) {
  auto dev = deviceOf(h.source);
  if (!dev) return nullptr;
  // IPv4 addresses carry the run modulo 256, IPv6 ones modulo 65536.
  const uint32_t mask = h.source.family == 4 ? 0xff : 0xffff;
  for (auto& [run, cell] : cells_) {
    if ((run & mask) != dev->run) continue;
    *index = dev->index;
    // A group's devices share its first device's address and are told apart by their source
    // port, devicePort() ({port}). A packet from another port (an ephemeral one, a fragment
    // without the transport header) is counted against the group's first device; what comes
    // back reaches its socket all the same, by port, in the group's one namespace.
    if (cell->groupSize > 0 && h.firstFragment &&
        (h.protocol == IPPROTO_UDP || h.protocol == IPPROTO_TCP) &&
        packet.size() >= h.transportOffset + 2) {
      const auto port =
          static_cast<uint16_t>(packet[h.transportOffset] << 8 | packet[h.transportOffset + 1]);
      if (auto device = deviceOfPort(*dev, port, cell->groupSize)) *index = device->index;
    }
    return cell.get();
  }
  return nullptr;
}

void Forwarder::deliver(Cell& cell, bool up, uint32_t device, uint32_t ue,
                        std::span<uint8_t> packet, const IpHeader& h) {
  int fd;
  auto& c = cell.device(device);
  if (up) {
    auto addr = (h.family == 4 ? cell.ue4 : cell.ue6).host(ue);
    if (!addr) return;
    if (h.family == 6 && h.source.bytes[1] == 0x6c)  // fd6c: a Contiki device's own prefix
      cell.ownSource6[device] = h.source;
    else if (h.family == 6 && !cell.ownSource6.empty())
      cell.ownSource6.erase(device);
    rewriteAddress(packet, h, true, *addr);
    fd = cell.tun.get();
    ++c.upFrames;
    c.upBytes += packet.size();
  } else {
    auto own = h.family == 6 && !cell.ownSource6.empty() ? cell.ownSource6.find(device)
                                                         : cell.ownSource6.end();
    const InstanceId to = addressHolder({cell.run, device}, cell.groupSize);
    rewriteAddress(packet, h, false,
                   own != cell.ownSource6.end() ? own->second : deviceAddress(to, h.family));
    fd = radioTun_.get();
    ++c.downFrames;
    c.downBytes += packet.size();
  }
  if (::write(fd, packet.data(), packet.size()) < 0) ++cell.writeErrors;
}

void Forwarder::transmit(Cell& cell, bool up, uint32_t device, uint32_t ue,
                         std::span<uint8_t> packet, const IpHeader& h, int64_t now) {
  auto d = cell.medium.transmit(device, packet.size(), now);
  auto& c = cell.device(device);
  switch (d.verdict) {
    case Medium::Verdict::Loss:
      ++c.droppedLoss;
      return;
    case Medium::Verdict::ActiveCap:
      ++c.droppedActiveCap;
      return;
    case Medium::Verdict::QueueFull:
      ++c.droppedMediumQueue;
      return;
    case Medium::Verdict::Deliver:
      break;
  }
  if (d.deliverAtNs <= now) return deliver(cell, up, device, ue, packet, h);
  schedule_.push_back({d.deliverAtNs, sequence_++, cell.run, up, device, ue, h,
                       std::vector<uint8_t>(packet.begin(), packet.end())});
  std::push_heap(schedule_.begin(), schedule_.end());
}

void Forwarder::handleRadio(int64_t now) {
  static thread_local std::vector<uint8_t> buf(kMaxPacket);
  for (int n = 0; n < kBatch; ++n) {
    ssize_t len = ::read(radioTun_.get(), buf.data(), buf.size());
    if (len <= 0) return;
    std::span<uint8_t> packet(buf.data(), static_cast<size_t>(len));
    auto h = parseIp(packet);
    uint32_t index = 0;
    Cell* cell = h ? cellFor(packet, *h, &index) : nullptr;
    if (!cell) continue;  // a device of a run without a radio, or not IP: nowhere to go
    auto& c = cell->device(index);
    ++c.sentFrames;
    c.sentBytes += packet.size();
    auto offer = cell->mux.offer(index, packet, now);
    switch (offer.outcome) {
      case UeMux::Outcome::Send:
        transmit(*cell, true, index, offer.ue, packet, *h, now);
        break;
      case UeMux::Outcome::Queued:
        ++c.queuedFrames;
        break;
      case UeMux::Outcome::DroppedNoUe:
        ++c.droppedNoUe;
        break;
      case UeMux::Outcome::DroppedQueueFull:
        ++c.droppedUeQueueFull;
        break;
    }
  }
}

void Forwarder::handleUplink(Cell& cell, int64_t now) {
  static thread_local std::vector<uint8_t> buf(kMaxPacket);
  for (int n = 0; n < kBatch; ++n) {
    ssize_t len = ::read(cell.tun.get(), buf.data(), buf.size());
    if (len <= 0) return;
    std::span<uint8_t> packet(buf.data(), static_cast<size_t>(len));
    auto h = parseIp(packet);
    std::optional<uint32_t> ue;
    if (h) ue = (h->family == 4 ? cell.ue4 : cell.ue6).hostIndex(h->destination);
    // Not for a UE: the uplink namespace's own chatter (multicast listener reports).
    if (!ue) continue;
    std::optional<uint32_t> device = cell.mux.holder(*ue);
    if (!device) {
      ++cell.droppedNoLease;
      continue;
    }
    cell.mux.touch(*ue, now);
    transmit(cell, false, *device, *ue, packet, *h, now);
  }
}

int64_t Forwarder::serviceTimers(int64_t now) {
  int64_t next = now + 1'000'000'000;
  for (auto& [run, cell] : cells_) {
    // The queue keeps bytes only: a queued frame is parsed again.
    for (auto& ready : cell->mux.advance(now))
      if (auto h = parseIp(ready.frame))
        transmit(*cell, true, ready.device, ready.ue, ready.frame, *h, now);
    if (auto d = cell->mux.nextDeadline()) next = std::min(next, *d);
    if (cell->leaseLogDirty) {
      std::fflush(cell->leaseLog);
      cell->leaseLogDirty = false;
    }
  }
  while (!schedule_.empty() && schedule_.front().at <= now) {
    std::pop_heap(schedule_.begin(), schedule_.end());
    Scheduled s = std::move(schedule_.back());
    schedule_.pop_back();
    if (auto it = cells_.find(s.run); it != cells_.end())
      deliver(*it->second, s.up, s.device, s.ue, s.packet, s.header);
  }
  if (!schedule_.empty()) next = std::min(next, schedule_.front().at);
  return next;
}

void Forwarder::loop(std::stop_token stop) {
  int64_t deadline = monotonicNs() + 1'000'000'000;
  epoll_event events[16];
  while (!stop.stop_requested()) {
    int64_t wait = std::max<int64_t>(0, deadline - monotonicNs());
    timespec ts{static_cast<time_t>(wait / 1'000'000'000), static_cast<long>(wait % 1'000'000'000)};
    int n = ::epoll_pwait2(epoll_.get(), events, 16, &ts, nullptr);
    if (n < 0 && errno != EINTR) {
      spdlog::error("plexer: epoll: {}", std::strerror(errno));
      return;
    }
    std::lock_guard lock(mu_);
    const int64_t now = monotonicNs();
    for (int i = 0; i < n; ++i) {
      uint64_t key = events[i].data.u64;
      if (key == kRadioKey) {
        handleRadio(now);
      } else if (key == kWakeKey) {
        uint64_t v;
        (void)!::read(wake_.get(), &v, sizeof v);
      } else if (auto it = cells_.find(static_cast<RunId>(key & 0xffffffff)); it != cells_.end()) {
        handleUplink(*it->second, now);
      }
    }
    deadline = serviceTimers(now);
  }
}

}  // namespace kuiga::plexer
