#include "plexer/zep/dispatcher.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/json_number.hpp"
#include "plexer/uplink/forwarder.hpp"
#include "plexer/uplink/packet.hpp"
#include "spec/identity.hpp"
#include "spec/net_mode.hpp"
#include "sys/file.hpp"
#include "sys/netns.hpp"
#include "sys/process.hpp"

namespace kuiga::plexer {

namespace {

int64_t clockNs(clockid_t c) {
  timespec ts{};
  clock_gettime(c, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Result<sys::UniqueFd> bindUdp(int family, uint16_t port) {
  sys::UniqueFd fd(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return failSys("socket");
  int one = 1;
  if (family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  // Many frames arrive at once from a thousand nodes: room for a burst.
  int buf = 4 << 20;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    len = sizeof(sockaddr_in);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) < 0)
    return failSys(fmt::format("bind UDP port {}", port));
  return fd;
}

IpAddress addressOf(const sockaddr_storage& ss) {
  IpAddress a;
  if (ss.ss_family == AF_INET) {
    a.family = 4;
    std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, 4);
  } else {
    a.family = 6;
    std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, 16);
  }
  return a;
}

uint16_t portOf(const sockaddr_storage& ss) {
  return ntohs(ss.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in&>(ss).sin_port
                                       : reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
}

}  // namespace

Result<std::unique_ptr<ZepDispatcher>> ZepDispatcher::start(int radioNetnsFd, std::string dir,
                                                            uint16_t port) {
  std::unique_ptr<ZepDispatcher> d(new ZepDispatcher());
  d->radioNetnsFd_ = radioNetnsFd;
  d->dir_ = std::move(dir);
  std::error_code ec;
  std::filesystem::create_directories(d->dir_, ec);
  if (ec) return failMsg(fmt::format("create '{}': {}", d->dir_, ec.message()));
  {
    auto guard = sys::netns::ThreadGuard::enter(radioNetnsFd);
    if (!guard) return fail(guard.error().context("ZEP dispatcher"));
    auto v4 = bindUdp(AF_INET, port);
    if (!v4) return fail(v4.error().context("ZEP dispatcher"));
    auto v6 = bindUdp(AF_INET6, port);
    if (!v6) return fail(v6.error().context("ZEP dispatcher"));
    d->v4_ = std::move(*v4);
    d->v6_ = std::move(*v6);
  }
  d->wake_ = sys::UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!d->wake_) return failSys("eventfd");
  d->thread_ = std::jthread([p = d.get()](std::stop_token st) { p->loop(st); });
  return d;
}

ZepDispatcher::~ZepDispatcher() {
  thread_.request_stop();
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

VoidResult ZepDispatcher::addRun(RunId run, const ZepSpec& spec, uint32_t count, uint64_t runSeed,
                                 uint32_t groupSize) {
  std::lock_guard lock(mu_);
  if (runs_.contains(run)) return {};
  auto topo = topologyOf(spec, run, count, runSeed);
  if (!topo) return fail(topo.error());
  KUIGA_TRY(openGateway(radioNetnsFd_, run), "ZEP radio");
  auto r = std::make_unique<Run>();
  r->id = run;
  r->cell = std::make_unique<ZepCell>(
      std::move(*topo),
      ZepCellConfig{.channelQueue = spec.channelQueue, .seed = spec.seed.value_or(runSeed)});
  r->address.resize(count);
  r->unreachable.resize(count);
  r->sendErrors.resize(count);
  r->malformed.resize(count);
  r->hellos.resize(count);
  r->ownAcks.resize(count);
  r->dispatcherAcks = spec.acks == ZepSpec::Acks::Dispatcher;
  r->groupSize = groupSize;
  // A worker that restarts while the run goes on keeps the capture it had, and starts a new
  // file after it (names sort in time order).
  const std::string prefix = fmt::format("run-{}-zep-", run);
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0 && e.path().extension() == ".pcapng")
      r->earlierFiles.push_back(e.path().string());
  std::sort(r->earlierFiles.begin(), r->earlierFiles.end());
  auto w = PcapngWriter::open(fmt::format("{}/{}{:019d}", dir_, prefix, clockNs(CLOCK_REALTIME)), 0,
                              kLinkTypeIeee802154WithFcs);
  if (!w) return fail(w.error().context("ZEP capture"));
  for (uint32_t k = 0; k < count; ++k)
    if (auto i = w->addInterface(displayName({run, k})); !i) return fail(i.error());
  r->pcap.emplace(std::move(*w));
  // Kept for a worker that restarts while the run goes on.
  nlohmann::json saved = {
      {"spec", spec.toJson()}, {"count", count}, {"seed", runSeed}, {"group_size", groupSize}};
  KUIGA_TRY(sys::replaceFile(specPath(run), saved.dump()), "ZEP radio");
  runs_[run] = std::move(r);
  return {};
}

void ZepDispatcher::removeRun(RunId run) {
  std::lock_guard lock(mu_);
  auto it = runs_.find(run);
  if (it == runs_.end()) return;
  std::error_code ec;
  for (const auto& f : it->second->pcap->files()) std::filesystem::remove(f, ec);
  for (const auto& f : it->second->earlierFiles) std::filesystem::remove(f, ec);
  std::filesystem::remove(specPath(run), ec);
  runs_.erase(it);
}

std::string ZepDispatcher::specPath(RunId run) const {
  return fmt::format("{}/run-{}.zep.json", dir_, run);
}

std::vector<Error> ZepDispatcher::restore() {
  std::vector<Error> failed;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    unsigned run = 0;
    // Exactly the names specPath() makes (not a leftover ".tmp").
    if (std::sscanf(e.path().filename().c_str(), "run-%u", &run) != 1 ||
        e.path().string() != specPath(run))
      continue;
    auto opened = [&]() -> VoidResult {
      auto text = sys::readFile(e.path());
      if (!text) return fail(text.error());
      auto j = nlohmann::json::parse(*text, nullptr, false);
      if (!j.is_object() || !j.contains("spec") || !j.contains("count") || !j.contains("seed"))
        return failMsg(e.path().string() + " is damaged");
      auto count = wholeNumber<uint32_t>(j["count"]);
      auto seed = wholeNumber<uint64_t>(j["seed"]);
      auto groupSize = j.contains("group_size") ? wholeNumber<uint32_t>(j["group_size"])
                                                : std::optional<uint32_t>(0);
      if (!count || !seed || !groupSize || *groupSize > kMaxGroupSize)
        return failMsg(e.path().string() + " is damaged");
      auto spec = ZepSpec::fromJson(j["spec"]);
      if (!spec) return fail(spec.error());
      return addRun(run, *spec, *count, *seed, *groupSize);
    }();
    if (!opened)
      failed.push_back(
          opened.error().context("reopen the ZEP radio of run " + std::to_string(run)));
  }
  return failed;
}

