#pragma once
// Deadline jitter (report, section 5.2.1, Equation 5.1). The periodic AUT prints
// "wakeup_ms sleep_ms start_ms n" per wakeup; the deadline of wakeup n is start_ms + n * period,
// and its jitter is |wakeup_ms - (start_ms + n * period)|. The report's equation also subtracts
// a "now" term; with the AUT printing right after waking, that term is the printing delay,
// which we leave out so the figure is the wakeup's lateness alone.
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace kuiga {

struct JitterStats {
  size_t samples = 0;
  // Milliseconds. min, p25, p50, p75 and max draw a box plot (the report's Figure 5.1).
  double min = 0, p25 = 0, p50 = 0, p75 = 0, p95 = 0, p99 = 0, max = 0, mean = 0;
};

struct Wakeup {
  double deadlineMs;  // Unix time
  double jitterMs;
};
// The wakeup of one log line (with or without the worker's leading receive timestamp), or
// nullopt when the line is not a periodic wakeup line.
std::optional<Wakeup> wakeupOfLine(std::string_view line, double periodMs);
// Jitter of one log line (with or without the worker's leading receive timestamp), or nullopt
// when the line is not a periodic wakeup line.
std::optional<double> jitterOfLine(std::string_view line, double periodMs);
// Nearest-rank percentiles; `samples` is reordered.
JitterStats summarize(std::vector<double>& samples);
// Appends the jitter of every wakeup line in `path` (and its rotated "path.1") to `out`, of
// the wakeups whose deadline is at or before `untilMs` (Unix time): a benchmark measures the
// run, not the stop that follows it.
VoidResult jitterFromLog(const std::string& path, double periodMs, std::vector<double>& out,
                         double untilMs = std::numeric_limits<double>::infinity());

}  // namespace kuiga
