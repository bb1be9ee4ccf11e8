#include "tests/support/shell.hpp"
#include <sstream>

#include <sys/wait.h>

#include <array>
#include <cstdio>

namespace kuiga::test {

std::string commandOutput(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>/dev/null").c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int st = ::pclose(p);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? out : "";
}

size_t countLines(const std::string& text, const std::string& part) {
  size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.find(part) != std::string::npos) ++n;
  return n;
}

}  // namespace kuiga::test
