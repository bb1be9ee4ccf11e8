// The first 4 KiB of an uploaded AUT: inspectAutHead takes it for an executable this machine
// runs or says what it is instead.
#include <span>

#include "fuzz/fuzz.hpp"
#include "imagestore/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) size = 4096;  // what inspectAut reads
  auto r = kuiga::imagestore::inspectAutHead(std::span<const unsigned char>(data, size));
  if (r) {
    FUZZ_CHECK(r->bits == 32 || r->bits == 64);
    FUZZ_CHECK(!r->machine.empty());
  } else {
    FUZZ_CHECK(!r.error().message.empty());
  }
  return 0;
}
