// Reading a scenario file: YAML through yaml-cpp, every error with its line and column.
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "scenario/scenario.hpp"
#include "spec/identity.hpp"

namespace kuiga::scenario {

namespace {

// An error about a node, or about the file when there is no node.
struct Where {
  std::string file;
  std::string at(const YAML::Node& n) const {
    auto m = n.Mark();
    if (m.is_null()) return file;
    return fmt::format("{}:{}:{}", file, m.line + 1, m.column + 1);
  }
};

struct BadScenario {
  std::string message;
};

[[noreturn]] void bad(const Where& w, const YAML::Node& n, const std::string& what) {
  throw BadScenario{w.at(n) + ": " + what};
}

Place placeOf(const YAML::Node& n) {
  auto m = n.Mark();
  return m.is_null() ? Place{} : Place{m.line + 1, m.column + 1};
}

void onlyKeys(const Where& w, const YAML::Node& map, const std::set<std::string>& allowed,
              const std::string& what) {
  if (!map.IsMap()) bad(w, map, what + " is a map of keys");
  for (const auto& kv : map) {
    auto key = kv.first.as<std::string>();
    if (allowed.count(key)) continue;
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    bad(w, kv.first, fmt::format("unknown key '{}' in {} (known: {})", key, what, list));
  }
}

std::string text(const Where& w, const YAML::Node& n, const std::string& what) {
  if (!n.IsScalar()) bad(w, n, what + " is a string");
  return n.as<std::string>();
}

double number(const Where& w, const YAML::Node& n, const std::string& what) {
  double v = 0;
  if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !std::isfinite(v))
    bad(w, n, what + " is a number");
  return v;
}

// "10s", "250ms", "2m", "1h" or a number of seconds.
double seconds(const Where& w, const YAML::Node& n, const std::string& what) {
  if (!n.IsScalar()) bad(w, n, what + " is a duration (10s, 250ms, 2m)");
  std::string s = n.as<std::string>();
  double v = 0;
  if (YAML::convert<double>::decode(n, v) && v >= 0) return v;
  static const std::regex re(R"(^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)\s*$)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) bad(w, n, what + " is a duration (10s, 250ms, 2m): '" + s + "'");
  double x = std::stod(m[1]);
  const std::string unit = m[2];
  return unit == "ms" ? x / 1000 : unit == "s" ? x : unit == "m" ? x * 60 : x * 3600;
}

std::string regexOf(const Where& w, const YAML::Node& n, const std::string& what) {
  std::string r = text(w, n, what);
  try {
    std::regex check(r);
  } catch (const std::regex_error& e) {
    bad(w, n, fmt::format("{} /{}/ is not a regular expression: {}", what, r, e.what()));
  }
  return r;
}

// YAML as the API's JSON: plain scalars are numbers or booleans when they read as one.
nlohmann::json toJson(const YAML::Node& n) {
  if (n.IsMap()) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& kv : n) o[kv.first.as<std::string>()] = toJson(kv.second);
    return o;
  }
  if (n.IsSequence()) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& e : n) a.push_back(toJson(e));
    return a;
  }
  if (!n.IsScalar()) return nullptr;
  if (n.Tag() == "!") return n.as<std::string>();  // quoted: a string
  int64_t i = 0;
  double d = 0;
  bool b = false;
  if (YAML::convert<int64_t>::decode(n, i)) return i;
  if (YAML::convert<double>::decode(n, d)) return d;
  if (YAML::convert<bool>::decode(n, b)) return b;
  return n.as<std::string>();
}

void readRun(const Where& w, const YAML::Node& run, Scenario& s) {
  onlyKeys(w, run,
           {"count", "profile", "net", "args", "period_ms", "radio", "zep", "limits", "policy",
            "name", "isolation", "group_size"},
           "run");
  if (!run["count"]) bad(w, run, "run needs a count (1 to 50000)");
  double count = number(w, run["count"], "run.count");
  if (count < 1 || count > kMaxInstancesPerRun || count != std::floor(count))
    bad(w, run["count"],
        fmt::format("run.count is a whole number from 1 to {}", kMaxInstancesPerRun));
  s.spec = toJson(run);
}

