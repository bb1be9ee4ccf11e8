#pragma once
// The `ns` runtime: each instance is its AUT under a small init (kuiga-init) in new PID,
// network, mount, UTS and IPC namespaces, in its own cgroup, as an unprivileged user, wired to
// the worker's radio network. See docs/architecture.md for the life of an instance.
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sys/cgroup.hpp"
#include "worker/ns/zygote.hpp"
#include "worker/runtime.hpp"
#include "worker/uid_pool.hpp"

namespace kuiga::worker::net {
class RadioNetwork;
}

namespace kuiga::worker::ns {

class IoLoop;

struct NsRuntimeConfig {
  std::string name = "default";  // worker name: cgroup kuiga/<name>, skeleton, radio netns
  std::string stateDir;  // durable: logs/, work/ (instances' /work) and the radio namespace pin
  std::string initPath;  // the kuiga-init binary
  // Volatile, gone at reboot like the instances themselves: root/ (the skeleton) and
  // instances/ (a tmpfs with each instance's FIFOs and report). Default /run/kuiga/<name>.
  std::string runDir;
  // Each live instance runs as a uid of its own from [uidBase, uidBase + uidCount).
  uid_t uidBase = 200000;
  uint32_t uidCount = 65536;
  gid_t gid = 200000;
  unsigned threads = 0;       // bulk-operation threads, 0 = two per core
  uint32_t capacity = 10000;  // instances it may hold at once: the kernel limits it raises
  uint64_t logMaxBytes = 16ull << 20;
  std::optional<sys::cgroup::Version> cgroupVersion;  // default: detect
  // How long a bulk create or start waits while none of its instances moves on.
  std::chrono::milliseconds readyTimeout{60000};
  // How long a group's init may leave a command unread before the worker gives up on it.
  std::chrono::milliseconds groupCommandTimeout{10000};
  // Host paths instances see read-only beside the system directories (kuiga worker --expose).
  std::vector<std::string> exposed;
  // Isolated instances' inits cloned by a zygote standing in the skeleton (zygote.hpp), which
  // spares each a pivot_root; false: each pivots itself, as on a kernel without open_tree().
  bool zygote = true;
  // For tests of what the kernel refuses rarely: called before an instance's network is
  // configured, each attempt; an error it returns fails that step as the kernel's would.
  std::function<VoidResult(InstanceId)> networkFault;
};

class NsRuntime final : public Runtime {
 public:
  static Result<std::unique_ptr<NsRuntime>> open(NsRuntimeConfig config, EventSink sink);
  // Leaves running instances running (a restarted worker re-adopts them with recover()).
  ~NsRuntime() override;

  BulkResult create(std::span<const InstanceSpec> specs, const Progress& progress = {}) override;
  BulkResult start(std::span<const InstanceId> ids, const Progress& progress = {}) override;
  BulkResult stop(std::span<const InstanceId> ids, std::chrono::milliseconds grace,
                  const Progress& progress = {}) override;
  BulkResult remove(std::span<const InstanceId> ids, const Progress& progress = {}) override;
  std::optional<InstanceStatus> status(InstanceId id) const override;
  std::vector<InstanceStatus> list() const override;
  Result<RecoveryReport> recover() override;
  VoidResult console(InstanceId id, std::string_view line) override;
  std::string logPath(InstanceId id) const override;

  // Removes every instance and the worker's own objects: radio namespace, root skeleton,
  // cgroup parent. For tests, benchmarks and `kuiga worker --cleanup`.
  VoidResult destroyAll();
  [[nodiscard]] const sys::cgroup::Layout& cgroupLayout() const { return layout_; }
  // Names of the instance links on the radio network (leftovers once instances are removed).
  Result<std::vector<std::string>> radioLinks() const;
  // An instance's own cgroup, which it has only with a memory or CPU limit.
  [[nodiscard]] std::string cgroupPath(InstanceId id) const;
  // The one cgroup, below the worker's (kSharedCgroup), of the isolated instances without a
  // cgroup of their own: it keeps their processes out of the worker's cgroup, and limits
  // nothing. Its name is no instance's slug nor group's name.
  static constexpr const char* kSharedCgroup = "isolated";
  [[nodiscard]] std::string sharedCgroupPath() const;
  // Uids held by live instances (each has one of its own; recovery claims them again).
  [[nodiscard]] size_t uidsInUse() const;
  // The radio network's namespace, for the Plexer's capture.
  [[nodiscard]] int radioNetnsFd() const;
  // The radio network its instances are attached to (runs' trees and tunnels).
  [[nodiscard]] net::RadioNetwork& radioNetwork() { return *radio_; }

