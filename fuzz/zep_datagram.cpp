// A datagram on the ZEP dispatcher's port, from any device (or anything else on the radio
// network): zep::parse, and for a data packet the 802.15.4 MAC header the dispatcher reads. What
// parse accepts, encode writes back and parse reads the same again.
#include <vector>

#include "fuzz/fuzz.hpp"
#include "plexer/zep/datagram.hpp"

using namespace kuiga::plexer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  auto p = zep::parse(in);
  if (!p) {
    FUZZ_CHECK(!p.error().message.empty());
    return 0;
  }
  FUZZ_CHECK(p->psdu.size() <= zep::kMaxPsdu);
  std::vector<uint8_t> again = zep::encode(*p);
  auto q = zep::parse(again);
  FUZZ_CHECK(q);
  FUZZ_CHECK(q->type == p->type && q->channel == p->channel && q->deviceId == p->deviceId &&
             q->crcMode == p->crcMode && q->sequence == p->sequence && q->psdu == p->psdu &&
             q->eui64 == p->eui64);
  if (p->type == zep::Type::Data) (void)zep::macHeader(p->psdu);
  return 0;
}
