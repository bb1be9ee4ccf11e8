#include "worker/agent/run_artifacts.hpp"

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "sys/file.hpp"

namespace kuiga::worker {

namespace fs = std::filesystem;

RunArtifacts::RunArtifacts(std::string stateDir) : stateDir_(std::move(stateDir)) {}

std::optional<RunId> RunArtifacts::runOf(const std::string& dir, const std::string& name) {
  unsigned long run = 0;
  int used = 0;
  if (dir == "logs") {  // rR-iI.log, rR-iI.log.1
    if (std::sscanf(name.c_str(), "r%lu-i%*u%n", &run, &used) != 1 || used == 0)
      return std::nullopt;
  } else {  // run-R.pcapng, run-R.1-3.pcapng, run-R-zep-T.pcapng, run-R.leases, run-R.radio.json
    if (std::sscanf(name.c_str(), "run-%lu%n", &run, &used) != 1) return std::nullopt;
    if (static_cast<size_t>(used) < name.size() && name[used] != '.' && name[used] != '-')
      return std::nullopt;
  }
  if (run > UINT32_MAX || !std::isdigit(static_cast<unsigned char>(name[dir == "logs" ? 1 : 4])))
    return std::nullopt;
  return static_cast<RunId>(run);
}

std::set<RunId> RunArtifacts::runs() const {
  std::set<RunId> out;
  for (const char* d : kDirs) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(stateDir_ + "/" + d, ec))
      if (auto r = runOf(d, e.path().filename().string())) out.insert(*r);
  }
  return out;
}

size_t RunArtifacts::purge(RunId run) const {
  size_t n = 0;
  for (const char* d : kDirs) {
    std::error_code ec;
    std::vector<fs::path> mine;
    for (const auto& e : fs::directory_iterator(stateDir_ + "/" + d, ec))
      if (runOf(d, e.path().filename().string()) == run) mine.push_back(e.path());
    for (const auto& p : mine) n += fs::remove(p, ec);
  }
  return n;
}

VoidResult RunArtifacts::moveAll(const std::string& dest) const {
  for (const char* d : kDirs) {
    std::error_code ec;
    const std::string to = dest + "/" + d;
    fs::create_directories(to, ec);
    if (ec) return failMsg(fmt::format("create '{}': {}", to, ec.message()));
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(stateDir_ + "/" + d, ec))
      if (runOf(d, e.path().filename().string())) files.push_back(e.path());
    for (const auto& p : files) {
      fs::rename(p, to + "/" + p.filename().string(), ec);
      if (ec) return failMsg(fmt::format("move '{}' to '{}': {}", p.string(), to, ec.message()));
    }
  }
  return {};
}

std::string storedClusterId(const std::string& stateDir) {
  auto s = sys::readFile(stateDir + "/cluster-id");
  if (!s) return {};
  std::string id = *s;
  while (!id.empty() && std::isspace(static_cast<unsigned char>(id.back()))) id.pop_back();
  return id;
}

VoidResult storeClusterId(const std::string& stateDir, const std::string& id) {
  return sys::replaceFile(stateDir + "/cluster-id", id + "\n");
}

}  // namespace kuiga::worker
