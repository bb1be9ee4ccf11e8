#pragma once
// What the store's source files share (internal to the master).
#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <cerrno>
#include <string>

#include <fmt/format.h>

#include "common/result.hpp"
#include "master/store.hpp"

namespace kuiga::master {

// SQLiteCpp reports failures by exception; they end at this boundary as Results. A full disk
// carries ENOSPC, so that the API can say 507 rather than 500.
template <class Fn>
auto guard(const std::string& what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const SQLite::Exception& e) {
    bool full = e.getErrorCode() == SQLITE_FULL;
    return fail(Error{fmt::format("state store: {}: {}", what, e.what()), full ? ENOSPC : 0});
  } catch (const std::exception& e) {
    return failMsg(fmt::format("state store: {}: {}", what, e.what()));
  }
}

ImageRecord readImage(SQLite::Statement& q);  // digest, name, profile, manifest, created_ns

// Whether a table has a column (for the columns added after the first schema).
inline bool hasColumn(SQLite::Database& db, const std::string& table, const std::string& column) {
  for (SQLite::Statement q(db, "PRAGMA table_info(" + table + ")"); q.executeStep();)
    if (q.getColumn(1).getString() == column) return true;
  return false;
}

}  // namespace kuiga::master
