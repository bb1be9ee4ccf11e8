#pragma once
// nftables rulesets through libnftables, in the calling thread's network namespace.
#include <string>

#include "common/result.hpp"

namespace kuiga::sys {

// Runs `commands` (nft syntax, one transaction) in the calling thread's network namespace.
VoidResult runNft(const std::string& commands);

}  // namespace kuiga::sys
