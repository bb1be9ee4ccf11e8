#include "spec/run_spec.hpp"

#include <sstream>

#include <fmt/format.h>

#include "common/json_number.hpp"
#include "spec/identity.hpp"
#include "spec/instance_state.hpp"

namespace kuiga {

static constexpr std::string_view kRunStates[] = {"pending", "ready",   "running",
                                                  "stopped", "deleted", "dirty"};

std::string_view toString(RunState s) {
  return kRunStates[static_cast<size_t>(s)];
}

Result<RunState> parseRunState(std::string_view s) {
  for (size_t i = 0; i < std::size(kRunStates); ++i)
    if (kRunStates[i] == s) return static_cast<RunState>(i);
  return failMsg(fmt::format("unknown run state '{}'", s));
}

std::string_view toString(RunAction a) {
  switch (a) {
    case RunAction::Start:
      return "start";
    case RunAction::Stop:
      return "stop";
    case RunAction::Delete:
      return "delete";
  }
  return "?";
}

std::optional<std::string> refuse(RunState s, RunAction a) {
  auto no = [&](std::string why) {
    return fmt::format("cannot {} a run that is {}: {}", toString(a), toString(s), why);
  };
  switch (a) {
    case RunAction::Start:
      if (s == RunState::Ready) return std::nullopt;
      if (s == RunState::Pending) return no("its instances are still being created");
      if (s == RunState::Running) return no("it is already running");
      if (s == RunState::Stopped) return no("a stopped run is only deleted; create a new one");
      return no("delete it");
    case RunAction::Stop:
      // A dirty run may still have instances running: stopping it stops them (it stays dirty).
      if (s == RunState::Running || s == RunState::Dirty) return std::nullopt;
      return no("only a running (or dirty) run stops");
    case RunAction::Delete:
      if (s == RunState::Pending)
        return no("wait until its instances are created (ready or dirty)");
      if (s == RunState::Deleted) return no("it is already deleted");
      return std::nullopt;
  }
  return no("unknown action");
}

const std::vector<std::string>& instanceStateNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (size_t i = 0; i < kInstanceStateCount; ++i)
      v.emplace_back(toString(static_cast<InstanceState>(i)));
    v.emplace_back(kLost);
    v.emplace_back(kDeleted);
    return v;
  }();
  return names;
}