Devices devicesOf(const Where& w, const YAML::Node& n) {
  if (!n || (n.IsScalar() && n.as<std::string>() == "all")) return {};
  if (!n.IsSequence()) bad(w, n, "devices is 'all' or a list of device indexes");
  Devices d{false, {}};
  for (const auto& e : n) {
    double i = number(w, e, "a device index");
    if (i < 0 || i != std::floor(i) || i >= kMaxInstancesPerRun)
      bad(w, e, "a device index is a whole number from 0");
    d.indexes.push_back(static_cast<uint32_t>(i));
  }
  return d;
}

std::string devicesText(const Devices& d) {
  if (d.all) return "every device";
  std::string out = d.indexes.size() == 1 ? "device " : "devices ";
  for (size_t k = 0; k < d.indexes.size(); ++k) {
    if (k == 8) return out + fmt::format(" and {} more", d.indexes.size() - k);
    out += (k ? ", " : "") + std::to_string(d.indexes[k]);
  }
  return out;
}

// One action: exactly one of console (with devices), stop, start (each naming its devices,
// with grace for a stop) and server.
Action actionOf(const Where& w, const YAML::Node& e) {
  onlyKeys(w, e, {"at", "console", "devices", "stop", "start", "grace", "server"},
           "a timeline action");
  if (!e["at"]) bad(w, e, "an action needs 'at' (a time after the start)");
  int what = 0;
  for (const char* k : {"console", "stop", "start", "server"}) what += e[k] ? 1 : 0;
  if (what != 1) bad(w, e, "an action does one thing: console, stop, start or server");
  Action a;
  a.atSeconds = seconds(w, e["at"], "at");
  a.place = placeOf(e);
  if (e["devices"] && !e["console"])
    bad(w, e["devices"], "devices goes with console; stop and start name their devices");
  if (e["grace"] && !e["stop"]) bad(w, e["grace"], "grace goes with stop");
  if (e["console"]) {
    a.console = text(w, e["console"], "console");
    if (a.console.find('\n') != std::string::npos)
      bad(w, e["console"], "a console line is one line");
    a.devices = devicesOf(w, e["devices"]);
  } else if (e["stop"] || e["start"]) {
    a.kind = e["stop"] ? Action::Kind::Stop : Action::Kind::Start;
    a.devices = devicesOf(w, e["stop"] ? e["stop"] : e["start"]);
    if (e["grace"]) a.graceSeconds = seconds(w, e["grace"], "grace");
    if (a.graceSeconds > 600) bad(w, e["grace"], "grace is at most 10 minutes");
  } else {
    a.kind = Action::Kind::Server;
    a.command = text(w, e["server"], "server");
    if (a.command.empty()) bad(w, e["server"], "server is a command line");
  }
  return a;
}

void readTimeline(const Where& w, const YAML::Node& t, Scenario& s) {
  if (!t.IsSequence()) bad(w, t, "timeline is a list of actions");
  for (const auto& e : t) s.timeline.push_back(actionOf(w, e));
  std::stable_sort(s.timeline.begin(), s.timeline.end(),
                   [](const Action& x, const Action& y) { return x.atSeconds < y.atSeconds; });
}

// A bound: a number (with the assertion's usual sense) or {at_most|at_least|equal: N}.
Bound boundOf(const Where& w, const YAML::Node& n, Op usual, const std::string& what) {
  if (n.IsScalar()) return {usual, number(w, n, what)};
  onlyKeys(w, n, {"at_most", "at_least", "equal"}, what);
  if (n.size() != 1) bad(w, n, what + " has one of at_most, at_least, equal");
  auto kv = *n.begin();
  auto key = kv.first.as<std::string>();
  Op op = key == "at_most" ? Op::AtMost : key == "at_least" ? Op::AtLeast : Op::Equal;
  return {op, number(w, kv.second, what + "." + key)};
}

