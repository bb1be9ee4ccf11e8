// A frame a device sends toward the base station: parseIp finds its addresses and transport,
// rewriteAddress puts a UE's address in place. The rewritten packet parses again, with the new
// address and everything else where it was.
#include <vector>

#include "fuzz/fuzz.hpp"
#include "plexer/uplink/packet.hpp"

using namespace kuiga;
using namespace kuiga::plexer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> packet(data, data + size);
  auto h = parseIp(packet);
  if (!h) return 0;
  FUZZ_CHECK(h->family == 4 || h->family == 6);
  FUZZ_CHECK(h->transportOffset <= packet.size());
  IpAddress to;
  to.family = h->family;
  for (size_t i = 0; i < to.bytes.size(); ++i) to.bytes[i] = static_cast<uint8_t>(0xa0 + i);
  if (h->family == 4)
    for (size_t i = 4; i < to.bytes.size(); ++i) to.bytes[i] = 0;
  for (bool source : {true, false}) {
    rewriteAddress(packet, *h, source, to);
    auto again = parseIp(packet);
    FUZZ_CHECK(again);
    FUZZ_CHECK((source ? again->source : again->destination) == to);
    FUZZ_CHECK(again->protocol == h->protocol && again->transportOffset == h->transportOffset);
  }
  return 0;
}
