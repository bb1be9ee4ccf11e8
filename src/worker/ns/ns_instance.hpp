#pragma once
// Private to the ns runtime: one instance's record, shared by ns_runtime.cpp (life cycle),
// ns_supervision.cpp (output, reports, exits) and ns_recovery.cpp (adoption after a restart).
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sys/cgroup.hpp"
#include "sys/fd.hpp"
#include "sys/process.hpp"
#include "worker/instance.hpp"
#include "worker/log_writer.hpp"
#include "worker/ns/ns_runtime.hpp"

namespace kuiga::worker::ns {

// The worker holds one file descriptor per running instance, the read end of its output FIFO,
// because RLIMIT_NOFILE may be as low as 20,000 and out of reach (no CAP_SYS_RESOURCE): that
// FIFO carries the AUT's output and, by hanging up, the end of the instance. Init's reports go
// to a plain file that the worker reads when it needs to, so nothing is lost while no one reads.
// That file is on the state disk (NsRuntime::reportSlot): on the instances' tmpfs its page would
// be memory no one could reclaim, 4 KiB per instance for a few hundred bytes.
struct NsRuntime::Instance {
  InstanceSpec spec;
  uint64_t serial = 0;
  std::string dir;         // volatile instance directory (its FIFOs)
  std::string reportFile;  // init's reports and the worker's state record; "": a group's device

  // Guarded by the runtime's mutex.
  InstanceState state = InstanceState::Pending;
  std::string reason;
  std::vector<InstanceEvent> history;
  bool stopRequested = false;
  bool registered = false;  // its output FIFO is in the I/O loop, which owns it from then on
  bool onRadio = false;
  uid_t uid = 0;                     // the AUT's, from the runtime's pool
  bool uidPooled = false;            // taken from the pool (and so given back at remove)
  pid_t pid = -1;                    // of init
  unsigned long long startTime = 0;  // of init, to tell it from a later process with its pid
  bool ourChild = false;             // false for instances adopted after a restart
  bool initReaped = false;           // set before finish() reaps it: no signal may go to its pid
  std::optional<sys::cgroup::Cgroup> cgroup;

  // Owned by the I/O loop once registered.
  sys::UniqueFd output;
  std::unique_ptr<LogWriter> log;
  std::string lastLine;  // the AUT's last output line, quoted in failure reasons
  bool logErrorReported = false;

  // The console, paced for shells that read stdin a little at a time (RIOT's reads 64 bytes
  // and loses what else is waiting): at most kConsoleChunk bytes per write, and a new line only
  // once the AUT prompted ("> ") or kConsolePromptWait passed. Guarded by consoleMu.
  std::mutex consoleMu;
  std::deque<std::string> consoleQueue;  // lines with their '\n'; the front may be half sent
  std::chrono::steady_clock::time_point consoleNext{};     // no write before
  std::chrono::steady_clock::time_point promptDeadline{};  // a whole line went: wait until
  bool awaitPrompt = false;
  std::atomic<bool> promptSeen{false};  // set by the I/O loop when output ends with "> "

  // The report file, guarded by reportMu.
  std::mutex reportMu;
  uint64_t reportOffset = 0;
  std::string reportPartial;
  // Set from report records under the runtime's mutex.
  std::string setupFailure, execFailure;
  std::optional<sys::ExitStatus> autStatus;

  // A group's device (isolation: group): its init, cgroup and output FIFO are the group's, and
  // it has no directory of its own here. Set at create, never changed.
  std::shared_ptr<Group> group;
};

// Why an AUT could not be exec'd, in words, from init's errno and stage.
std::string execFailureReason(const InstanceSpec& spec, int err, const std::string& stage);
// How an init that ended without reporting a reason ended, in words.
std::string describeInitEnd(const NsRuntime::Instance& inst, const sys::ExitStatus& status);

constexpr size_t kConsoleChunk = 64;
constexpr size_t kConsoleQueueLines = 256;
constexpr std::chrono::milliseconds kConsoleChunkGap{10};
constexpr std::chrono::milliseconds kConsolePromptWait{300};

constexpr const char* kReportFile = "report";
constexpr const char* kOutputFifo = "output";
constexpr const char* kConsoleFifo = "console";
// The worker's own record in the report file, what recovery needs: "state {JSON}".
constexpr const char* kStateRecord = "state";

}  // namespace kuiga::worker::ns