  struct Instance;
  struct Group;

 private:
  NsRuntime(NsRuntimeConfig config, EventSink sink, sys::cgroup::Layout layout);
  VoidResult prolog(Instance& inst);
  void discardPartial(Instance& inst);
  // If init has already exited during the prolog, reaps it and says why it ended.
  std::optional<std::string> initEndedEarly(Instance& inst, std::chrono::milliseconds grace = {});
  VoidResult adopt(InstanceId id, const nlohmann::json& state, const std::string& dir,
                   const std::string& reportFile);
  void transition(Instance& inst, InstanceState to, std::string reason = {});
  // Sends a signal to the instance's init, unless its pid now names another process. Under mu_.
  void signalInit(const Instance& inst, int sig);
  // A pidfd of the instance's init, unless it has ended or its pid names another process.
  // Under mu_.
  Result<sys::UniqueFd> pinInit(const Instance& inst);
  // Signals the init of each of a bulk operation's isolated instances that has not ended
  // meanwhile, pinned under mu_ in batches and signalled outside it: not under mu_.
  void signalInits(const std::vector<std::shared_ptr<Instance>>& insts, int sig);
  void onIo(uint64_t key, uint32_t events);
  void drainOutput(Instance& inst);
  void consumeOutput(Instance& inst, std::string_view chunk);
  // Writes the next piece of the instance's console queue if its pacing allows.
  void pumpConsole(Instance& inst);
  void pumpConsoles();
  // Writes to the instance's stdin without blocking; how much went, or -1.
  ssize_t writeConsole(Instance& inst, std::string_view bytes);
  // Start (SIGUSR1) or signal devices of groups, one write per group; not under mu_.
  void signalMembers(const std::vector<std::shared_ptr<Instance>>& members, int sig);
  // Reads new records from the instance's report file and applies them.
  void readReport(Instance& inst);
  void finish(Instance& inst);
  // Decides how an ended instance ended, from its init's records (caller holds mu_).
  void conclude(Instance& inst, const std::string& initEnd, const std::string& limits);

