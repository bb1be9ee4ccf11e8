#include "tests/support/fake_runtime.hpp"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kuiga::test {

FakeRuntime::FakeRuntime(std::string logDir, worker::EventSink sink)
    : logDir_(std::move(logDir)), sink_(std::move(sink)) {
  std::filesystem::create_directories(logDir_);
}

void FakeRuntime::transition(InstanceId id, InstanceState s, const std::string& reason) {
  worker::InstanceEvent e{id, s, worker::realtimeNs(), reason};
  {
    std::lock_guard lock(mu_);
    auto& st = instances_[id];
    st.id = id;
    st.state = s;
    st.reason = reason;
    st.history.push_back(e);
  }
  sink_({e});
}

worker::BulkResult FakeRuntime::create(std::span<const worker::InstanceSpec> specs,
                                       const worker::Progress&) {
  worker::BulkResult r;
  for (const auto& s : specs) {
    {
      std::lock_guard lock(mu_);
      specs_[s.id] = s;
    }
    transition(s.id, InstanceState::Pending);
    transition(s.id, InstanceState::Prolog);
    bool fails;
    {
      std::lock_guard lock(mu_);
      fails = failCreate_.contains(s.id.index);
    }
    if (fails) {
      transition(s.id, InstanceState::Failed, "injected failure");
      r.failed.emplace_back(s.id, Error::msg("injected failure"));
      continue;
    }
    std::ofstream(logPath(s.id)) << fmt::format("2026-11-28T00:00:00.000000Z args:{}\n",
                                                fmt::join(s.args, " "));
    transition(s.id, InstanceState::Booting);
    ++r.ok;
  }
  return r;
}

worker::BulkResult FakeRuntime::start(std::span<const InstanceId> ids, const worker::Progress&) {
  worker::BulkResult r;
  for (auto id : ids) {
    auto st = status(id);
    if (!st || st->state != InstanceState::Booting) {
      r.failed.emplace_back(id, Error::msg("not booting"));
      continue;
    }
    transition(id, InstanceState::Running);
    ++r.ok;
  }
  return r;
}

worker::BulkResult FakeRuntime::stop(std::span<const InstanceId> ids, std::chrono::milliseconds,
                                     const worker::Progress&) {
  worker::BulkResult r;
  for (auto id : ids) {
    auto st = status(id);
    if (st && !isFinal(st->state)) {
      transition(id, InstanceState::ShuttingDown);
      transition(id, InstanceState::Terminated, "stopped");
    }
    ++r.ok;
  }
  return r;
}

worker::BulkResult FakeRuntime::remove(std::span<const InstanceId> ids, const worker::Progress&) {
  worker::BulkResult r;
  for (auto id : ids) {
    std::lock_guard lock(mu_);
    instances_.erase(id);
    specs_.erase(id);
    ++r.ok;  // the log stays, as with the real runtimes, until the worker purges the run
  }
  return r;
}

std::optional<worker::InstanceStatus> FakeRuntime::status(InstanceId id) const {
  std::lock_guard lock(mu_);
  auto it = instances_.find(id);
  if (it == instances_.end()) return std::nullopt;
  return it->second;
}

std::vector<worker::InstanceStatus> FakeRuntime::list() const {
  std::lock_guard lock(mu_);
  std::vector<worker::InstanceStatus> out;
  for (const auto& [id, st] : instances_) out.push_back(st);
  return out;
}

Result<worker::RecoveryReport> FakeRuntime::recover() {
  return worker::RecoveryReport{};
}

VoidResult FakeRuntime::console(InstanceId id, std::string_view line) {
  auto st = status(id);
  if (!st) return failMsg("no instance " + displayName(id));
  // The fake AUT echoes its input, as the echo_console test app does.
  std::ofstream(logPath(id), std::ios::app) << "2026-11-28T00:00:01.000000Z echo: " << line << "\n";
  return {};
}

std::string FakeRuntime::logPath(InstanceId id) const {
  return logDir_ + "/" + slug(id) + ".log";
}

void FakeRuntime::failCreate(std::set<uint32_t> indexes) {
  std::lock_guard lock(mu_);
  failCreate_ = std::move(indexes);
}

void FakeRuntime::crash(InstanceId id, const std::string& why) {
  transition(id, InstanceState::Failed, why);
}

std::vector<worker::InstanceSpec> FakeRuntime::created() const {
  std::lock_guard lock(mu_);
  std::vector<worker::InstanceSpec> out;
  for (const auto& [id, s] : specs_) out.push_back(s);
  return out;
}

}  // namespace kuiga::test