size_t ZepDispatcher::pending() const {
  std::lock_guard lock(mu_);
  return schedule_.size();
}

std::vector<RunId> ZepDispatcher::runs() const {
  std::lock_guard lock(mu_);
  std::vector<RunId> out;
  for (const auto& [id, r] : runs_) out.push_back(id);
  return out;
}

std::optional<std::vector<ZepDeviceReport>> ZepDispatcher::report(RunId run) const {
  std::lock_guard lock(mu_);
  auto it = runs_.find(run);
  if (it == runs_.end()) return std::nullopt;
  const Run& r = *it->second;
  std::vector<ZepDeviceReport> out;
  for (uint32_t k = 0; k < r.address.size(); ++k)
    out.push_back({k, r.cell->counters(k), r.unreachable[k], r.sendErrors[k], r.malformed[k],
                   r.hellos[k], r.ownAcks[k], r.address[k].has_value()});
  return out;
}

std::vector<std::pair<std::string, uint64_t>> ZepDispatcher::files(RunId run) {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, uint64_t>> out;
  auto it = runs_.find(run);
  if (it == runs_.end()) return out;
  (void)it->second->pcap->flush();
  std::vector<std::string> all = it->second->earlierFiles;
  for (const auto& f : it->second->pcap->files()) all.push_back(f);
  for (const auto& f : all) {
    std::error_code ec;
    auto size = std::filesystem::file_size(f, ec);
    if (!ec) out.emplace_back(f, size);
  }
  return out;
}