Assertion readAssertion(const Where& w, const YAML::Node& e) {
  using K = Assertion::Kind;
  static const std::map<std::string, std::pair<K, Op>> measures = {
      {"jitter_p99_ms", {K::JitterP99, Op::AtMost}},
      {"delivery_ratio", {K::DeliveryRatio, Op::AtLeast}},
      {"zep_delivery", {K::ZepDelivery, Op::AtLeast}},
      {"missed_frames", {K::MissedFrames, Op::AtMost}},
      {"leases_max", {K::LeasesMax, Op::AtMost}}};
  Assertion a;
  a.place = placeOf(e);
  if (!e.IsMap()) bad(w, e, "an assertion is a map, such as {no_failed: true}");
  if (e["logs"]) {
    onlyKeys(w, e, {"logs", "within", "after", "devices"}, "a logs assertion");
    a.kind = K::Logs;
    a.regex = regexOf(w, e["logs"], "logs");
    if (e["within"]) a.withinSeconds = seconds(w, e["within"], "within");
    if (e["after"]) a.afterSeconds = seconds(w, e["after"], "after");
    if (a.withinSeconds > 0 && a.afterSeconds >= a.withinSeconds)
      bad(w, e["after"], "after is before within");
    if (auto d = e["devices"]; d && text(w, d, "devices") != "every") {
      static const std::regex pct(R"(^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$)");
      std::smatch m;
      std::string v = d.as<std::string>();
      if (!std::regex_match(v, m, pct) || std::stod(m[1]) > 100)
        bad(w, d, "devices is 'every' or a share such as '90%'");
      a.share = std::stod(m[1]) / 100;
    }
    std::string when;
    if (a.afterSeconds > 0 && a.withinSeconds > 0)
      when = fmt::format(" between {:g} s and {:g} s", a.afterSeconds, a.withinSeconds);
    else if (a.afterSeconds > 0)
      when = fmt::format(" after {:g} s", a.afterSeconds);
    else if (a.withinSeconds > 0)
      when = fmt::format(" within {:g} s", a.withinSeconds);
    a.title = fmt::format("{} logs /{}/{}",
                          a.share >= 1 ? std::string("every device")
                                       : fmt::format("at least {:g}% of devices", a.share * 100),
                          a.regex, when);
    return a;
  }
  if (e["log_count"]) {
    onlyKeys(w, e, {"log_count", "per", "at_most", "at_least", "equal"}, "a log_count assertion");
    a.kind = K::LogCount;
    a.regex = regexOf(w, e["log_count"], "log_count");
    if (e["per"]) {
      std::string per = text(w, e["per"], "per");
      if (per != "device" && per != "total") bad(w, e["per"], "per is 'device' or 'total'");
      a.perDevice = per == "device";
    }
    YAML::Node b;
    for (const char* k : {"at_most", "at_least", "equal"})
      if (e[k]) b[k] = e[k];
    if (b.size() != 1) bad(w, e, "log_count needs one of at_most, at_least, equal");
    a.bound = boundOf(w, b, Op::Equal, "log_count");
    a.title = fmt::format("lines matching /{}/ {} {}", a.regex,
                          a.perDevice ? "on every device" : "in total", a.bound.text());
    return a;
  }
  if (e["no_failed"]) {
    onlyKeys(w, e, {"no_failed"}, "a no_failed assertion");
    bool yes = false;
    if (!YAML::convert<bool>::decode(e["no_failed"], yes) || !yes)
      bad(w, e["no_failed"], "no_failed is true");
    a.kind = K::NoFailed;
    a.title = "no instance failed";
    return a;
  }
  if (!e.IsMap() || e.size() != 1)
    bad(w, e,
        "an assertion is one of logs, log_count, no_failed, " +
            std::string("jitter_p99_ms, delivery_ratio, "
                        "zep_delivery, missed_frames, "
                        "leases_max"));
  auto kv = *e.begin();
  auto key = kv.first.as<std::string>();
  auto it = measures.find(key);
  if (it == measures.end()) bad(w, kv.first, "unknown assertion '" + key + "'");
  a.kind = it->second.first;
  a.bound = boundOf(w, kv.second, it->second.second, key);
  a.title = key + " " + a.bound.text();
  return a;
}

