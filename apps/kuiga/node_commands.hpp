#pragma once
// The roles of a Kuiga Box node (`kuiga master`, `kuiga worker --master`, `kuiga up`) and the
// client commands (`kuiga run ...`, `logs`, `console`, `jitter`, `workers`, `bench api`).
#include <map>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "common/result.hpp"
#include "imagestore/s3_store.hpp"
#include "worker/agent/master_link.hpp"

namespace kuiga::app {

// Where an S3 Image Store is and how to reach it. Credentials are never options: they come from
// a credentials file or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
struct S3Options {
  std::string endpoint;
  std::string bucket;
  std::string region = "us-east-1";
  std::string addressing = "path";
  std::string credentialsFile;
  std::string profile = "default";
  uint64_t partMiB = 16;
  void addTo(CLI::App* cmd);
  // nullopt when no endpoint is given (the local image store).
  Result<std::optional<imagestore::S3Config>> config() const;
};

struct WorkerNodeOptions {
  S3Options s3;
  std::string master;  // the master's URL
  std::string name = "local";
  std::string stateDir = "./kuiga-data/worker";
  uint32_t capacity = 10000;
  std::vector<std::string> labels;  // "key=value"
  bool removeOnExit = false;        // remove every instance when stopped by a signal
  std::string runtime = "ns";       // or "docker"
  std::string dockerSocket = "/var/run/docker.sock";
  std::vector<std::string> exposed;  // host paths instances see read-only
  uint32_t uidBase = 200000;         // its instances' uids, [uidBase, uidBase + 65536)
  std::string underlayAddress;       // where other workers' tunnels reach this one
  bool plexer = false;               // `kuiga plexer`: cells only, no instances
  std::string joinToken;             // to enroll when it has no certificate yet
  std::string masterCaFile;          // the CA of the master's HTTPS certificate, if not its own
  std::optional<worker::NodeCredentials> credentials;  // given by kuiga up's own master
};

// Adds the subcommands; each sets `exitCode` when it runs.
void addNodeCommands(CLI::App& app, CLI::App* workerCmd, int& exitCode);
void addClientCommands(CLI::App& app, int& exitCode);
// kuiga token create|ls|rm.
void addAccessCommands(CLI::App& app, int& exitCode);
// `kuiga test FILE`: a scenario for a verdict (test_command.cpp).
void addTestCommand(CLI::App& app, int& exitCode);
// kuiga workers rm NAME [--revoke].
void addWorkerAdminCommands(CLI::App* workers, int& exitCode);

}  // namespace kuiga::app