  // Group isolation (ns_group.cpp): devices of a run that share one init and its namespaces.
  // The group a device joins, made on first use (caller holds mu_); an empty string or why not.
  std::string joinGroup(const std::shared_ptr<Instance>& inst);
  VoidResult memberProlog(Instance& inst);
  VoidResult startGroup(Group& g);
  void undoGroupStart(Group& g);
  // Net veth: the group's one link on the radio network, configured as its address holder's.
  VoidResult attachGroup(Group& g);
  static InstanceId groupAddressHolder(const Group& g);
  // One command to a group's init (group_init.c); `wait` false gives up at once on a full pipe.
  VoidResult command(Group& g, std::string_view verb, uint32_t index, long a1 = 0, long a2 = 0,
                     std::string_view payload = {}, bool wait = true);
  // Writes whole commands to the group's control FIFO. One left half-written would corrupt
  // every later command, so a write the init stops taking breaks the group (breakGroup).
  VoidResult sendCommands(Group& g, std::string_view commands, bool wait);
  // Kills the group's init, so that its devices fail with `why`.
  void breakGroup(Group& g, const std::string& why);
  // Appends the worker's records (whole lines) to the group's report file.
  VoidResult appendRecord(Group& g, std::string_view records);
  // Re-adopts a group an earlier process of this worker left running, from its report file;
  // how many devices it holds again.
  Result<size_t> recoverGroup(const std::string& name, const std::string& dir);
  // Rebuilds a re-adopted group's devices and their states from its report file's lines.
  void replayGroup(const std::shared_ptr<Group>& group, std::span<const std::string_view> lines);
  void onGroupIo(Group& g, uint32_t events);
  // Drops what precedes the first whole frame in a re-adopted group's FIFO; false until one
  // has come.
  bool resynchronise(Group& g);
  void applyGroupRecord(Group& g, std::string_view record);
  void finishMember(Instance& inst);
  void finishGroup(Group& g);
  // At remove: devices leave their groups (one batch of forget commands per group), and a
  // group goes with its last device. What failed, by the device whose removal ended a group.
  std::map<InstanceId, Error> leaveGroups(const std::vector<std::shared_ptr<Instance>>& devices);
  void flushEvents();
  // Reads the reports of instances whose prolog is done but whose init has not said ready.
  void readPrologReports();
  // Declared first in a bulk operation, so that it flushes after every lock is released.
  struct FlushEventsOnExit {
    NsRuntime& rt;
    ~FlushEventsOnExit() { rt.flushEvents(); }
  };
  // Waits until pred(state) holds for every instance in ids or the deadline passes, reading
  // their reports meanwhile; returns the ids that did not get there.
  std::vector<InstanceId> waitFor(std::span<const InstanceId> ids,
                                  const std::function<bool(InstanceState)>& pred,
                                  std::chrono::steady_clock::time_point deadline);
  // The same for a bulk create or start, which may take minutes on a busy node (50,000 devices
  // start at about 500 a second on two cores): it gives up only once none of those left got
  // there for config_.readyTimeout.
  std::vector<InstanceId> waitProgressing(std::span<const InstanceId> ids,
                                          const std::function<bool(InstanceState)>& pred);
  std::string instanceDir(InstanceId id) const;
  // An isolated instance's report file, on the state disk: STATE/reports/uUID, a slot of its
  // uid's that the next instance with that uid reuses. Emptied, not removed, when its instance
  // goes: a file made and unlinked per instance cost an inode's allocation and freeing on the
  // disk, and on ext4 without a journal a scan past every inode freed in the last minute.
  std::string reportSlot(uid_t uid) const;
  // Where a worker from before the slots kept an instance's report: STATE/reports/rR-iI.
  std::string legacyReportPath(InstanceId id) const;
  // Empties a slot, removes a report of any other name; ENOENT is not an error.
  VoidResult retireReport(const std::string& reportFile) const;
  // For recovery: the slots that are not empty, and by the instance their state record names;
  // an instance named by two (a worker killed in its remove) has the one whose init still runs.
  // A slot keeps its state record's text, so that recovery reads each file once.
  struct ReportSlot {
    std::string path;
    std::string record;
  };
  struct ReportSlots {
    std::vector<std::string> filled;
    std::map<InstanceId, ReportSlot> byInstance;
  };
  ReportSlots reportSlots() const;
  std::string seccompPath() const;
  // Starts the zygote, or says in the log why instances pivot into the skeleton themselves.
  void startZygote();
  // An isolated instance's init, through the zygote when there is one; its pid, our child.
  Result<pid_t> startInit(const sys::SpawnOptions& so);
  std::string workDir(InstanceId id) const;
  // Waits, up to 5 s, until an adopted init (not our child) is a zombie or gone.
  void awaitAdoptedInitEnd(const Instance& inst);

  NsRuntimeConfig config_;
  EventSink sink_;
  sys::cgroup::Layout layout_;
  std::string cgroupParent_;
  std::string skeleton_;
  std::unique_ptr<net::RadioNetwork> radio_;
  UidPool uids_;

  mutable std::mutex mu_;
  std::mutex consoleSetMu_;
  std::set<InstanceId> consoleQueued_;  // instances with console lines waiting
  std::condition_variable cv_;
  std::map<InstanceId, std::shared_ptr<Instance>> instances_;
  std::map<uint64_t, std::shared_ptr<Instance>> bySerial_;
  // Serials of registered instances whose init has not said ready yet (some may have moved on
  // since: readPrologReports drops them).
  std::set<uint64_t> prologWaiting_;
  // By (run, group number), and by serial for the I/O loop until their init is reaped.
  std::map<std::pair<RunId, uint32_t>, std::shared_ptr<Group>> groups_;
  std::map<uint64_t, std::shared_ptr<Group>> groupsBySerial_;
  uint64_t nextSerial_ = 1;
  std::vector<InstanceEvent> pendingEvents_;
  std::mutex sinkMu_;

  // Clones isolated instances' inits standing in the skeleton already (zygote.hpp); null
  // where the kernel has no open_tree() (before 5.2): each init then pivots into it itself.
  std::unique_ptr<Zygote> zygote_;
  sys::UniqueFd seccompFd_;  // the filter, for the inits the zygote clones (they see no path)
  std::optional<sys::cgroup::Cgroup> shared_;  // sharedCgroupPath()
  sys::UniqueFd sharedDir_;                    // its directory on v2, to clone inits into

  std::unique_ptr<IoLoop> io_;  // last: its thread uses everything above
};

}  // namespace kuiga::worker::ns