// {FIELD: [V1, V2, ...]}: a field of the run by its name (count) or any by its path (run.count,
// duration).
Sweep readSweep(const Where& w, const YAML::Node& n) {
  if (!n.IsMap() || n.size() != 1)
    bad(w, n, "a sweep is one field and its values: {count: [10, 100]}");
  auto kv = *n.begin();
  Sweep sw;
  sw.field = kv.first.as<std::string>();
  sw.place = placeOf(kv.first);
  static const std::set<std::string> runFields = {"count",     "profile",   "net",       "args",
                                                  "period_ms", "radio",     "zep",       "limits",
                                                  "policy",    "isolation", "group_size"};
  if (runFields.count(sw.field)) sw.field = "run." + sw.field;
  if (!kv.second.IsSequence() || kv.second.size() == 0 || kv.second.size() > 100)
    bad(w, kv.second, "a sweep's values are a list of 1 to 100");
  for (const auto& v : kv.second) {
    if (!v.IsScalar()) bad(w, v, "a sweep's value is a number or a string");
    sw.values.push_back(YAML::Dump(v));  // (quoted where a string needs it)
  }
  return sw;
}

// "a.b.c=value": the value (YAML) at that path, maps made on the way.
void applySet(YAML::Node root, const std::string& set) {
  auto eq = set.find('=');
  if (eq == std::string::npos || eq == 0)
    throw BadScenario{"--set " + set + ": not KEY=VALUE (run.count=100, say)"};
  std::vector<std::string> path;
  std::stringstream keys(set.substr(0, eq));
  for (std::string k; std::getline(keys, k, '.');) {
    if (k.empty()) throw BadScenario{"--set " + set + ": an empty key"};
    path.push_back(k);
  }
  YAML::Node value;
  try {
    value = YAML::Load(set.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    throw BadScenario{"--set " + set + ": " + e.msg};
  }
  // A number in a list is an entry of it: timeline.0.server=... sets the first action's.
  auto entry = [&](const YAML::Node& n, const std::string& k) -> std::optional<size_t> {
    if (!n.IsSequence()) return std::nullopt;
    if (k.find_first_not_of("0123456789") != std::string::npos || k.size() > 6 ||
        std::stoul(k) >= n.size())
      throw BadScenario{
          fmt::format("--set {}: '{}' is not an entry of a list of {}", set, k, n.size())};
    return std::stoul(k);
  };
  YAML::Node cur = root;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    if (auto at = entry(cur, path[i])) {
      cur.reset(cur[*at]);
      continue;
    }
    if (!cur[path[i]] || !(cur[path[i]].IsMap() || cur[path[i]].IsSequence()))
      cur[path[i]] = YAML::Node(YAML::NodeType::Map);
    cur.reset(cur[path[i]]);  // (not `cur = ...`, which would overwrite what cur is)
  }
  if (auto at = entry(cur, path.back()))
    cur[*at] = value;
  else
    cur[path.back()] = value;
}