std::vector<std::string> splitArgs(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

nlohmann::json RunSpec::toJson() const {
  nlohmann::json j = {{"name", name},
                      {"image", image},
                      {"count", count},
                      {"policy", policy == FailurePolicy::Dirty ? "dirty" : "reschedule"},
                      {"start_ms", startMs},
                      {"period_ms", periodMs},
                      {"seed", seed},
                      {"limits",
                       {{"memory_mb", limits.memoryBytes >> 20},
                        {"disk_mb", limits.diskMb},
                        {"pids", limits.pids},
                        {"cpu_milli", limits.cpuMilli}}}};
  j["args"] = argsGiven ? nlohmann::json(args) : nlohmann::json(nullptr);
  j["net"] = net ? nlohmann::json(std::string(toString(*net))) : nlohmann::json(nullptr);
  j["radio"] = radio ? radio->toJson() : nlohmann::json(nullptr);
  j["zep"] = zep ? zep->toJson() : nlohmann::json(nullptr);
  j["security"] = {{"seccomp", seccomp ? "default" : "unconfined"}};
  j["isolation"] = std::string(toString(isolation));
  j["group_size"] =
      isolation == Isolation::Group ? nlohmann::json(groupSize) : nlohmann::json(nullptr);
  return j;
}

namespace {

// Reads optional fields with type checks that name the field.
struct Reader {
  const nlohmann::json& j;
  Error* err;

  bool has(const char* k) const { return j.contains(k) && !j[k].is_null(); }
  bool bad(const std::string& msg) const {
    if (err->message.empty()) *err = Error::msg(msg);
    return false;
  }
  template <class T>
  bool integer(const char* k, T& out, int64_t lo, int64_t hi) const {
    if (!has(k)) return true;
    const auto& v = j[k];
    if (!v.is_number_integer())
      return bad(fmt::format("'{}' must be an integer, not {}", k, v.type_name()));
    auto n = wholeNumber<int64_t>(v);
    if (!n || *n < lo || *n > hi)
      return bad(fmt::format("'{}' must be between {} and {}, not {}", k, lo, hi, v.dump()));
    out = static_cast<T>(*n);
    return true;
  }
  bool string(const char* k, std::string& out) const {
    if (!has(k)) return true;
    if (!j[k].is_string())
      return bad(fmt::format("'{}' must be a string, not {}", k, j[k].type_name()));
    out = j[k].get<std::string>();
    return true;
  }
};

}  // namespace

Result<RunSpec> RunSpec::fromJson(const nlohmann::json& j) {
  if (!j.is_object())
    return failMsg(fmt::format("the run spec must be a JSON object, not {}", j.type_name()));
  static const std::vector<std::string> known = {
      "name",   "image",    "count",     "args",      "net",       "limits",
      "policy", "start_ms", "period_ms", "seed",      "profile",   "executable",
      "radio",  "zep",      "security",  "isolation", "group_size"};
  for (const auto& [k, v] : j.items())
    if (std::find(known.begin(), known.end(), k) == known.end())
      return failMsg(fmt::format("unknown field '{}' in the run spec", k));
  RunSpec s;
  Error err;
  Reader r{j, &err};
  if (!r.has("count")) return failMsg("'count' is required");
  r.integer("count", s.count, 1, kMaxInstancesPerRun) && r.string("name", s.name) &&
      r.string("image", s.image) && r.integer("start_ms", s.startMs, 0, int64_t{1} << 50) &&
      r.integer("period_ms", s.periodMs, 0, 86400000) &&
      r.integer("seed", s.seed, 0, std::numeric_limits<int64_t>::max());
  for (auto [key, out] :
       {std::pair{"profile", &s.uploadProfile}, std::pair{"executable", &s.uploadExecutable}}) {
    std::string v;
    if (r.has(key) && r.string(key, v)) *out = v;
  }
  if (!err.message.empty()) return fail(err);
  if (s.name.size() > 200) return failMsg("'name' is longer than 200 characters");
  if (r.has("args")) {
    const auto& a = j["args"];
    s.argsGiven = true;
    if (a.is_string()) {
      s.args = splitArgs(a.get<std::string>());
    } else if (a.is_array()) {
      for (const auto& e : a) {
        if (!e.is_string()) return failMsg("'args' must be a string or an array of strings");
        s.args.push_back(e.get<std::string>());
      }
    } else {
      return failMsg(
          fmt::format("'args' must be a string or an array of strings, not {}", a.type_name()));
    }
    // Check the template now, so a typo is a 400 rather than N failed instances.
    for (const auto& arg : s.args)
      if (auto x = expandTemplate(arg, {{1, 0}, 1, "tap0", 0, 0}); !x)
        return failMsg("'args': " + x.error().message);
  }
  if (r.has("net")) {
    std::string n;
    if (!r.string("net", n)) return fail(err);
    auto m = parseNetMode(n);
    if (!m) return failMsg("'net': " + m.error().message);
    s.net = *m;
  }
  if (r.has("isolation")) {
    std::string v;
    if (!r.string("isolation", v)) return fail(err);
    auto i = parseIsolation(v);
    if (!i) return failMsg("'isolation': " + i.error().message);
    s.isolation = *i;
  }
  if (!r.integer("group_size", s.groupSize, 1, kMaxGroupSize)) return fail(err);
  if (r.has("group_size") && s.isolation != Isolation::Group)
    return failMsg("'group_size' is for \"isolation\": \"group\"");
  if (r.has("policy")) {
    std::string p;
    if (!r.string("policy", p)) return fail(err);
    if (p == "dirty")
      s.policy = FailurePolicy::Dirty;
    else if (p == "reschedule")
      s.policy = FailurePolicy::Reschedule;
    else
      return failMsg("'policy' must be \"dirty\" or \"reschedule\", not \"" + p + "\"");
  }
  if (r.has("limits")) {
    const auto& l = j["limits"];
    if (!l.is_object()) return failMsg("'limits' must be an object");
    for (const auto& [k, v] : l.items())
      if (k != "memory_mb" && k != "pids" && k != "cpu_milli" && k != "disk_mb")
        return failMsg("unknown field 'limits." + k + "' (memory_mb, pids, cpu_milli, disk_mb)");
    Reader lr{l, &err};
    uint64_t mb = 0;
    lr.integer("memory_mb", mb, 0, 1 << 20) && lr.integer("pids", s.limits.pids, 1, 1 << 22) &&
        lr.integer("disk_mb", s.limits.diskMb, 1, 1 << 16) &&
        lr.integer("cpu_milli", s.limits.cpuMilli, 0, 1 << 20);
    if (!err.message.empty()) return fail(err.context("'limits'"));
    s.limits.memoryBytes = mb << 20;
  }
  if (r.has("security")) {
    const auto& sec = j["security"];
    if (!sec.is_object()) return failMsg("'security' must be an object");
    for (const auto& [k, v] : sec.items()) {
      if (k != "seccomp") return failMsg("unknown field 'security." + k + "' (seccomp)");
      if (!v.is_string() || (v != "default" && v != "unconfined"))
        return failMsg("'security.seccomp' is \"default\" or \"unconfined\"");
      s.seccomp = v == "default";
    }
  }
  if (r.has("radio")) {
    auto radio = RadioSpec::fromJson(j["radio"]);
    if (!radio) return fail(radio.error());
    s.radio = std::move(*radio);
  }
  if (r.has("zep")) {
    auto zep = ZepSpec::fromJson(j["zep"]);
    if (!zep) return fail(zep.error());
    s.zep = std::move(*zep);
  }
  return s;
}

}  // namespace kuiga
