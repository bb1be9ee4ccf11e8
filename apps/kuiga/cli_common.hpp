#pragma once
// What the client commands share: where the master is and with which token, --json, exit codes.
// Exit codes: 0 done, 1 the system failed (unreachable, 5xx), 2 bad input (4xx), 3 no such run
// or instance (404), 4 not allowed now (409: state, capacity).
#include <string>

#include <CLI/CLI.hpp>

#include "client/api_client.hpp"

namespace kuiga::app {

struct ClientOptions {
  std::string config;  // --config FILE
  std::string master;  // --master URL
  std::string token;   // --token TOKEN
  bool json = false;
};

// --config, --master, --token and --json on a client command.
void addClientOptions(CLI::App* cmd, ClientOptions& o);
// A client of the master the options and the configuration name; a configuration that cannot
// be read ends the command (exit code 2) with the reason.
client::ApiClient apiFor(const ClientOptions& o);

int codeOf(const std::string& message);
int failWith(const std::string& cmd, const Error& e);
// A name as the terminal should show it: control characters (which could move the cursor or
// fake rows) as \xNN.
std::string printable(const std::string& s);

}  // namespace kuiga::app
