#pragma once
// Captures every frame on the radio network from one AF_PACKET socket with a TPACKET_V3
// memory-mapped ring, bound to all interfaces of the radio namespace. A frame is attributed to
// the device whose port it crossed: a frame arriving on a device's port was sent by it, one
// leaving on the port (PACKET_OUTGOING) was delivered to it. Frames on the bridges themselves
// are skipped, so each frame counts once per device it touched.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>

#include "common/result.hpp"
#include "plexer/capture/pcapng_writer.hpp"
#include "sys/fd.hpp"

namespace kuiga::plexer {

struct DeviceCounters {
  uint64_t sentFrames = 0, sentBytes = 0;
  uint64_t deliveredFrames = 0, deliveredBytes = 0;
};

struct CaptureStats {
  std::map<std::string, DeviceCounters> devices;  // by device name
  uint64_t frames = 0;                            // attributed frames written
  uint64_t ringDrops = 0;    // frames the kernel dropped because the ring was full
  uint64_t otherFrames = 0;  // frames on ports that are not devices (bridges, uplinks)
};

struct CaptureConfig {
  // A 64 MiB ring in many small blocks: the kernel hands a block over when it is full or
  // retireMs after its first frame, so at moderate rates most blocks leave nearly empty and
  // the ring holds blocks x retireMs of time. With 16 blocks of 4 MiB that was 320 ms, and
  // a reader that stalled that long lost frames while the ring was 99% empty.
  uint32_t blockBytes = 1 << 18;
  uint32_t blocks = 256;
  uint32_t retireMs = 20;
};

// Makes the writer for a group of devices (a run) the first time one of them is added.
using WriterFactory = std::function<Result<PcapngWriter>(const std::string& group)>;

class Capture {
 public:
  // Opens the ring inside network namespace `netnsFd`; frames go to one pcapng writer per
  // group of devices.
  static Result<std::unique_ptr<Capture>> open(int netnsFd, WriterFactory writers,
                                               CaptureConfig config = {});
  ~Capture();

  // Frames on interface `ifindex` (in the radio namespace) belong to device `name` of `group`.
  // May be called while capturing.
  VoidResult addDevice(int ifindex, const std::string& group, const std::string& name);
  // Frames on `ifindex` are no longer attributed (the device is gone).
  void removeDevice(int ifindex);
  // Frames on these interfaces (bridges, their uplinks, tunnels) are dropped by a socket filter
  // before they take ring space: each device frame crosses several of them, and copying it
  // once per crossing cost three quarters of the ring at load.
  VoidResult ignoreInterfaces(const std::vector<int>& ifindexes);
  // Flushes the group's writer at a block boundary and returns its files with their sizes
  // now: a consistent snapshot to read while capturing goes on.
  std::vector<std::pair<std::string, uint64_t>> snapshot(const std::string& group);
  // Ends a group whose devices are all gone: its frames are written out, its writer (and its
  // file) closed and its devices' counters dropped. Returns its files with their sizes.
  std::vector<std::pair<std::string, uint64_t>> closeGroup(const std::string& group);
  // Reads the ring until stop is requested, then drains what is left.
  void run(std::stop_token stop);
  CaptureStats stats() const;
  // How long a ring block may hold frames before the kernel hands it over.
  std::chrono::milliseconds retireTime() const {
    return std::chrono::milliseconds(config_.retireMs);
  }
  VoidResult flush();
  // The thread that reads the ring (for its CPU time), 0 before run() began.
  [[nodiscard]] pid_t threadId() const { return tid_.load(); }

 private:
  Capture(sys::UniqueFd fd, WriterFactory writers, CaptureConfig config, void* map, size_t mapLen)
      : fd_(std::move(fd)),
        factory_(std::move(writers)),
        config_(config),
        map_(map),
        mapLen_(mapLen) {}
  // Handles every ready block; returns how many were handled.
  size_t drain();
  void readKernelDrops();

  sys::UniqueFd fd_;
  WriterFactory factory_;
  std::map<std::string, PcapngWriter> writers_;  // by group
  CaptureConfig config_;
  void* map_;
  size_t mapLen_;
  std::mutex drainMu_;  // drain() runs on the capture thread and in snapshot()
  size_t nextBlock_ = 0;
  mutable std::mutex mu_;
  struct Device {
    PcapngWriter* writer;
    uint32_t interface;
    std::string name;
    DeviceCounters* counters;  // its entry in stats_.devices (map nodes stay put)
  };
  std::map<int, Device> devices_;  // by ifindex
  CaptureStats stats_;
  std::string lastError_;
  std::atomic<pid_t> tid_{0};
};

}  // namespace kuiga::plexer