ZepDispatcher::Run* ZepDispatcher::runOf(const sockaddr_storage& from, uint32_t& index) {
  auto addr = addressOf(from);
  auto id = deviceOf(addr);
  if (!id) return nullptr;
  // An IPv4 address carries the run modulo 256, an IPv6 one modulo 65536.
  uint32_t mod = addr.family == 4 ? 256 : 65536;
  const uint16_t port = portOf(from);
  for (auto& [run, r] : runs_) {
    if (run % mod != id->run) continue;
    // A group's devices share its first device's address; each sends from its own port
    // ({zep} binds it). Any other port is no device's: its frames could not be told apart
    // from its neighbours'.
    auto device = deviceOfPort(*id, port, r->groupSize);
    if (!device) continue;
    const uint32_t k = device->index;
    if (k < r->address.size()) {
      index = k;
      return r.get();
    }
  }
  return nullptr;
}

void ZepDispatcher::learn(Run& r, uint32_t index, const zep::MacAddress& a) {
  if (a.mode == zep::MacAddress::Mode::Extended) {
    r.extended[a.value] = index;
    // RIOT's short address is the last two bytes of the long one, until it is set otherwise.
    r.shortAddr.emplace(static_cast<uint16_t>(a.value), index);
  } else if (a.mode == zep::MacAddress::Mode::Short && !a.broadcast()) {
    r.shortAddr[static_cast<uint16_t>(a.value)] = index;
  }
}

std::optional<uint32_t> ZepDispatcher::indexOf(const Run& r, const zep::MacAddress& a) {
  if (a.mode == zep::MacAddress::Mode::Extended) {
    if (auto it = r.extended.find(a.value); it != r.extended.end()) return it->second;
    // The EUI-64 Kuiga gives the device (--eui64), before it has sent anything.
    auto id = instanceOfEui64(a.value);
    if (id && id->run == r.id % 65536 && id->index < r.address.size()) return id->index;
  } else if (a.mode == zep::MacAddress::Mode::Short && !a.broadcast()) {
    if (auto it = r.shortAddr.find(static_cast<uint16_t>(a.value)); it != r.shortAddr.end())
      return it->second;
  }
  return std::nullopt;
}

