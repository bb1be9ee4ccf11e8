#pragma once
// The Plexer's ZEP dispatcher: one UDP socket on port 17754 in the radio network namespace,
// where every run's devices send ZEP v2 to their gateway address. A device is known by its
// source address (the run's own address plan; in a run of groups, with its source port),
// learnt at its first frame (like RIOT's zep_dispatch, a device that never sent cannot be
// reached). Each frame goes through its run's ZepCell (airtime on one channel, the topology's
// seeded draws) and is sent on to each receiver when its airtime ends. Every frame is recorded in
// the run's pcapng as IEEE 802.15.4 with one interface per device: sent on the sender's, received
// on each receiver's.
//
// ACKs: a sender's MAC waits 864 us for the ACK after its own transmission, but the frame
// reaches its receiver only when its airtime here ends, and the receiver's ACK later still:
// every acknowledged frame would go out four times. So the dispatcher answers for the
// receiver (acks "dispatcher", the default): when the cell's draw delivers a frame that asks
// for an ACK to its destination, the sender gets the imm-ACK at once, the ACK takes its
// airtime on the channel, and the receiver's own ACK frames are dropped. A frame the draw
// loses is not acknowledged, so the sender retries as it would over the air. With acks
// "devices", the devices' ACKs travel like any frame (to show what a naive dispatcher does).
// A destination is known by the addresses its device sent from or said hello with.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <netinet/in.h>
#include <sys/types.h>

#include "common/result.hpp"
#include "plexer/capture/pcapng_writer.hpp"
#include "plexer/zep/cell.hpp"
#include "plexer/zep/datagram.hpp"
#include "spec/identity.hpp"
#include "spec/zep.hpp"
#include "sys/fd.hpp"

namespace kuiga::plexer {

struct ZepDeviceReport {
  uint32_t index = 0;
  ZepNodeCounters counters;
  uint64_t unreachable = 0;  // copies for it while it had not sent yet (its port unknown)
  uint64_t sendErrors = 0;   // copies for it the kernel would not send (its buffer full)
  uint64_t malformed = 0;    // datagrams from it that were not ZEP v2 data or hello packets
  uint64_t hellos = 0;       // ZEP hellos it sent (RIOT's socket_zep_hello)
  uint64_t ownAcks = 0;      // ACK frames it sent, dropped: the dispatcher acknowledged for it
  bool learnt = false;
};

class ZepDispatcher {
 public:
  // Binds 0.0.0.0:port (and [::]:port) inside the radio namespace; pcapng under `dir`. Each
  // run's devices send ZEP to its gateway addresses, on its core bridge (openGateway()).
  static Result<std::unique_ptr<ZepDispatcher>> start(int radioNetnsFd, std::string dir,
                                                      uint16_t port);
  ~ZepDispatcher();

  // Opens the run's radio (idempotent: an open run keeps its state). `groupSize`: the run's
  // (isolation: group), whose devices share an address and are told apart by source port
  // (devicePort()); 0 for isolated devices, known by their address alone.
  VoidResult addRun(RunId run, const ZepSpec& spec, uint32_t count, uint64_t runSeed,
                    uint32_t groupSize = 0);
  void removeRun(RunId run);
  // Reopens the runs whose radios were open when the worker stopped (their specs are kept in
  // the state directory); returns the errors of those it could not.
  std::vector<Error> restore();
  std::vector<RunId> runs() const;
  std::optional<std::vector<ZepDeviceReport>> report(RunId run) const;
  // The run's pcapng files and their sizes, flushed now.
  std::vector<std::pair<std::string, uint64_t>> files(RunId run);
  // Datagrams from an address that is no open run's device (another app, another address
  // plan, a run without a ZEP radio): worker-wide, since no run owns them.
  uint64_t unplaceable() const { return unplaceable_; }
  // Deliveries scheduled and not yet made (frames still on the air or waiting for it).
  size_t pending() const;
  // The dispatcher thread's id (for its CPU time in /proc), once it runs.
  pid_t threadId() const { return tid_; }

 private:
  struct Run {
    RunId id;
    std::unique_ptr<ZepCell> cell;
    std::vector<std::optional<sockaddr_storage>> address;  // learnt per device
    std::vector<uint64_t> unreachable, sendErrors, malformed, hellos, ownAcks;
    bool dispatcherAcks = true;
    uint32_t groupSize = 0;
    // 802.15.4 addresses the devices used, learnt from their frames and hellos.
    std::unordered_map<uint64_t, uint32_t> extended;
    std::unordered_map<uint16_t, uint32_t> shortAddr;
    std::optional<PcapngWriter> pcap;
    std::vector<std::string> earlierFiles;  // of this run before the worker restarted
  };
  struct Delivery {
    int64_t at;
    uint64_t order;
    RunId run;
    std::shared_ptr<std::vector<uint8_t>> datagram;  // as received (parsed: a ZEP v2 data packet)
    size_t psduBytes;  // the 802.15.4 frame's, after the 32-byte header
    std::shared_ptr<std::vector<uint32_t>> receivers;
    bool operator>(const Delivery& o) const { return at != o.at ? at > o.at : order > o.order; }
  };
  ZepDispatcher() = default;
  void loop(std::stop_token stop);
  void receive(int fd, int64_t now);
  void frame(Run& r, uint32_t index, const std::shared_ptr<std::vector<uint8_t>>& datagram,
             const zep::Packet& p, int64_t now, int64_t wall);
  void sendTo(Run& r, uint32_t to, std::span<const uint8_t> datagram, std::span<const uint8_t> psdu,
              int64_t wall);
  void deliver(const Delivery& d);
  void sendCopies(Run& r, std::span<const uint32_t> receivers, std::span<const uint8_t> datagram,
                  std::span<const uint8_t> psdu, int64_t wall);
  static void learn(Run& r, uint32_t index, const zep::MacAddress& a);
  static std::optional<uint32_t> indexOf(const Run& r, const zep::MacAddress& a);
  Run* runOf(const sockaddr_storage& from, uint32_t& index);
  std::string specPath(RunId run) const;

  int radioNetnsFd_ = -1;
  std::string dir_;
  sys::UniqueFd v4_, v6_, wake_;
  mutable std::mutex mu_;
  std::map<RunId, std::unique_ptr<Run>> runs_;
  std::priority_queue<Delivery, std::vector<Delivery>, std::greater<>> schedule_;
  uint64_t order_ = 0;
  std::atomic<uint64_t> unplaceable_{0};
  std::atomic<pid_t> tid_{0};
  std::jthread thread_;
};

}  // namespace kuiga::plexer
