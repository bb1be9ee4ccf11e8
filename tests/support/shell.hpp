#pragma once
// Running real tools from tests (tshark, ip).
#include <cstddef>
#include <string>

namespace kuiga::test {

// The command's stdout (stderr dropped); "" when it cannot start or exits non-zero.
std::string commandOutput(const std::string& cmd);
// How many lines of `text` (a tool's output, a log) contain `part`.
size_t countLines(const std::string& text, const std::string& part);

}  // namespace kuiga::test
