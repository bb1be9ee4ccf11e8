#pragma once
// A client's configuration: which master, with which token, trusting which CA. A YAML file
// (yaml-cpp) that a new master writes as DATA/kuiga.conf (mode 0600) and installs as
// ~/.config/kuiga/config when there is none, so `kuiga up` then `kuiga run create` works with
// no step between:
//
//     master: https://kuiga.example:8750
//     token: kgt_...
//     ca: |
//       -----BEGIN CERTIFICATE-----
//       ...
//
// The CLI reads --config FILE, else $KUIGA_CONFIG, else ~/.config/kuiga/config (under
// $XDG_CONFIG_HOME when set); --master/$KUIGA_MASTER and --token/$KUIGA_TOKEN override it.
#include <string>

#include "common/result.hpp"

namespace kuiga::client {

struct ClientConfig {
  std::string master;  // the master's URL
  std::string token;
  std::string caPem;   // the CA that signed the master's certificate ("": the system's)
  std::string source;  // the file it came from, for messages
};

Result<ClientConfig> readConfig(const std::string& path);
// Writes it with mode 0600 (it holds a token), replacing the file whole.
VoidResult writeConfig(const std::string& path, const ClientConfig& c);
// ~/.config/kuiga/config, or $XDG_CONFIG_HOME/kuiga/config; "" when neither HOME is set.
std::string userConfigPath();

struct Overrides {
  std::string configFile;  // --config
  std::string master;      // --master
  std::string token;       // --token
};
// The configuration a command uses: the file (--config, $KUIGA_CONFIG, the user's; a missing
// user file is no error), then $KUIGA_MASTER and $KUIGA_TOKEN, then the flags.
Result<ClientConfig> resolveConfig(const Overrides& o);

}  // namespace kuiga::client
