#pragma once
// API tokens: who may call the master, with which role. A token is 256 random bits (OpenSSL's
// RAND_bytes), shown once when made and kept only as its SHA-256 in the state store: a token is
// far too random to guess, so a fast hash is enough, and a stolen state.db yields no token.
// Tokens are looked up by that hash in memory, so a removed or expired token fails at once.
// Never logged: only a token's name is.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "master/api_error.hpp"

namespace kuiga::master {

class Store;

// A caller's role. An admin manages tokens and workers and sees every user's runs and images;
// a user sees their own; a metrics token reads /metrics only; a join token enrolls a node.
// Public is no token at all (health, Kuiga Web's files, what a node needs to join).
enum class Role : uint8_t { Public, User, Admin, Metrics, Join };
const char* toString(Role r);
std::optional<Role> parseRole(const std::string& s);  // admin, user, metrics or join

struct Token {
  std::string name;  // unique; the CLI and the API name a token by it
  std::string user;  // who owns what its caller creates (the name, unless given)
  Role role = Role::User;
  int64_t createdNs = 0;
  int64_t expiresNs = 0;  // realtime; 0: never
};

struct NewToken {
  Token token;
  std::string secret;  // the token itself: shown once
};

// A token name or user: 1 to 64 of [A-Za-z0-9._@-].
bool validTokenName(const std::string& s);
// "30d", "12h", "15m", "90s" -> seconds; 0 for "" or "never".
Result<int64_t> parseDuration(const std::string& s);
// n random bytes as unpadded base64url.
std::string randomToken(size_t bytes);

class Tokens {
 public:
  static Result<std::unique_ptr<Tokens>> open(Store& store);

  // `ttlSeconds` 0: never expires. A join token's secret carries `joinPin` (the hash of the
  // cluster CA's public key) in front, for the node to check the master with.
  ApiResult<NewToken> create(const std::string& name, Role role, const std::string& user,
                             int64_t ttlSeconds, const std::string& joinPin = {});
  // A token whose secret the operator made (a deployment that must know the first admin token
  // before the master starts, from a Kubernetes Secret say): "kgt_" and 43 or more base64url
  // characters, as strong as one the master makes. Never expires.
  ApiResult<NewToken> adopt(const std::string& name, Role role, const std::string& secret);
  // Refuses to remove the last admin token, which would lock everyone out.
  ApiResult<void> remove(const std::string& name);
  std::vector<Token> list();
  // The token a secret is, while it is valid.
  std::optional<Token> check(const std::string& secret);
  // The token of that name, while it is valid.
  std::optional<Token> valid(const std::string& name);
  bool hasRole(Role role);

 private:
  explicit Tokens(Store& store) : store_(store) {}
  ApiResult<NewToken> insert(NewToken t);
  Store& store_;
  std::mutex mu_;
  std::map<std::string, Token> byHash_;  // sha256 hex of the secret -> token
};

}  // namespace kuiga::master
