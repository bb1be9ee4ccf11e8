// An image manifest as a worker fetches it (from the master, or from an S3 bucket others may
// write to): Manifest::fromJson accepts it or says why; what it accepts has a valid AUT digest
// and executable name, and goes through toJson and back to the same canonical bytes.
#include <nlohmann/json.hpp>

#include "common/digest.hpp"
#include "fuzz/fuzz.hpp"
#include "imagestore/image.hpp"

using namespace kuiga;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  auto m = imagestore::Manifest::fromJson(j);
  if (!m) {
    FUZZ_CHECK(!m.error().message.empty());
    return 0;
  }
  FUZZ_CHECK(isDigest(m->autDigest));
  FUZZ_CHECK(imagestore::checkExecutableName(m->executable));
  auto again = imagestore::Manifest::fromJson(m->toJson());
  FUZZ_CHECK(again);
  FUZZ_CHECK(again->canonical() == m->canonical());
  return 0;
}
