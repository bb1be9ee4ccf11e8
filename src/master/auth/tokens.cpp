#include "master/auth/tokens.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/digest.hpp"
#include "master/run_service_internal.hpp"
#include "master/store.hpp"

namespace kuiga::master {

const char* toString(Role r) {
  switch (r) {
    case Role::Public:
      return "public";
    case Role::User:
      return "user";
    case Role::Admin:
      return "admin";
    case Role::Metrics:
      return "metrics";
    case Role::Join:
      return "join";
  }
  return "?";
}

std::optional<Role> parseRole(const std::string& s) {
  if (s == "admin") return Role::Admin;
  if (s == "user") return Role::User;
  if (s == "metrics") return Role::Metrics;
  if (s == "join") return Role::Join;
  return std::nullopt;
}

bool validTokenName(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '_' || c == '@' || c == '-';
  });
}

Result<int64_t> parseDuration(const std::string& s) {
  if (s.empty() || s == "never") return int64_t{0};
  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  static const std::map<std::string, int64_t> units = {
      {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 7 * 86400}};
  auto unit = units.find(s.substr(digits));
  if (digits == 0 || digits > 6 || unit == units.end())
    return failMsg("'" + s + "' is not a duration: a number and s, m, h, d or w (30d, 12h)");
  int64_t n = std::stoll(s.substr(0, digits));
  if (n == 0) return failMsg("a token's lifetime must be more than 0");
  return n * unit->second;
}

std::string randomToken(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
    throw std::runtime_error("RAND_bytes failed: no randomness for a token");
  std::string b64(4 * ((bytes + 2) / 3) + 1, '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                      reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(bytes));
  b64.resize(static_cast<size_t>(n));
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  std::replace(b64.begin(), b64.end(), '+', '-');
  std::replace(b64.begin(), b64.end(), '/', '_');
  return b64;
}

Result<std::unique_ptr<Tokens>> Tokens::open(Store& store) {
  std::unique_ptr<Tokens> t(new Tokens(store));
  auto rows = store.tokens();
  if (!rows) return fail(rows.error());
  for (auto& [tok, hash] : *rows) t->byHash_[hash] = tok;
  return t;
}

ApiResult<NewToken> Tokens::create(const std::string& name, Role role, const std::string& user,
                                   int64_t ttlSeconds, const std::string& joinPin) {
  if (!validTokenName(name))
    return apiFail(ApiError::badRequest("a token's name is 1 to 64 of A-Z a-z 0-9 . _ @ -"));
  if (!user.empty() && !validTokenName(user))
    return apiFail(ApiError::badRequest("a user's name is 1 to 64 of A-Z a-z 0-9 . _ @ -"));
  if (role == Role::Public) return apiFail(ApiError::badRequest("a token needs a role"));
  if (role == Role::Join && joinPin.empty())
    return apiFail(ApiError::internal("a join token needs the cluster CA's hash"));
  NewToken t;
  t.token = {name, user.empty() ? name : user, role, nowNs(),
             ttlSeconds > 0 ? nowNs() + ttlSeconds * 1'000'000'000 : 0};
  // 256 random bits; a join token names the CA its node must find at the master first.
  std::string pinHex = joinPin.rfind("sha256:", 0) == 0 ? joinPin.substr(7) : joinPin;
  t.secret = role == Role::Join ? fmt::format("kgj_{}_{}", pinHex, randomToken(32))
                                : "kgt_" + randomToken(32);
  return insert(std::move(t));
}

ApiResult<NewToken> Tokens::adopt(const std::string& name, Role role, const std::string& secret) {
  if (!validTokenName(name))
    return apiFail(ApiError::badRequest("a token's name is 1 to 64 of A-Z a-z 0-9 . _ @ -"));
  if (role == Role::Public || role == Role::Join)
    return apiFail(ApiError::badRequest("only an admin, user or metrics token can be given"));
  // As strong as a token the master makes: "kgt_" and 256 bits of base64url.
  bool b64url =
      std::all_of(secret.begin() + std::min<size_t>(4, secret.size()), secret.end(),
                  [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
  if (secret.rfind("kgt_", 0) != 0 || secret.size() < 4 + 43 || !b64url)
    return apiFail(ApiError::badRequest(
        "a given token is kgt_ and 43 or more of A-Z a-z 0-9 - _ (256 random bits; kuiga token "
        "secret makes one)"));
  NewToken t;
  t.token = {name, name, role, nowNs(), 0};
  t.secret = secret;
  return insert(std::move(t));
}

ApiResult<NewToken> Tokens::insert(NewToken t) {
  const std::string& name = t.token.name;
  std::string hash = sha256Hex(t.secret);
  auto added = store_.insertToken(t.token, hash);
  if (!added) return apiFail(storeError(added.error()));
  if (!*added) return apiFail(ApiError::conflict("a token named '" + name + "' exists"));
  std::lock_guard lock(mu_);
  byHash_[hash] = t.token;
  spdlog::info("token '{}' made (role {}, user {})", name, toString(t.token.role), t.token.user);
  return t;
}

ApiResult<void> Tokens::remove(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(byHash_.begin(), byHash_.end(),
                         [&](const auto& kv) { return kv.second.name == name; });
  if (it == byHash_.end()) return apiFail(ApiError::notFound("no token '" + name + "'"));
  if (it->second.role == Role::Admin &&
      std::count_if(byHash_.begin(), byHash_.end(),
                    [](const auto& kv) { return kv.second.role == Role::Admin; }) == 1)
    return apiFail(ApiError::conflict(
        "'" + name + "' is the last admin token: make another admin token before removing it"));
  auto gone = store_.deleteToken(name);
  if (!gone) return apiFail(storeError(gone.error()));
  byHash_.erase(it);
  spdlog::info("token '{}' removed", name);
  return {};
}

std::vector<Token> Tokens::list() {
  std::lock_guard lock(mu_);
  std::vector<Token> out;
  for (const auto& [h, t] : byHash_) out.push_back(t);
  std::sort(out.begin(), out.end(), [](const Token& a, const Token& b) { return a.name < b.name; });
  return out;
}

std::optional<Token> Tokens::check(const std::string& secret) {
  // Looked up by its hash: comparing hashes of unequal secrets tells an attacker nothing.
  std::string hash = sha256Hex(secret);
  std::lock_guard lock(mu_);
  auto it = byHash_.find(hash);
  if (it == byHash_.end()) return std::nullopt;
  if (it->second.expiresNs != 0 && it->second.expiresNs <= nowNs()) return std::nullopt;
  return it->second;
}

std::optional<Token> Tokens::valid(const std::string& name) {
  std::lock_guard lock(mu_);
  for (const auto& [h, t] : byHash_)
    if (t.name == name) {
      if (t.expiresNs != 0 && t.expiresNs <= nowNs()) return std::nullopt;
      return t;
    }
  return std::nullopt;
}

bool Tokens::hasRole(Role role) {
  std::lock_guard lock(mu_);
  return std::any_of(byHash_.begin(), byHash_.end(),
                     [&](const auto& kv) { return kv.second.role == role; });
}

}  // namespace kuiga::master