void ZepDispatcher::receive(int fd, int64_t now) {
  const int64_t wall = clockNs(CLOCK_REALTIME);
  for (int burst = 0; burst < 256; ++burst) {
    auto buf = std::make_shared<std::vector<uint8_t>>(zep::kDataHeaderBytes + zep::kMaxPsdu + 64);
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    ssize_t n =
        ::recvfrom(fd, buf->data(), buf->size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return;  // EAGAIN: drained
    buf->resize(static_cast<size_t>(n));
    uint32_t index = 0;
    Run* r = runOf(from, index);
    if (!r) {
      ++unplaceable_;
      continue;
    }
    // A device that speaks another ZEP version, or sends ZEP acks or garbage, is counted
    // against itself: its user sees which device is misconfigured.
    auto p = zep::parse(*buf);
    if (!p || p->type == zep::Type::Ack) {
      ++r->malformed[index];
      continue;
    }
    r->address[index] = from;
    if (p->type == zep::Type::Hello) {
      ++r->hellos[index];
      learn(*r, index, {zep::MacAddress::Mode::Extended, p->eui64});
      continue;
    }
    frame(*r, index, buf, *p, now, wall);
  }
}

void ZepDispatcher::frame(Run& r, uint32_t index,
                          const std::shared_ptr<std::vector<uint8_t>>& datagram,
                          const zep::Packet& p, int64_t now, int64_t wall) {
  ZepFrame f{.psduBytes = p.psdu.size()};
  auto mac = zep::macHeader(p.psdu);
  if (mac) {
    learn(r, index, mac->source);
    if (mac->type == zep::FrameType::Ack && r.dispatcherAcks) {
      ++r.ownAcks[index];  // late, and already given by the dispatcher
      return;
    }
    if (mac->type != zep::FrameType::Ack) f.sequence = mac->sequence;
    if (mac->ackRequest && r.dispatcherAcks)
      if (auto to = indexOf(r, mac->destination); to && *to != index) f.ackFrom = *to;
  }
  if (r.pcap)
    (void)r.pcap->write(index, wall, p.psdu, static_cast<uint32_t>(p.psdu.size()), Direction::Sent);
  auto out = r.cell->send(index, f, now);
  if (out.acked) {
    // From the sender's point of view its frame has left the air (its MAC reported the
    // transmission done when it wrote it): the ACK is due now.
    auto ack = zep::immAck(mac->sequence);
    auto packet = zep::dataPacket(ack, p.channel, p.ntpTime, p.sequence);
    if (r.pcap)
      (void)r.pcap->write(*f.ackFrom, wall, ack, static_cast<uint32_t>(ack.size()),
                          Direction::Sent);
    sendTo(r, index, packet, ack, wall);
  }
  if (!out.onAir || out.receivers.empty()) return;
  schedule_.push({out.deliverAtNs, order_++, r.id, datagram, p.psdu.size(),
                  std::make_shared<std::vector<uint32_t>>(std::move(out.receivers))});
}

void ZepDispatcher::sendTo(Run& r, uint32_t to, std::span<const uint8_t> datagram,
                           std::span<const uint8_t> psdu, int64_t wall) {
  const auto& addr = r.address[to];
  if (!addr) {
    ++r.unreachable[to];
    return;
  }
  int fd = addr->ss_family == AF_INET ? v4_.get() : v6_.get();
  socklen_t len = addr->ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<const sockaddr*>(&*addr),
               len) < 0) {
    ++r.sendErrors[to];
    return;
  }
  if (r.pcap)
    (void)r.pcap->write(to, wall, psdu, static_cast<uint32_t>(psdu.size()), Direction::Received);
}

void ZepDispatcher::deliver(const Delivery& d) {
  auto it = runs_.find(d.run);
  if (it == runs_.end()) return;
  Run& r = *it->second;
  const int64_t wall = clockNs(CLOCK_REALTIME);
  // Parsed when it arrived: the frame follows the header.
  std::span<const uint8_t> psdu(d.datagram->data() + zep::kDataHeaderBytes, d.psduBytes);
  sendCopies(r, *d.receivers, *d.datagram, psdu, wall);
}

