// A capture file cut down to one device (GET /runs/{id}/pcap?instance=K): the files are the
// Plexer's own, but a truncated or damaged one must give an error, never a crash. What the
// filter returns is a capture the filter accepts again, with the same result.
#include <string>
#include <string_view>

#include "fuzz/fuzz.hpp"
#include "plexer/capture/pcapng_filter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto r = kuiga::plexer::filterInterface(in, "run-7-dev-0001");
  if (!r) return 0;
  auto again = kuiga::plexer::filterInterface(*r, "run-7-dev-0001");
  FUZZ_CHECK(again);
  FUZZ_CHECK(*again == *r);
  return 0;
}
