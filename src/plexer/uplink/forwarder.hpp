#pragma once
// The Plexer's forwarding path between a worker's radio network and the base stations.
//
// Everything the devices send off the radio network is routed (by the radio namespace's
// kernel, to whose gateway address the devices route) into one tun device, `kpx0`. The
// forwarder reads those packets, finds the sending device from the source address, and passes
// them through its run's cell: a UE lease (UeMux), then the shared medium (Medium), then out of
// the cell's uplink tun in the base station's network namespace with the UE's address as the
// source. Return traffic to a UE address comes back through the uplink tun, goes to the device
// holding the lease, crosses the medium, and is written into `kpx0` with the device's address
// as the destination. Nothing else connects the radio network to any other network.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "plexer/uplink/medium.hpp"
#include "plexer/uplink/packet.hpp"
#include "plexer/uplink/ue_mux.hpp"
#include "spec/identity.hpp"
#include "spec/radio.hpp"
#include "sys/fd.hpp"

namespace kuiga::plexer {

struct DeviceRadioCounters {
  uint64_t sentFrames = 0, sentBytes = 0;  // packets the device sent toward the base station
  uint64_t upFrames = 0, upBytes = 0;      // of those, forwarded to the base station
  uint64_t downFrames = 0, downBytes = 0;  // from the base station, delivered to the device
  uint64_t queuedFrames = 0;               // waited for a UE
  // Dropped, by cause, in both directions.
  uint64_t droppedLoss = 0, droppedActiveCap = 0, droppedMediumQueue = 0;
  uint64_t droppedNoUe = 0, droppedUeQueueFull = 0;
};

struct CellReport {
  RunId run = 0;
  std::string uplink;
  uint32_t ues = 0;
  UeCounters ue;
  MediumCounters medium;
  uint32_t activeDevices = 0;
  uint64_t droppedNoLease = 0;  // return traffic to a UE nobody holds
  uint64_t writeErrors = 0;
  std::map<uint32_t, DeviceRadioCounters> devices;  // by instance index
};

// Puts run's gateway addresses (gatewayIpv4/6) on the run's core bridge (runCoreLink(run),
// which must exist) in the radio namespace: where the devices' off-link packets go, and where
// the ZEP dispatcher listens for them. Packets arriving on that bridge are routed by
// kDeviceTable, toward the Plexer. Idempotent.
VoidResult openGateway(int radioNetnsFd, RunId run);
// Removes what openGateway() added that does not go with the bridge (its routing rules).
VoidResult closeGateway(int radioNetnsFd, RunId run);
// The radio namespace's routing table for packets from the devices (after the local table: the
// gateway addresses themselves still answer).
constexpr uint32_t kDeviceTable = 107;

class Forwarder {
 public:
  static constexpr const char* kRadioTun = "kpx0";

  // Sets up the radio side inside `radioNetnsFd`: the tun, default routes to it, forwarding.
  // The cells' specs (for a restarted worker) and lease logs (`run-R.leases`) go to
  // `stateDir`. Each run's gateway is on its core bridge (openGateway()).
  static Result<std::unique_ptr<Forwarder>> start(int radioNetnsFd, std::string stateDir);
  ~Forwarder();

  // Opens run's cell: its gateway addresses, its UEs in network namespace `spec.uplink` (a
  // name under /run/netns) with routes there to the UE addresses, its medium. Opening an open
  // run's cell again with the same spec does nothing.
  // `groupSize`: the run's groups' (isolation: group), whose devices share their first
  // device's address and are told apart by source port; 0 when each has its own address.
  VoidResult addCell(RunId run, const RadioSpec& spec, uint32_t groupSize = 0);
  void removeCell(RunId run);
  // Opens again the cells a previous worker process had open. A cell that cannot be opened
  // (its uplink namespace is gone, its spec file is damaged) does not stop the others: it is
  // in `failed`, and its spec stays for a later attempt.
  struct Restored {
    size_t cells = 0;
    std::vector<Error> failed;
  };
  Restored restore();
  [[nodiscard]] std::vector<RunId> cells() const;
  [[nodiscard]] int radioNetnsFd() const { return radioNetnsFd_; }
  // The run's lease log: one line per grant or release, kept after the cell closes.
  [[nodiscard]] std::string leaseLogPath(RunId run) const;
  [[nodiscard]] std::optional<CellReport> report(RunId run);
  // Packets the radio namespace's kernel routed toward the Plexer (into kpx0) but dropped
  // because the Plexer had not read the ones before (the tun's queue was full): sent toward a
  // base station, never forwarded, and invisible to the cells' counters. All runs of this
  // worker together, as the kernel counts them.
  [[nodiscard]] Result<uint64_t> gatewayDrops() const;

 private:
  struct Cell;
  struct Scheduled;
  Forwarder() = default;
  void loop(std::stop_token stop);
  void handleRadio(int64_t now);
  void handleUplink(Cell& cell, int64_t now);
  // `h` is parseIp(packet), made once when the packet arrived.
  void transmit(Cell& cell, bool up, uint32_t device, uint32_t ue, std::span<uint8_t> packet,
                const IpHeader& h, int64_t now);
  void deliver(Cell& cell, bool up, uint32_t device, uint32_t ue, std::span<uint8_t> packet,
               const IpHeader& h);
  int64_t serviceTimers(int64_t now);  // runs what is due; returns the next deadline
  // The sender's cell and its device index, from the source address (and port, in a group).
  Cell* cellFor(std::span<const uint8_t> packet, const IpHeader& h, uint32_t* index);

  int radioNetnsFd_ = -1;
  std::string stateDir_;
  sys::UniqueFd radioTun_;
  sys::UniqueFd epoll_;
  sys::UniqueFd wake_;  // eventfd: the cells changed
  mutable std::mutex mu_;
  std::map<RunId, std::unique_ptr<Cell>> cells_;
  std::vector<Scheduled> schedule_;  // a min-heap by delivery time
  uint64_t sequence_ = 0;
  std::jthread thread_;
};

}  // namespace kuiga::plexer