// One frame to its receivers: sendmmsg() in batches, one system call for up to kBatch copies
// of one address family. At 50,000 nodes, about 62 receivers a frame, the dispatcher's CPU was
// mostly one sendto() per copy.
void ZepDispatcher::sendCopies(Run& r, std::span<const uint32_t> receivers,
                               std::span<const uint8_t> datagram, std::span<const uint8_t> psdu,
                               int64_t wall) {
  constexpr size_t kBatch = 256;
  struct Batch {
    int fd;
    socklen_t len;
    std::array<mmsghdr, kBatch> msgs{};
    std::array<uint32_t, kBatch> who{};
    size_t n = 0;
  };
  Batch v4{v4_.get(), sizeof(sockaddr_in)}, v6{v6_.get(), sizeof(sockaddr_in6)};
  iovec iov{const_cast<uint8_t*>(datagram.data()), datagram.size()};
  auto flush = [&](Batch& b) {
    for (size_t done = 0; done < b.n;) {
      int sent = ::sendmmsg(b.fd, b.msgs.data() + done, static_cast<unsigned>(b.n - done), 0);
      if (sent <= 0) {  // the first of those left failed: counted, and the rest go on
        ++r.sendErrors[b.who[done++]];
        continue;
      }
      if (r.pcap)
        for (size_t k = done; k < done + static_cast<size_t>(sent); ++k)
          (void)r.pcap->write(b.who[k], wall, psdu, static_cast<uint32_t>(psdu.size()),
                              Direction::Received);
      done += static_cast<size_t>(sent);
    }
    b.n = 0;
  };
  for (uint32_t to : receivers) {
    auto& addr = r.address[to];
    if (!addr) {
      ++r.unreachable[to];
      continue;
    }
    Batch& b = addr->ss_family == AF_INET ? v4 : v6;
    b.msgs[b.n].msg_hdr = {};
    b.msgs[b.n].msg_hdr.msg_name = &*addr;
    b.msgs[b.n].msg_hdr.msg_namelen = b.len;
    b.msgs[b.n].msg_hdr.msg_iov = &iov;
    b.msgs[b.n].msg_hdr.msg_iovlen = 1;
    b.who[b.n++] = to;
    if (b.n == kBatch) flush(b);
  }
  flush(v4);
  flush(v6);
}

void ZepDispatcher::loop(std::stop_token stop) {
  tid_ = ::gettid();
  // The dispatcher's timing is the radio's: an ACK must reach its sender within the MAC's
  // 864 us wait. A fair scheduler does not promise that on a busy machine: in a grid of 25
  // nodes on two cores, 1 answer in 40 went out twice because the ACK came late. So it runs
  // at a real-time priority, one above the capture reader's (which may drain a block of
  // thousands of frames at once, the ZEP datagrams among them): it preempts the instances and
  // the reader, and sleeps in ppoll() between datagrams; the kernel's real-time throttling
  // would stop a runaway. Without CAP_SYS_NICE: nice -10, or the default.
  if (auto r = sys::raiseThreadPriority(2); !r)
    spdlog::debug("plexer: cannot raise the ZEP dispatcher's priority: {}", r.error().message);
  while (!stop.stop_requested()) {
    int64_t timeoutNs = 1'000'000'000;
    {
      std::lock_guard lock(mu_);
      if (!schedule_.empty())
        timeoutNs = std::max<int64_t>(0, schedule_.top().at - clockNs(CLOCK_MONOTONIC));
    }
    pollfd fds[3] = {{v4_.get(), POLLIN, 0}, {v6_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    timespec ts{static_cast<time_t>(timeoutNs / 1'000'000'000),
                static_cast<long>(timeoutNs % 1'000'000'000)};
    int n = ::ppoll(fds, 3, &ts, nullptr);
    if (n < 0 && errno != EINTR) {
      spdlog::error("plexer: ZEP dispatcher: poll: {}", std::strerror(errno));
      return;
    }
    std::lock_guard lock(mu_);
    const int64_t now = clockNs(CLOCK_MONOTONIC);
    if (n > 0) {
      if (fds[0].revents & POLLIN) receive(v4_.get(), now);
      if (fds[1].revents & POLLIN) receive(v6_.get(), now);
      if (fds[2].revents & POLLIN) {
        uint64_t v;
        (void)!::read(wake_.get(), &v, sizeof v);
      }
    }
    while (!schedule_.empty() && schedule_.top().at <= clockNs(CLOCK_MONOTONIC)) {
      Delivery d = schedule_.top();
      schedule_.pop();
      deliver(d);
    }
  }
}

}  // namespace kuiga::plexer
