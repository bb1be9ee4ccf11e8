// A topology file in RIOT zep_dispatch's format, as `kuiga run create --zep-topology` uploads
// it: parsed for 16 devices whose EUI-64s are the run's; errors name their line.
#include <string_view>

#include "fuzz/fuzz.hpp"
#include "plexer/zep/topology.hpp"
#include "spec/identity.hpp"

using namespace kuiga;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr uint32_t kNodes = 16;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto t = plexer::Topology::parse(text, kNodes, [](uint64_t eui) -> std::optional<uint32_t> {
    for (uint32_t k = 0; k < kNodes; ++k)
      if (eui64({7, k}) == eui) return k;
    return std::nullopt;
  });
  if (!t) {
    FUZZ_CHECK(t.error().message.find("line") != std::string::npos);
    return 0;
  }
  FUZZ_CHECK(t->nodes() == kNodes);
  for (uint32_t k = 0; k < kNodes; ++k)
    t->forEachLink(k, [&](const auto& link) {
      FUZZ_CHECK(link.to < kNodes && link.to != k);
      FUZZ_CHECK(link.probability > 0 && link.probability <= 1);
    });
  return 0;
}
