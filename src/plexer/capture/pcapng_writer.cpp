#include "plexer/capture/pcapng_writer.hpp"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace kuiga::plexer {

namespace {

constexpr uint32_t kSectionHeader = 0x0A0D0D0A;
constexpr uint32_t kInterfaceDescription = 1;
constexpr uint32_t kEnhancedPacket = 6;
constexpr uint16_t kOptEnd = 0, kOptIfName = 2, kOptIfTsresol = 9, kOptEpbFlags = 2;
constexpr uint32_t kSnapLen = 262144;

size_t pad4(size_t n) {
  return (n + 3) & ~size_t{3};
}

// Appends an option (code, length, value padded to 4 bytes).
void option(std::string& out, uint16_t code, const void* value, uint16_t len) {
  out.append(reinterpret_cast<const char*>(&code), 2);
  out.append(reinterpret_cast<const char*>(&len), 2);
  out.append(static_cast<const char*>(value), len);
  out.append(pad4(len) - len, '\0');
}

// Frames a block: type, total length, body, total length.
std::string block(uint32_t type, const std::string& body) {
  uint32_t total = static_cast<uint32_t>(12 + body.size());
  std::string out;
  out.reserve(total);
  out.append(reinterpret_cast<const char*>(&type), 4);
  out.append(reinterpret_cast<const char*>(&total), 4);
  out += body;
  out.append(reinterpret_cast<const char*>(&total), 4);
  return out;
}

}  // namespace

Result<PcapngWriter> PcapngWriter::open(std::string base, uint64_t rotateBytes, uint16_t linkType) {
  PcapngWriter w(std::move(base), rotateBytes);
  w.linkType_ = linkType;
  KUIGA_TRY(w.startFile(), "pcapng");
  return w;
}

PcapngWriter::PcapngWriter(PcapngWriter&& o) noexcept
    : base_(std::move(o.base_)),
      rotateBytes_(o.rotateBytes_),
      linkType_(o.linkType_),
      file_(std::exchange(o.file_, nullptr)),
      size_(o.size_),
      interfaces_(std::move(o.interfaces_)),
      files_(std::move(o.files_)) {}

PcapngWriter::~PcapngWriter() {
  if (file_) std::fclose(file_);
}

VoidResult PcapngWriter::put(const void* data, size_t len) {
  if (std::fwrite(data, 1, len, file_) != len) return failSys("write " + files_.back());
  size_ += len;
  return {};
}

VoidResult PcapngWriter::startFile() {
  if (file_) {
    if (std::fclose(std::exchange(file_, nullptr)) != 0) return failSys("close " + files_.back());
  }
  std::string path =
      files_.empty() ? base_ + ".pcapng" : fmt::format("{}-{}.pcapng", base_, files_.size());
  file_ = std::fopen(path.c_str(), "wb");
  if (!file_) return failSys("create '" + path + "'");
  files_.push_back(path);
  size_ = 0;
  std::string shb;
  uint32_t magic = 0x1A2B3C4D;
  uint16_t major = 1, minor = 0;
  int64_t sectionLength = -1;  // unknown: the file grows while we write
  shb.append(reinterpret_cast<const char*>(&magic), 4);
  shb.append(reinterpret_cast<const char*>(&major), 2);
  shb.append(reinterpret_cast<const char*>(&minor), 2);
  shb.append(reinterpret_cast<const char*>(&sectionLength), 8);
  auto b = block(kSectionHeader, shb);
  KUIGA_TRY(put(b.data(), b.size()), "section header");
  for (const auto& name : interfaces_) KUIGA_TRY(writeInterfaceBlock(name), "interface " + name);
  return {};
}

VoidResult PcapngWriter::writeInterfaceBlock(const std::string& name) {
  std::string body;
  uint16_t link = linkType_, reserved = 0;
  uint32_t snap = kSnapLen;
  body.append(reinterpret_cast<const char*>(&link), 2);
  body.append(reinterpret_cast<const char*>(&reserved), 2);
  body.append(reinterpret_cast<const char*>(&snap), 4);
  option(body, kOptIfName, name.data(), static_cast<uint16_t>(name.size()));
  uint8_t nanoseconds = 9;  // timestamps in units of 10^-9 s
  option(body, kOptIfTsresol, &nanoseconds, 1);
  option(body, kOptEnd, nullptr, 0);
  auto b = block(kInterfaceDescription, body);
  return put(b.data(), b.size());
}

Result<uint32_t> PcapngWriter::addInterface(const std::string& name) {
  if (name.size() > 1024) return failMsg("interface name too long");
  KUIGA_TRY(writeInterfaceBlock(name), "interface " + name);
  interfaces_.push_back(name);
  return static_cast<uint32_t>(interfaces_.size() - 1);
}

VoidResult PcapngWriter::write(uint32_t interface, int64_t timeNs, std::span<const uint8_t> frame,
                               uint32_t originalLength, Direction dir) {
  if (interface >= interfaces_.size()) return failMsg("no interface " + std::to_string(interface));
  if (rotateBytes_ && size_ >= rotateBytes_) KUIGA_TRY(startFile(), "rotate");
  const uint32_t captured = static_cast<uint32_t>(std::min<size_t>(frame.size(), kSnapLen));
  const uint64_t ts = static_cast<uint64_t>(timeNs);
  // epb_flags bits 0-1: 01 inbound, 10 outbound, as seen on the interface; the interface is
  // the device's own, so what it sent is outbound.
  const uint32_t flags = dir == Direction::Sent ? 2 : 1;
  const size_t bodyLen = 20 + pad4(captured) + 4 + 4 + 4;
  const uint32_t total = static_cast<uint32_t>(12 + bodyLen);
  uint32_t head[7] = {kEnhancedPacket,
                      total,
                      interface,
                      static_cast<uint32_t>(ts >> 32),
                      static_cast<uint32_t>(ts & 0xffffffffu),
                      captured,
                      originalLength};
  KUIGA_TRY(put(head, sizeof head), "packet");
  KUIGA_TRY(put(frame.data(), captured), "packet");
  static const uint8_t zeros[4] = {};
  KUIGA_TRY(put(zeros, pad4(captured) - captured), "packet");
  uint16_t flagOpt[2] = {kOptEpbFlags, 4};
  KUIGA_TRY(put(flagOpt, 4), "packet");
  KUIGA_TRY(put(&flags, 4), "packet");
  uint32_t tail[2] = {0, total};  // opt_endofopt, then the total length again
  KUIGA_TRY(put(tail, 8), "packet");
  return {};
}

VoidResult PcapngWriter::flush() {
  if (file_ && std::fflush(file_) != 0) return failSys("flush " + files_.back());
  return {};
}

}  // namespace kuiga::plexer
