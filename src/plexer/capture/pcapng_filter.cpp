#include "plexer/capture/pcapng_filter.hpp"

#include <cstdint>
#include <cstring>

namespace kuiga::plexer {

namespace {

uint32_t u32(std::string_view s, size_t at) {
  uint32_t v;
  std::memcpy(&v, s.data() + at, 4);
  return v;
}

uint16_t u16(std::string_view s, size_t at) {
  uint16_t v;
  std::memcpy(&v, s.data() + at, 2);
  return v;
}

// The if_name option of an interface description block, or "".
std::string interfaceName(std::string_view block) {
  size_t at = 16;  // type, length, linktype, reserved, snaplen
  while (at + 4 <= block.size() - 4) {
    uint16_t code = u16(block, at), len = u16(block, at + 2);
    if (code == 0) break;
    if (at + 4 + len > block.size() - 4) break;
    if (code == 2) return std::string(block.substr(at + 4, len));
    at += 4 + ((len + 3u) & ~3u);
  }
  return "";
}

}  // namespace

Result<std::string> filterInterface(std::string_view in, const std::string& name) {
  std::string out;
  std::string_view header;  // the current section's header, not yet written
  uint32_t interfaces = 0;  // interface blocks seen in the current section
  // The device's interface id in the current section; kNone while it has none.
  constexpr uint32_t kNone = UINT32_MAX;
  uint32_t wanted = kNone;
  size_t at = 0;
  while (at + 12 <= in.size()) {
    uint32_t type = u32(in, at), len = u32(in, at + 4);
    if (len < 12 || len % 4 || at + len > in.size())
      break;  // a block cut short (a capture still being written): stop at the last whole one
    std::string_view block = in.substr(at, len);
    at += len;
    if (type == 0x0A0D0D0A) {
      header = block;
      interfaces = 0;
      wanted = kNone;
    } else if (type == 1) {
      if (wanted == kNone && interfaceName(block) == name) {
        wanted = interfaces;
        out += header;
        out += block;
      }
      ++interfaces;
    } else if (type == 6 && wanted != kNone && len >= 32 && u32(block, 8) == wanted) {
      std::string epb(block);
      uint32_t zero = 0;
      std::memcpy(epb.data() + 8, &zero, 4);  // the device is interface 0 of its section
      out += epb;
    }
  }
  if (out.empty()) return failMsg("no frames of " + name);
  return out;
}

}  // namespace kuiga::plexer
