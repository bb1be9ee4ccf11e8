#pragma once
// The capture of one worker's radio network, one pcapng file set per run
// (`<dir>/run-R.pcapng`, rotated at `rotateBytes`). Devices are added as their instances are
// created (or re-adopted) and removed with them.
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "plexer/capture/capture.hpp"
#include "spec/identity.hpp"
#include "sys/netlink.hpp"

namespace kuiga::plexer {

class RunCapture {
 public:
  static Result<std::unique_ptr<RunCapture>> start(int radioNetnsFd, std::string dir,
                                                   uint64_t rotateBytes = 256ull << 20,
                                                   CaptureConfig config = {});
  ~RunCapture();
  // The instance's port on the radio network (radioLinkName(id)) becomes device
  // displayName(id) of run id.run. An instance without a port (network "none") is an error.
  VoidResult addInstance(InstanceId id);
  void removeInstance(InstanceId id);
  // Makes the capture ignore every interface of the radio namespace that is not an instance's
  // port (done by itself when a port on a new bridge is added; call it after adding others).
  VoidResult refreshFilter();
  // The run's files and their sizes now (see Capture::snapshot); a closed run's as it ended.
  std::vector<std::pair<std::string, uint64_t>> files(RunId run);
  // The run has no device left here: its file is closed (it stays readable through files()).
  void closeRun(RunId run);
  // Closes the run if needed and deletes its files.
  void purgeRun(RunId run);
  // Runs whose capture is open or closed but kept.
  std::set<RunId> runs();
  CaptureStats stats() const { return capture_->stats(); }
  [[nodiscard]] pid_t threadId() const { return capture_->threadId(); }

  // The report's `missed` (Equation 5.2) per device: what the device sent by the kernel's count
  // (its radio port's receive counter since it was added) against what the capture saw.
  struct DeviceReport {
    std::string name;
    DeviceCounters captured;
    uint64_t kernelSentFrames = 0;
    uint64_t missedFrames = 0;
  };
  Result<std::vector<DeviceReport>> report(RunId run);

 private:
  RunCapture() = default;
  int netnsFd_ = -1;
  std::string dir_;
  std::unique_ptr<Capture> capture_;
  std::mutex mu_;
  struct Port {
    int ifindex = 0;
    uint64_t rxBaseline = 0;  // the port's receive counter when capturing began
  };
  std::map<InstanceId, Port> ports_;
  Result<std::map<int, uint64_t>> rxCounters();
  Result<sys::Netlink::LinkInfo> portInfo(const std::string& name);
  Result<sys::Netlink> radioNetlink();
  std::set<int> ignored_;  // interfaces the capture filter drops
  std::map<RunId, std::vector<std::pair<std::string, uint64_t>>> closed_;
  std::set<RunId> open_;
  std::jthread thread_;
};

}  // namespace kuiga::plexer
