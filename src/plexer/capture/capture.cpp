#include "plexer/capture/capture.hpp"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sys/netns.hpp"
#include "sys/process.hpp"

namespace kuiga::plexer {

Result<std::unique_ptr<Capture>> Capture::open(int netnsFd, WriterFactory writers,
                                               CaptureConfig config) {
  int raw;
  {
    // The socket belongs to the namespace it is created in, for its whole life.
    auto guard = sys::netns::ThreadGuard::enter(netnsFd);
    if (!guard) return fail(guard.error().context("capture"));
    raw = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (raw < 0) return failSys("capture: socket(AF_PACKET)");
  }
  sys::UniqueFd fd(raw);
  int version = TPACKET_V3;
  if (::setsockopt(raw, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0)
    return failSys("capture: PACKET_VERSION TPACKET_V3");
  tpacket_req3 req{};
  req.tp_block_size = config.blockBytes;
  req.tp_block_nr = config.blocks;
  req.tp_frame_size = 2048;
  req.tp_frame_nr = config.blockBytes / req.tp_frame_size * config.blocks;
  req.tp_retire_blk_tov = config.retireMs;
  if (::setsockopt(raw, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0)
    return failSys("capture: PACKET_RX_RING");
  size_t len = static_cast<size_t>(config.blockBytes) * config.blocks;
  void* map = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, raw, 0);
  if (map == MAP_FAILED) map = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, raw, 0);
  if (map == MAP_FAILED) return failSys("capture: mmap ring");
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = 0;  // every interface of the namespace
  if (::bind(raw, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    int err = errno;
    ::munmap(map, len);
    return failSys("capture: bind", err);
  }
  return std::unique_ptr<Capture>(new Capture(std::move(fd), std::move(writers), config, map, len));
}

Capture::~Capture() {
  if (map_) ::munmap(map_, mapLen_);
}

VoidResult Capture::addDevice(int ifindex, const std::string& group, const std::string& name) {
  std::lock_guard lock(mu_);
  if (auto it = devices_.find(ifindex); it != devices_.end() && it->second.name == name) return {};
  auto w = writers_.find(group);
  if (w == writers_.end()) {
    auto made = factory_(group);
    if (!made) return fail(made.error());
    w = writers_.emplace(group, std::move(*made)).first;
  }
  auto id = w->second.addInterface(name);
  if (!id) return fail(id.error());
  devices_[ifindex] = {&w->second, *id, name, &stats_.devices[name]};
  return {};
}

VoidResult Capture::ignoreInterfaces(const std::vector<int>& ifindexes) {
  // Classic BPF: load the interface index, then for each ignored one "if equal, drop". Two
  // instructions per interface keep every jump short (offsets are 8 bits).
  std::vector<sock_filter> prog;
  prog.push_back(
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_IFINDEX)));
  for (int idx : ifindexes) {
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(idx), 0, 1));
    prog.push_back(BPF_STMT(BPF_RET | BPF_K, 0));
  }
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, 0xffffffff));
  if (prog.size() > BPF_MAXINSNS)
    return failMsg(fmt::format("capture: {} interfaces to ignore, too many for a socket filter",
                               ifindexes.size()));
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
  if (::setsockopt(fd_.get(), SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) < 0)
    return failSys("capture: SO_ATTACH_FILTER");
  return {};
}

void Capture::removeDevice(int ifindex) {
  std::lock_guard lock(mu_);
  devices_.erase(ifindex);
}

std::vector<std::pair<std::string, uint64_t>> Capture::snapshot(const std::string& group) {
  std::vector<std::pair<std::string, uint64_t>> out;
  drain();  // what the ring holds now belongs in the snapshot
  std::lock_guard lock(mu_);
  auto w = writers_.find(group);
  if (w == writers_.end()) return out;
  (void)w->second.flush();
  for (const auto& f : w->second.files()) {
    struct stat st {};
    if (::stat(f.c_str(), &st) == 0) out.emplace_back(f, static_cast<uint64_t>(st.st_size));
  }
  return out;
}

