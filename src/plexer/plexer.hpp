#pragma once
// The Plexer of one radio network namespace, the component's one public header. It holds:
//   capture/  every device's frames, a pcapng file set per run;
//   uplink/   each run's cell toward its base station (K UEs shared by its devices, the
//             medium), and the routes to Contiki devices' own prefixes;
//   zep/      each ZEP run's IEEE 802.15.4 dispatcher.
// A worker runs one for its devices; `kuiga plexer` runs one with no devices, for the cells
// the master places on it. Which runs' cells are open here is the master's choice: the
// Plexer opens and closes them, and reports what it counted.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "plexer/capture/pcapng_filter.hpp"
#include "plexer/capture/run_capture.hpp"
#include "plexer/uplink/forwarder.hpp"
#include "plexer/zep/datagram.hpp"
#include "plexer/zep/dispatcher.hpp"
#include "spec/identity.hpp"

namespace kuiga::plexer {

class Plexer {
 public:
  // Starts the capture, the uplink forwarder and the ZEP dispatcher (on `zepPort`) inside the
  // radio namespace, with their files under `stateDir` (pcap/, radio/, zep/), and reopens the
  // cells a previous process had open there; what could not be reopened is logged.
  static Result<std::unique_ptr<Plexer>> start(int radioNetnsFd, const std::string& stateDir,
                                               const std::string& name,
                                               uint16_t zepPort = zep::kPort);
  ~Plexer();

  // Opens the run's cell here: its gateway, its UEs and medium (`radioJson`, a RadioSpec), its
  // ZEP dispatch over `count` devices (`zepJson`, a ZepSpec); either may be empty. Idempotent.
  // `groupSize`: the run's groups' (isolation: group), whose devices share an address and are
  // told apart by port; 0 when each device has its own.
  VoidResult openCell(RunId run, const std::string& radioJson, const std::string& zepJson,
                      uint32_t count, uint32_t groupSize = 0);
  // Closes the run's cell, ZEP dispatch and gateway here (its devices and their capture stay).
  void closeCell(RunId run);
  // Closes what it holds of every run not in `live`: cells, ZEP runs, prefix routes, capture
  // files (which stay readable until purged).
  void closeIdle(const std::set<RunId>& live);
  // Routes device `id`'s own prefix (a tun-mode, Contiki-NG device) to it.
  VoidResult routeDevice(InstanceId id);
  // Routes exactly the prefixes of the run's devices `indices`, here or on other workers; none
  // on a relay (routeRunPrefixes()).
  VoidResult routeRun(RunId run, const std::set<uint32_t>& indices);

  // The parts, for what they capture and count.
  RunCapture& capture() { return *capture_; }
  Forwarder& uplink() { return *forwarder_; }
  ZepDispatcher& zep() { return *zep_; }
  [[nodiscard]] int radioNetnsFd() const { return radioNetnsFd_; }

 private:
  Plexer() = default;
  int radioNetnsFd_ = -1;
  std::string name_;
  // Destroyed in reverse order: the capture first, then the uplink, then the dispatcher.
  std::unique_ptr<ZepDispatcher> zep_;
  std::unique_ptr<Forwarder> forwarder_;
  std::unique_ptr<RunCapture> capture_;
};

}  // namespace kuiga::plexer
