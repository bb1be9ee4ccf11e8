// The assertions against what a run measured: pure functions, so that each kind is tested on
// its own, passing and failing.
#include <algorithm>
#include <regex>

#include <fmt/format.h>

#include "scenario/scenario.hpp"

namespace kuiga::scenario {

namespace {

constexpr size_t kEvidenceDevices = 20;  // devices named per failed assertion
constexpr size_t kTailLines = 5;         // of each one's log

using json = nlohmann::json;

std::string tail(const Measured& m, uint32_t index) {
  auto it = m.logs.find(index);
  if (it == m.logs.end() || it->second.empty()) return "(no output)";
  const auto& lines = it->second;
  std::string out;
  for (size_t i = lines.size() > kTailLines ? lines.size() - kTailLines : 0; i < lines.size(); ++i)
    out += fmt::format("{:.3f}s {}\n", lines[i].atSeconds, lines[i].text);
  return out;
}

Outcome failWith(Outcome o, std::string measured) {
  o.verdict = Verdict::Failed;
  o.measured = std::move(measured);
  return o;
}

Outcome logs(const Assertion& a, const Measured& m, Outcome o) {
  const std::regex re(a.regex);
  uint32_t matched = 0;
  std::vector<uint32_t> missing;
  for (uint32_t i = 0; i < m.count; ++i) {
    bool found = false;
    if (auto it = m.logs.find(i); it != m.logs.end())
      for (const auto& l : it->second)
        if ((a.withinSeconds <= 0 || l.atSeconds <= a.withinSeconds) &&
            l.atSeconds >= a.afterSeconds && std::regex_search(l.text, re)) {
          found = true;
          break;
        }
    if (found)
      ++matched;
    else
      missing.push_back(i);
  }
  o.measured = fmt::format("{} of {} devices", matched, m.count);
  o.value = m.count ? static_cast<double>(matched) / m.count : 0;
  if (m.count > 0 && matched >= a.share * m.count - 1e-9) return o;
  o = failWith(o, o.measured);
  for (size_t k = 0; k < missing.size() && k < kEvidenceDevices; ++k)
    o.evidence[missing[k]] = "no matching line; its log ends:\n" + tail(m, missing[k]);
  return o;
}

Outcome logCount(const Assertion& a, const Measured& m, Outcome o) {
  const std::regex re(a.regex);
  std::map<uint32_t, uint64_t> per;
  uint64_t total = 0;
  for (uint32_t i = 0; i < m.count; ++i) {
    uint64_t n = 0;
    if (auto it = m.logs.find(i); it != m.logs.end())
      for (const auto& l : it->second) n += std::regex_search(l.text, re) ? 1 : 0;
    per[i] = n;
    total += n;
  }
  if (!a.perDevice) {
    o.measured = fmt::format("{} lines", total);
    o.value = static_cast<double>(total);
    return a.bound.holds(static_cast<double>(total)) ? o : failWith(o, o.measured);
  }
  std::vector<uint32_t> off;
  for (const auto& [i, n] : per)
    if (!a.bound.holds(static_cast<double>(n))) off.push_back(i);
  o.measured = fmt::format("{} of {} devices within the bound", m.count - off.size(), m.count);
  o.value = m.count ? static_cast<double>(m.count - off.size()) / m.count : 0;
  if (off.empty() && m.count > 0) return o;
  o = failWith(o, o.measured);
  for (size_t k = 0; k < off.size() && k < kEvidenceDevices; ++k)
    o.evidence[off[k]] =
        fmt::format("{} matching lines; its log ends:\n{}", per[off[k]], tail(m, off[k]));
  return o;
}

Outcome noFailed(const Measured& m, Outcome o) {
  std::vector<uint32_t> failed;
  for (const auto& [i, st] : m.states)
    if (st == "failed") failed.push_back(i);
  o.measured = fmt::format("{} failed", failed.size());
  o.value = static_cast<double>(failed.size());
  if (failed.empty()) return o;
  o = failWith(o, o.measured);
  for (size_t k = 0; k < failed.size() && k < kEvidenceDevices; ++k) {
    auto r = m.reasons.find(failed[k]);
    o.evidence[failed[k]] = (r != m.reasons.end() ? r->second : std::string("failed")) +
                            "; its log ends:\n" + tail(m, failed[k]);
  }
  return o;
}

// A number the run measured, or why there is none.
struct Value {
  bool known = false;
  double value = 0;
  std::string why;  // when not known
};

uint64_t counter(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<uint64_t>() : 0;
}

Value measure(Assertion::Kind k, const Measured& m) {
  using K = Assertion::Kind;
  const json& r = m.radio;
  switch (k) {
    case K::JitterP99: {
      const json& run = m.jitter.is_object() ? m.jitter.value("run", json()) : json();
      if (!run.is_object() || run.value("samples", 0) == 0)
        return {false, 0, "no jitter samples (does the run's AUT report wakeups, with period_ms?)"};
      return {true, run.value("p99", 0.0), {}};
    }
    case K::DeliveryRatio: {
      // What the Plexer read toward the base station, and what the kernel dropped before it
      // could (gateway_drops: the workers' count, all runs together, so a share of it may be
      // another run's when several run at once: the ratio errs low, never high).
      uint64_t sent = counter(r, "to_station_frames") + counter(r, "gateway_drops");
      if (sent == 0) return {false, 0, "no frame was sent toward the base station"};
      return {true, static_cast<double>(counter(r, "uplink_frames")) / sent, {}};
    }
    case K::ZepDelivery: {
      const json z = r.is_object() ? r.value("zep", json()) : json();
      uint64_t got = counter(z, "received");
      uint64_t decided = got + counter(z, "lost_on_links") + counter(z, "dropped_channel");
      if (!z.is_object()) return {false, 0, "the run has no ZEP radio"};
      if (decided == 0) return {false, 0, "no ZEP frame reached the medium"};
      return {true, static_cast<double>(got) / decided, {}};
    }
    case K::MissedFrames:
      if (!r.is_object()) return {false, 0, "no radio counters"};
      return {true, static_cast<double>(counter(r, "missed_frames")), {}};
    case K::LeasesMax: {
      if (!r.is_object() || !r.contains("cells") || r["cells"].empty())
        return {false, 0, "the run has no UE cell"};
      uint64_t most = 0;
      for (const auto& c : r["cells"]) most = std::max(most, counter(c, "max_leases"));
      return {true, static_cast<double>(most), {}};
    }
    default:
      return {false, 0, "not a measured value"};
  }
}

}  // namespace

bool Bound::holds(double measured) const {
  constexpr double eps = 1e-9;
  switch (op) {
    case Op::AtMost:
      return measured <= value + eps;
    case Op::AtLeast:
      return measured >= value - eps;
    case Op::Equal:
      return std::abs(measured - value) <= eps;
  }
  return false;
}

std::string Bound::text() const {
  return fmt::format("{} {:g}", op == Op::AtMost ? "<=" : op == Op::AtLeast ? ">=" : "==", value);
}

const char* toString(Verdict v) {
  switch (v) {
    case Verdict::Passed:
      return "passed";
    case Verdict::Failed:
      return "failed";
    case Verdict::Error:
      return "error";
  }
  return "?";
}

std::vector<Outcome> evaluate(const Scenario& s, const Measured& m) {
  using K = Assertion::Kind;
  std::vector<Outcome> out;
  for (const auto& a : s.assertions) {
    Outcome o;
    o.assertion = &a;
    switch (a.kind) {
      case K::Logs:
        out.push_back(logs(a, m, o));
        break;
      case K::LogCount:
        out.push_back(logCount(a, m, o));
        break;
      case K::NoFailed:
        out.push_back(noFailed(m, o));
        break;
      default: {
        Value v = measure(a.kind, m);
        if (!v.known) {
          out.push_back(failWith(o, v.why));
          break;
        }
        o.measured = fmt::format("{:g}", v.value);
        o.value = v.value;
        out.push_back(a.bound.holds(v.value) ? o : failWith(o, o.measured));
      }
    }
  }
  return out;
}

Verdict Report::verdict() const {
  if (!error.empty()) return Verdict::Error;
  for (const auto& o : outcomes)
    if (o.verdict != Verdict::Passed) return Verdict::Failed;
  return Verdict::Passed;
}

}  // namespace kuiga::scenario
