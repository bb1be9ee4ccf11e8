#include "common/jitter.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <numeric>

namespace kuiga {

std::optional<Wakeup> wakeupOfLine(std::string_view line, double periodMs) {
  std::string s(line);
  const char* p = s.c_str();
  // Skip the worker's receive timestamp ("2026-11-27T22:33:17.123456Z ").
  if (auto sp = s.find(' '); sp != std::string::npos && sp > 0 && s[sp - 1] == 'Z') p += sp + 1;
  char* end;
  double wakeup = std::strtod(p, &end);
  if (end == p) return std::nullopt;
  p = end;
  std::strtod(p, &end);  // sleep_ms
  if (end == p) return std::nullopt;
  p = end;
  double start = std::strtod(p, &end);
  if (end == p) return std::nullopt;
  p = end;
  long long n = std::strtoll(p, &end, 10);
  if (end == p || n < 0) return std::nullopt;
  while (*end == ' ') ++end;
  if (*end != '\0') return std::nullopt;
  const double deadline = start + static_cast<double>(n) * periodMs;
  return Wakeup{deadline, std::fabs(wakeup - deadline)};
}

std::optional<double> jitterOfLine(std::string_view line, double periodMs) {
  auto w = wakeupOfLine(line, periodMs);
  return w ? std::optional<double>(w->jitterMs) : std::nullopt;
}

JitterStats summarize(std::vector<double>& samples) {
  JitterStats st;
  st.samples = samples.size();
  if (samples.empty()) return st;
  std::sort(samples.begin(), samples.end());
  auto rank = [&](double q) {
    size_t idx = static_cast<size_t>(std::ceil(q * static_cast<double>(samples.size())));
    return samples[std::clamp<size_t>(idx, 1, samples.size()) - 1];
  };
  st.min = samples.front();
  st.p25 = rank(0.25);
  st.p50 = rank(0.50);
  st.p75 = rank(0.75);
  st.p95 = rank(0.95);
  st.p99 = rank(0.99);
  st.max = samples.back();
  st.mean =
      std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
  return st;
}

VoidResult jitterFromLog(const std::string& path, double periodMs, std::vector<double>& out,
                         double untilMs) {
  bool any = false;
  for (const auto& p : {path + ".1", path}) {
    std::ifstream in(p);
    if (!in) continue;
    any = true;
    std::string line;
    while (std::getline(in, line))
      if (auto w = wakeupOfLine(line, periodMs); w && w->deadlineMs <= untilMs)
        out.push_back(w->jitterMs);
  }
  if (!any) return failMsg("no log at '" + path + "'");
  return {};
}

}  // namespace kuiga
