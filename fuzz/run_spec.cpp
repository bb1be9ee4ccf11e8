// A run spec as POST /runs takes it (JSON of any shape): RunSpec::fromJson accepts it or says
// which field is wrong. An accepted spec goes through toJson and back unchanged, and its
// argument template expands for its first and last instance (or says which placeholder is
// wrong).
#include <nlohmann/json.hpp>

#include "fuzz/fuzz.hpp"
#include "plexer/zep/topology.hpp"
#include "spec/identity.hpp"
#include "spec/run_spec.hpp"

using namespace kuiga;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  auto spec = RunSpec::fromJson(j);
  if (!spec) {
    FUZZ_CHECK(!spec.error().message.empty());
    return 0;
  }
  FUZZ_CHECK(spec->count >= 1);
  auto again = RunSpec::fromJson(spec->toJson());
  FUZZ_CHECK(again);
  FUZZ_CHECK(again->toJson() == spec->toJson());
  for (uint32_t index : {0u, spec->count - 1})
    for (const auto& a : spec->args) {
      TemplateContext ctx;
      ctx.id = {7, index};
      ctx.count = spec->count;
      auto e = expandTemplate(a, ctx);
      FUZZ_CHECK(e || !e.error().message.empty());
    }
  // A ZEP radio's topology for a small run (a large one only costs time here).
  if (spec->zep && spec->count <= 64)
    (void)plexer::topologyOf(*spec->zep, 7, spec->count, spec->seed);
  return 0;
}
