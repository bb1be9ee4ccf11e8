#pragma once
// Private to the ns runtime: a group of devices under one init (isolation: group, issue 20).
// The group's init (kuiga-init --group, init/group_init.c) supervises its devices; the worker
// holds one descriptor for the whole group, the read end of its output FIFO, which carries
// every device's output and every report record in order.
#include <sys/types.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "sys/cgroup.hpp"
#include "sys/fd.hpp"
#include "worker/instance.hpp"
#include "worker/ns/ns_runtime.hpp"

namespace kuiga::worker::ns {

struct NsRuntime::Group {
  RunId run = 0;
  uint32_t number = 0;  // devices [number * size, (number + 1) * size) of the run
  uint32_t size = 0;
  uint64_t serial = 0;  // its I/O loop key is serial | kGroupKey
  std::string name;     // "r7-g3": its directory, cgroup and (with "run-") hostname
  std::string dir;
  InstanceSpec spec;  // of the device that made it: /app, limits and seccomp for all

  // The first member's prolog starts the group; the others wait for it here.
  std::mutex startMu;
  bool startTried = false;
  std::optional<Error> startError;

  // Guarded by the runtime's mutex.
  pid_t pid = -1;
  bool ended = false;     // its init has exited and been reaped, or never started
  std::string brokenWhy;  // why the worker killed its init, if it did (breakGroup)
  std::string endWhy;     // once ended: how, as its devices' reason says it
  std::map<uint32_t, std::shared_ptr<Instance>> members;
  uint64_t oomKillsSeen = 0;
  bool onRadio = false;  // its one link on the radio network (net veth), attachGroup()
  std::optional<sys::cgroup::Cgroup> cgroup;

  // Owned by the I/O loop once started.
  sys::UniqueFd output;
  std::string frames;   // what has arrived of frames not yet whole
  bool resync = false;  // re-adopted: the FIFO may begin inside a frame a dead worker cut

  // The report file, opened for appending: the worker records there who joins ("member
  // {JSON}") and who leaves ("left INDEX"), so that a restarted worker can re-adopt the group
  // (recoverGroup). Written under controlMu, before the command it announces.
  sys::UniqueFd report;

  // One writer at a time on the control FIFO, opened O_RDWR | O_NONBLOCK once: O_RDWR makes
  // the worker a reader too, so a command to an init that has just died fills a buffer that
  // goes with the group instead of raising SIGPIPE.
  std::mutex controlMu;
  sys::UniqueFd control;
};

constexpr uint64_t kGroupKey = 1ull << 63;
constexpr const char* kControlFifo = "control";
// The worker's records in a group's report file, besides its "state {JSON}".
constexpr const char* kMemberRecord = "member";
constexpr const char* kLeftRecord = "left";

}  // namespace kuiga::worker::ns
