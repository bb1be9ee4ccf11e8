#pragma once
// Every rule a run spec must meet beyond its form (which RunSpec::fromJson reads), checked in
// one place, when the run is created: its name, what the image's profile allows, its ZEP
// topology, the size of one device's arguments; and the defaults it takes from the image
// (network, arguments) and the clock (start time). The spec that comes back is the one stored:
// it shows what the run really does. A pure function of its inputs.
#include <cstdint>

#include "imagestore/image.hpp"
#include "master/api_error.hpp"
#include "spec/run_spec.hpp"

namespace kuiga::master {

ApiResult<RunSpec> admit(RunSpec spec, const imagestore::Manifest& image, int64_t nowMs);

// Whether `s` is valid UTF-8 without control characters: a name is printed in listings, and one
// with newlines or escape sequences could fake their rows.
bool printableUtf8(const std::string& s);

}  // namespace kuiga::master
