// `kuiga token create|ls|rm` and `kuiga workers rm`: an admin's management of who may reach
// the master.
#include <iostream>

#include <fmt/format.h>

#include "apps/kuiga/cli_common.hpp"
#include "apps/kuiga/node_commands.hpp"
#include "master/auth/tokens.hpp"

namespace kuiga::app {

void addAccessCommands(CLI::App& app, int& exitCode) {
  static ClientOptions c;
  auto* token = app.add_subcommand("token", "API tokens (an admin's): create, ls, rm");
  token->require_subcommand(1);

  static std::string name, role = "user", user, expires;
  auto* create = token->add_subcommand("create", "make a token; it is shown only now");
  addClientOptions(create, c);
  create->add_option("--name", name, "the token's name (A-Z a-z 0-9 . _ @ -)")->required();
  // Checked by the master, which says what it takes.
  create->add_option("--role", role, "admin, user (default), metrics or join");
  create->add_option("--user", user, "who owns what it makes (default: its name)");
  create->add_option("--expires", expires,
                     "its lifetime: 30d, 12h, 15m (default: never; a join token's: 1d)");
  create->callback([&exitCode] {
    auto api = apiFor(c);
    nlohmann::json body = {{"name", name}, {"role", role}};
    if (!user.empty()) body["user"] = user;
    if (!expires.empty()) body["expires"] = expires;
    auto r = api.post("/api/v1/tokens", body);
    if (!r) return void(exitCode = failWith("token create", r.error()));
    if (c.json) {
      std::cout << r->dump() << "\n";
    } else {
      std::cout << (*r)["token"].get<std::string>() << "\n";
      std::cerr << fmt::format(
          "token '{}' (role {}{}); keep it: it is not shown again\n", name, role,
          (*r)["expires"].is_string() ? ", expires " + (*r)["expires"].get<std::string>() : "");
    }
    exitCode = 0;
  });

  auto* ls = token->add_subcommand("ls", "list the tokens (never their secrets)");
  addClientOptions(ls, c);
  ls->callback([&exitCode] {
    auto api = apiFor(c);
    auto r = api.get("/api/v1/tokens");
    if (!r) return void(exitCode = failWith("token ls", r.error()));
    if (c.json) {
      std::cout << r->dump() << "\n";
    } else {
      constexpr auto kRow = "{:<24} {:<8} {:<24} {:<26} {}\n";
      std::cout << fmt::format(kRow, "NAME", "ROLE", "USER", "CREATED", "EXPIRES");
      for (const auto& t : *r)
        std::cout << fmt::format(
            kRow, printable(t["name"]), t["role"].get<std::string>(), printable(t["user"]),
            t["created"].get<std::string>(),
            t["expires"].is_string() ? t["expires"].get<std::string>() : "never");
    }
    exitCode = 0;
  });

  static std::string rmName;
  auto* rm = token->add_subcommand("rm", "remove a token: it fails at once");
  addClientOptions(rm, c);
  rm->add_option("NAME", rmName, "the token's name")->required();
  rm->callback([&exitCode] {
    auto api = apiFor(c);
    auto r = api.del("/api/v1/tokens/" + rmName);
    if (!r) return void(exitCode = failWith("token rm", r.error()));
    if (!c.json) std::cout << fmt::format("token '{}' removed\n", rmName);
    exitCode = 0;
  });

  // Offline: a secret for `kuiga master --admin-token-file`, for a deployment that must hold the
  // first admin token (in a Kubernetes Secret, say) before the master starts.
  auto* secret = token->add_subcommand(
      "secret", "print a new random token secret, for kuiga master --admin-token-file");
  secret->callback([&exitCode] {
    std::cout << "kgt_" << master::randomToken(32) << "\n";
    exitCode = 0;
  });
}

void addWorkerAdminCommands(CLI::App* workers, int& exitCode) {
  static ClientOptions c;
  static std::string name;
  static bool revoke = false;
  auto* rm = workers->add_subcommand(
      "rm", "forget an offline worker; --revoke: refuse its certificate and end its session");
  addClientOptions(rm, c);
  rm->add_option("NAME", name, "the worker's (or plexer's) name")->required();
  rm->add_flag("--revoke", revoke,
               "refuse its certificate from now on and end its session (it may enroll again "
               "only with a join token)");
  rm->callback([&exitCode] {
    auto api = apiFor(c);
    auto r = api.del("/api/v1/workers/" + name + (revoke ? "?revoke=1" : ""));
    if (!r) return void(exitCode = failWith("workers rm", r.error()));
    if (!c.json)
      std::cout << fmt::format("worker {} {}\n", name, revoke ? "revoked and removed" : "removed");
    exitCode = 0;
  });
}

}  // namespace kuiga::app
