#pragma once
// A base-station server of a scenario's timeline: a shell command line run in the base
// station's network namespace (run.radio.uplink, a name under /run/netns) from its time until
// the test ends, as the user would run it with `ip netns exec`. It runs on the machine that
// runs the test, as its user (entering a namespace takes CAP_SYS_ADMIN): a test's server is
// the user's own program, like the test itself. Its output goes to a file and its last lines
// into the report.
#include <memory>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace kuiga::scenario {

class StationServer {
 public:
  // Starts `/bin/sh -c command` in the namespace, in directory `dir` (the scenario's: relative
  // paths in the command are its own, as the AUT's are; "": this one); its output goes to
  // `logPath` ("": kept in memory only, its tail).
  static Result<std::unique_ptr<StationServer>> start(const std::string& command,
                                                      const std::string& netns,
                                                      const std::string& dir,
                                                      const std::string& logPath);
  ~StationServer();  // stop()s
  StationServer(const StationServer&) = delete;
  StationServer& operator=(const StationServer&) = delete;

  // How it ended ("exited with status 1"), if it has.
  std::optional<std::string> ended();
  // SIGTERM to its process group, SIGKILL after 3 s; idempotent.
  void stop();
  // Its output's last lines (up to 20).
  std::string tail() const;
  const std::string& command() const { return command_; }

 private:
  struct Impl;
  explicit StationServer(std::string command);
  std::string command_;
  std::shared_ptr<Impl> impl_;  // shared with its output's reader
};

}  // namespace kuiga::scenario
