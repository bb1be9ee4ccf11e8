#pragma once
// Matches a request's method and path against the route table (server-internal).
#include <optional>
#include <string>
#include <vector>

#include "http/server.hpp"

namespace kuiga::http {

class Router {
 public:
  explicit Router(std::vector<Route> routes);
  struct Match {
    const Route* route = nullptr;  // null: no route for this method
    std::vector<std::string> params;
    bool pathKnown = false;  // some route has this path, under another method (405, not 404)
  };
  [[nodiscard]] Match match(const std::string& method, const std::string& path) const;

 private:
  struct Compiled {
    Route route;
    std::vector<std::string> segments;  // "{...}" captures one segment
  };
  std::vector<Compiled> routes_;
};

// "/a/b/" -> {"a", "b"}; empty segments (a doubled slash) are kept, so they match nothing.
std::vector<std::string> splitPath(const std::string& path);
// Whether a path's segments match a pattern's ("{name}" matches one non-empty segment), with
// the captures in `params`.
bool matchSegments(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
                   std::vector<std::string>& params);

}  // namespace kuiga::http