size_t Capture::drain() {
  std::lock_guard drainLock(drainMu_);
  size_t handled = 0;
  for (;;) {
    auto* bd = reinterpret_cast<tpacket_block_desc*>(static_cast<uint8_t*>(map_) +
                                                     nextBlock_ * config_.blockBytes);
    if (!(bd->hdr.bh1.block_status & TP_STATUS_USER)) break;
    std::lock_guard lock(mu_);
    auto* pkt = reinterpret_cast<tpacket3_hdr*>(reinterpret_cast<uint8_t*>(bd) +
                                                bd->hdr.bh1.offset_to_first_pkt);
    for (uint32_t i = 0; i < bd->hdr.bh1.num_pkts; ++i) {
      auto* ll = reinterpret_cast<sockaddr_ll*>(reinterpret_cast<uint8_t*>(pkt) +
                                                TPACKET_ALIGN(sizeof(tpacket3_hdr)));
      auto it = devices_.find(ll->sll_ifindex);
      if (it == devices_.end()) {
        ++stats_.otherFrames;
      } else {
        // Leaving the port toward the device: delivered to it; arriving from it: sent by it.
        Direction dir = ll->sll_pkttype == PACKET_OUTGOING ? Direction::Received : Direction::Sent;
        auto& c = *it->second.counters;  // no name lookup per frame
        if (dir == Direction::Sent) {
          ++c.sentFrames;
          c.sentBytes += pkt->tp_len;
        } else {
          ++c.deliveredFrames;
          c.deliveredBytes += pkt->tp_len;
        }
        ++stats_.frames;
        int64_t ns = int64_t{pkt->tp_sec} * 1000000000 + pkt->tp_nsec;
        std::span<const uint8_t> data(reinterpret_cast<uint8_t*>(pkt) + pkt->tp_mac,
                                      pkt->tp_snaplen);
        // The packet path never throws; a write error is kept and reported by flush().
        if (auto r = it->second.writer->write(it->second.interface, ns, data, pkt->tp_len, dir);
            !r && lastError_.empty())
          lastError_ = r.error().message;
      }
      pkt = reinterpret_cast<tpacket3_hdr*>(reinterpret_cast<uint8_t*>(pkt) + pkt->tp_next_offset);
    }
    bd->hdr.bh1.block_status = TP_STATUS_KERNEL;
    nextBlock_ = (nextBlock_ + 1) % config_.blocks;
    ++handled;
  }
  return handled;
}

void Capture::readKernelDrops() {
  tpacket_stats_v3 st{};
  socklen_t len = sizeof st;
  // Reading the statistics resets them, so they are added up here.
  if (::getsockopt(fd_.get(), SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
    std::lock_guard lock(mu_);
    stats_.ringDrops += st.tp_drops;
  }
}

void Capture::run(std::stop_token stop) {
  tid_ = ::gettid();
  // The ring buffers seconds, but under load a fair scheduler starves the reader: with
  // 10,000 senders on two cores thousands of tasks are runnable, a normal thread (even at
  // nice -10) got 0.2% of a CPU and the ring lost 80% of the frames. So the reader runs at
  // the lowest real-time priority: it preempts the instances, and it sleeps in poll() between
  // blocks (about 5% of a CPU at 50,000 frames/s), so it cannot starve them; the kernel's
  // real-time throttling would stop a runaway. Without CAP_SYS_NICE: nice -10, or the default.
  if (auto r = sys::raiseThreadPriority(1); !r)
    spdlog::debug("capture: cannot raise the reader's priority: {}", r.error().message);
  pollfd p{fd_.get(), POLLIN | POLLERR, 0};
  while (!stop.stop_requested()) {
    if (drain() == 0) ::poll(&p, 1, 100);
    readKernelDrops();
  }
  // Blocks still being filled are handed over within retireMs: wait for them once.
  ::poll(&p, 1, static_cast<int>(config_.retireMs) * 2);
  drain();
  readKernelDrops();
}

std::vector<std::pair<std::string, uint64_t>> Capture::closeGroup(const std::string& group) {
  auto files = snapshot(group);
  std::lock_guard lock(mu_);
  auto w = writers_.find(group);
  if (w == writers_.end()) return files;
  std::erase_if(devices_, [&](const auto& d) { return d.second.writer == &w->second; });
  // The devices of the group, by the names its writer gave their interfaces.
  for (const auto& name : w->second.interfaceNames()) stats_.devices.erase(name);
  writers_.erase(w);
  return files;
}

CaptureStats Capture::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

VoidResult Capture::flush() {
  std::lock_guard lock(mu_);
  if (!lastError_.empty()) return failMsg("capture: " + lastError_);
  for (auto& [group, w] : writers_) KUIGA_TRY(w.flush(), "capture " + group);
  return {};
}

}  // namespace kuiga::plexer
