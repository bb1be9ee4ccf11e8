#pragma once
// `kuiga bench seccomp`: what installing the instances' seccomp filter costs. Every isolated
// instance's AUT and every device of a group installs it right before its exec, so at 10,000
// instances its cost is part of the start. N children each install the filter and time that
// one call; each then checks that the filter refuses what it must (clone3, perf_event_open),
// so that a cheap filter that refuses nothing cannot pass.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace kuiga::bench {

struct SeccompBenchOptions {
  uint32_t count = 1000;  // installs, each in a child of its own
};

Result<nlohmann::json> runSeccompBench(const SeccompBenchOptions& opts);

}  // namespace kuiga::bench
