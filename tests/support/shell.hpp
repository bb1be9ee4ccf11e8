#pragma once
// Running real tools from tests (tshark, ip).
#include <string>

namespace kuiga::test {

// The command's stdout (stderr dropped); "" when it cannot start or exits non-zero.
std::string commandOutput(const std::string& cmd);

}  // namespace kuiga::test
