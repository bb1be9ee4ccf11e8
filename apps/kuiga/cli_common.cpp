#include "apps/kuiga/cli_common.hpp"

#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

namespace kuiga::app {

void addClientOptions(CLI::App* cmd, ClientOptions& o) {
  cmd->add_option("--config", o.config,
                  "client config (env KUIGA_CONFIG; default ~/.config/kuiga/config)");
  cmd->add_option("--master", o.master, "the master's URL (env KUIGA_MASTER)");
  cmd->add_option("--token", o.token, "an API token (env KUIGA_TOKEN)");
  cmd->add_flag("--json", o.json, "print JSON for scripts");
}

client::ApiClient apiFor(const ClientOptions& o) {
  auto c = client::resolveConfig({o.config, o.master, o.token});
  if (!c) {
    std::cerr << "kuiga: " << c.error().message << "\n";
    std::exit(2);
  }
  return client::ApiClient(*c);
}

int codeOf(const std::string& message) {
  if (message.find("(HTTP 404)") != std::string::npos) return 3;
  if (message.find("(HTTP 409)") != std::string::npos) return 4;
  if (message.find("(HTTP 4") != std::string::npos) return 2;
  return 1;
}

int failWith(const std::string& cmd, const Error& e) {
  std::cerr << "kuiga " << cmd << ": " << e.message << "\n";
  if (e.message.find("(HTTP 401)") != std::string::npos)
    std::cerr << "kuiga " << cmd
              << ": give a token: --token, KUIGA_TOKEN, or a config (--config, KUIGA_CONFIG, "
                 "~/.config/kuiga/config; a new master writes one as DATA/kuiga.conf)\n";
  return codeOf(e.message);
}

std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char ch : s)
    out += ch < 0x20 || ch == 0x7f ? fmt::format("\\x{:02x}", ch) : std::string(1, char(ch));
  return out;
}

}  // namespace kuiga::app
