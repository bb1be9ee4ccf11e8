#pragma once
// Cuts one device out of pcapng written by PcapngWriter: for every section that has an
// interface named `name`, that section's header, the interface (renumbered 0) and its packets.
// The result is a valid pcapng file with only that device.
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace kuiga::plexer {

Result<std::string> filterInterface(std::string_view pcapng, const std::string& name);

}  // namespace kuiga::plexer
