// The store's records of who may do what: the owners of images and the API tokens.
#include "master/store_internal.hpp"

namespace kuiga::master {

VoidResult Store::addImageOwner(const std::string& digest, const std::string& owner) {
  std::lock_guard lock(mu_);
  return guard("record image owner", [&]() -> VoidResult {
    SQLite::Statement q(*db_, "INSERT OR IGNORE INTO image_owners(digest, owner) VALUES(?,?)");
    q.bind(1, digest);
    q.bind(2, owner);
    q.exec();
    return {};
  });
}

Result<bool> Store::imageOwnedBy(const std::string& digest, const std::string& owner) {
  std::lock_guard lock(mu_);
  return guard("read image owner", [&]() -> Result<bool> {
    SQLite::Statement q(*db_, "SELECT 1 FROM image_owners WHERE digest=? AND owner=?");
    q.bind(1, digest);
    q.bind(2, owner);
    return q.executeStep();
  });
}

Result<std::vector<ImageRecord>> Store::imagesOf(const std::string& owner) {
  std::lock_guard lock(mu_);
  return guard("list images", [&]() -> Result<std::vector<ImageRecord>> {
    SQLite::Statement q(*db_,
                        "SELECT i.digest, i.name, i.profile, i.manifest, i.created_ns FROM images "
                        "i JOIN image_owners o ON o.digest = i.digest WHERE o.owner=? ORDER BY "
                        "i.created_ns");
    q.bind(1, owner);
    std::vector<ImageRecord> out;
    while (q.executeStep()) out.push_back(readImage(q));
    return out;
  });
}

Result<bool> Store::insertToken(const Token& t, const std::string& hash) {
  std::lock_guard lock(mu_);
  return guard("record token", [&]() -> Result<bool> {
    SQLite::Statement q(*db_,
                        "INSERT OR IGNORE INTO tokens(name, user, role, hash, created_ns, "
                        "expires_ns) VALUES(?,?,?,?,?,?)");
    q.bind(1, t.name);
    q.bind(2, t.user);
    q.bind(3, toString(t.role));
    q.bind(4, hash);
    q.bind(5, static_cast<int64_t>(t.createdNs));
    q.bind(6, static_cast<int64_t>(t.expiresNs));
    return q.exec() > 0;
  });
}

VoidResult Store::deleteToken(const std::string& name) {
  std::lock_guard lock(mu_);
  return guard("remove token", [&]() -> VoidResult {
    SQLite::Statement q(*db_, "DELETE FROM tokens WHERE name=?");
    q.bind(1, name);
    q.exec();
    return {};
  });
}

Result<std::vector<std::pair<Token, std::string>>> Store::tokens() {
  std::lock_guard lock(mu_);
  return guard("read tokens", [&]() -> Result<std::vector<std::pair<Token, std::string>>> {
    SQLite::Statement q(*db_, "SELECT name, user, role, hash, created_ns, expires_ns FROM tokens");
    std::vector<std::pair<Token, std::string>> out;
    while (q.executeStep()) {
      Token t{q.getColumn(0).getString(), q.getColumn(1).getString(),
              parseRole(q.getColumn(2).getString()).value_or(Role::Public),
              q.getColumn(4).getInt64(), q.getColumn(5).getInt64()};
      if (t.role == Role::Public) continue;  // not a role this master knows: no access
      out.emplace_back(std::move(t), q.getColumn(3).getString());
    }
    return out;
  });
}

VoidResult Store::setNodeCert(const std::string& name, const std::string& serial, int64_t nowNs) {
  std::lock_guard lock(mu_);
  return guard("record a node's certificate", [&]() -> VoidResult {
    SQLite::Statement q(*db_,
                        "INSERT INTO node_certs(name, serial, issued_ns, revoked) VALUES(?,?,?,0) "
                        "ON CONFLICT(name) DO UPDATE SET serial=excluded.serial, "
                        "issued_ns=excluded.issued_ns, revoked=0");
    q.bind(1, name);
    q.bind(2, serial);
    q.bind(3, static_cast<int64_t>(nowNs));
    q.exec();
    return {};
  });
}

Result<std::optional<Store::NodeCert>> Store::nodeCert(const std::string& name) {
  std::lock_guard lock(mu_);
  return guard("read a node's certificate", [&]() -> Result<std::optional<NodeCert>> {
    SQLite::Statement q(*db_, "SELECT serial, revoked FROM node_certs WHERE name=?");
    q.bind(1, name);
    if (!q.executeStep()) return std::nullopt;
    return NodeCert{q.getColumn(0).getString(), q.getColumn(1).getInt() != 0};
  });
}

VoidResult Store::revokeNodeCert(const std::string& name) {
  std::lock_guard lock(mu_);
  return guard("revoke a node's certificate", [&]() -> VoidResult {
    SQLite::Statement q(*db_, "UPDATE node_certs SET revoked=1 WHERE name=?");
    q.bind(1, name);
    q.exec();
    return {};
  });
}

VoidResult Store::deleteWorker(const std::string& name) {
  std::lock_guard lock(mu_);
  return guard("forget a worker", [&]() -> VoidResult {
    SQLite::Statement q(*db_, "DELETE FROM workers WHERE name=?");
    q.bind(1, name);
    q.exec();
    return {};
  });
}

}  // namespace kuiga::master
