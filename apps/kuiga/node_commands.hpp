#pragma once
// The roles of a Kuiga Box node (`kuiga master`, `kuiga worker --master`, `kuiga up`) and the
// client commands (`kuiga run ...`, `logs`, `console`, `jitter`, `workers`, `bench api`).
#include <map>
#include <string>

#include <CLI/CLI.hpp>

namespace kuiga::app {

struct WorkerNodeOptions {
  std::string master;  // the master's URL
  std::string name = "local";
  std::string stateDir = "./kuiga-data/worker";
  uint32_t capacity = 10000;
  std::vector<std::string> labels;  // "key=value"
  bool removeOnExit = false;        // remove every instance when stopped by a signal
};

// Adds the subcommands; each sets `exitCode` when it runs.
void addNodeCommands(CLI::App& app, CLI::App* workerCmd, int& exitCode);
void addClientCommands(CLI::App& app, int& exitCode);

}  // namespace kuiga::app