Scenario read(const YAML::Node& root, const Where& w) {
  Scenario s;
  s.file = w.file;
  if (!root.IsMap())
    bad(w, root, "a scenario is a map (name, app, run, duration, timeline, assert)");
  onlyKeys(w, root, {"name", "app", "image", "run", "duration", "timeline", "assert", "sweep"},
           "a scenario");
  if (root["sweep"] && !root["sweep"].IsNull()) s.sweep = readSweep(w, root["sweep"]);
  if (root["name"]) s.name = text(w, root["name"], "name");
  if (root["app"]) s.app = text(w, root["app"], "app");
  if (root["image"]) s.image = text(w, root["image"], "image");
  if (s.app.empty() == s.image.empty())
    bad(w, root, "a scenario names its AUT: app (a path) or image (a digest)");
  if (!s.app.empty() && !w.file.empty() && std::filesystem::path(s.app).is_relative())
    s.app = (std::filesystem::path(w.file).parent_path() / s.app).lexically_normal().string();
  if (!root["run"]) bad(w, root, "a scenario needs run (count, profile, ...)");
  readRun(w, root["run"], s);
  if (root["duration"]) s.durationSeconds = seconds(w, root["duration"], "duration");
  if (root["timeline"]) readTimeline(w, root["timeline"], s);
  const uint32_t count = s.spec["count"].get<uint32_t>();
  std::string uplink;
  if (s.spec.contains("radio") && s.spec["radio"].is_object() &&
      s.spec["radio"].contains("uplink") && s.spec["radio"]["uplink"].is_string())
    uplink = s.spec["radio"]["uplink"].get<std::string>();
  for (auto& a : s.timeline) {
    if (a.kind == Action::Kind::Server) {
      if (uplink.empty())
        throw BadScenario{fmt::format(
            "{}:{}:{}: a server runs in the base station's network namespace: the run needs "
            "radio.uplink",
            w.file, a.place.line, a.place.column)};
      a.netns = uplink;
    }
    if (a.atSeconds > s.durationSeconds)
      throw BadScenario{fmt::format("{}:{}:{}: an action at {:g} s is after the end ({:g} s)",
                                    w.file, a.place.line, a.place.column, a.atSeconds,
                                    s.durationSeconds)};
    for (uint32_t i : a.devices.indexes)
      if (i >= count)
        throw BadScenario{fmt::format("{}:{}:{}: device {} is not in a run of {} (0 to {})", w.file,
                                      a.place.line, a.place.column, i, count, count - 1)};
  }
  if (!root["assert"] || !root["assert"].IsSequence() || root["assert"].size() == 0)
    bad(w, root["assert"] ? root["assert"] : root, "a scenario needs assert: a list of assertions");
  for (const auto& e : root["assert"]) s.assertions.push_back(readAssertion(w, e));
  return s;
}

}  // namespace

std::string Action::text() const {
  switch (kind) {
    case Kind::Console:
      return fmt::format("console \"{}\" to {}", console, devicesText(devices));
    case Kind::Stop:
      return "stop " + devicesText(devices);
    case Kind::Start:
      return "start " + devicesText(devices);
    case Kind::Server:
      return fmt::format("server \"{}\" in {}", command, netns);
  }
  return {};
}

Result<Scenario> parse(const std::string& text, const std::string& file,
                       const std::vector<std::string>& sets) {
  Where w{file.empty() ? "scenario" : file};
  try {
    YAML::Node root = YAML::Load(text);
    for (const auto& set : sets) applySet(root, set);
    Scenario s = read(root, w);
    s.file = file;
    s.source = text;
    return s;
  } catch (const YAML::ParserException& e) {
    return failMsg(fmt::format("{}:{}:{}: {}", w.file, e.mark.line + 1, e.mark.column + 1, e.msg));
  } catch (const YAML::Exception& e) {
    return failMsg(w.file + ": " + e.what());
  } catch (const BadScenario& e) {
    return failMsg(e.message);
  }
}

Result<std::vector<Scenario>> parsePoints(const std::string& text, const std::string& file,
                                          const std::vector<std::string>& sets) {
  auto base = parse(text, file, sets);
  if (!base) return fail(base.error());
  if (base->sweep.field.empty()) return std::vector<Scenario>{*base};
  std::vector<Scenario> out;
  for (const auto& v : base->sweep.values) {
    // Each point is the scenario read again with the field set (and checked again: a value can
    // make it wrong, as a count of 0 would).
    auto set = sets;
    set.push_back(base->sweep.field + "=" + v);
    set.push_back("sweep=~");
    auto p = parse(text, file, set);
    if (!p) return failMsg(fmt::format("at {}={}: {}", base->sweep.field, v, p.error().message));
    p->sweep = base->sweep;
    p->point = base->sweep.field + "=" + v;
    out.push_back(std::move(*p));
  }
  return out;
}

Result<std::vector<Scenario>> loadPoints(const std::string& path,
                                         const std::vector<std::string>& sets) {
  std::ifstream in(path);
  if (!in) return failMsg("cannot read scenario " + path);
  std::stringstream text;
  text << in.rdbuf();
  return parsePoints(text.str(), path, sets);
}

Result<Scenario> load(const std::string& path, const std::vector<std::string>& sets) {
  std::ifstream in(path);
  if (!in) return failMsg("cannot read scenario " + path);
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), path, sets);
}

}  // namespace kuiga::scenario
