#pragma once
// Writes pcapng (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng): one interface
// description block per device, named after its identity ("run-7/dev-0042"), nanosecond
// timestamps, the direction of each frame as seen from the device, and size-based rotation.
// Written by hand: libpcap writes only the classic format, which has one interface per file.
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace kuiga::plexer {

constexpr uint16_t kLinkTypeEthernet = 1;
constexpr uint16_t kLinkTypeIeee802154WithFcs = 195;  // IEEE 802.15.4 frames with their FCS

enum class Direction : uint8_t { Sent, Received };  // from the device's point of view

class PcapngWriter {
 public:
  // Files are `<base>.pcapng`, then `<base>-1.pcapng`, ... once one passes `rotateBytes`
  // (0: never). Each file repeats every interface block, so it opens on its own. Every
  // interface has `linkType`.
  static Result<PcapngWriter> open(std::string base, uint64_t rotateBytes = 0,
                                   uint16_t linkType = kLinkTypeEthernet);
  PcapngWriter(PcapngWriter&& o) noexcept;
  PcapngWriter& operator=(PcapngWriter&&) = delete;
  ~PcapngWriter();

  // Adds an interface; returns its id for write(). Interfaces stay valid across rotation.
  Result<uint32_t> addInterface(const std::string& name);
  VoidResult write(uint32_t interface, int64_t timeNs, std::span<const uint8_t> frame,
                   uint32_t originalLength, Direction dir);
  VoidResult flush();
  [[nodiscard]] const std::vector<std::string>& files() const { return files_; }
  [[nodiscard]] const std::vector<std::string>& interfaceNames() const { return interfaces_; }

 private:
  PcapngWriter(std::string base, uint64_t rotateBytes)
      : base_(std::move(base)), rotateBytes_(rotateBytes) {}
  VoidResult startFile();
  VoidResult writeInterfaceBlock(const std::string& name);
  VoidResult put(const void* data, size_t len);

  std::string base_;
  uint64_t rotateBytes_;
  uint16_t linkType_ = kLinkTypeEthernet;
  FILE* file_ = nullptr;
  uint64_t size_ = 0;
  std::vector<std::string> interfaces_;
  std::vector<std::string> files_;
};

}  // namespace kuiga::plexer
