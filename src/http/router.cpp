#include "http/router.hpp"

namespace kuiga::http {

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t start = path.empty() || path[0] != '/' ? 0 : 1;
  if (start >= path.size()) return out;  // "/" is no segment at all
  for (;;) {
    size_t slash = path.find('/', start);
    out.push_back(path.substr(start, slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

Router::Router(std::vector<Route> routes) {
  for (auto& r : routes) {
    auto segs = splitPath(r.pattern);
    routes_.push_back({std::move(r), std::move(segs)});
  }
}

bool matchSegments(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
                   std::vector<std::string>& params) {
  if (pattern.size() != path.size()) return false;
  params.clear();
  for (size_t i = 0; i < path.size(); ++i) {
    const auto& p = pattern[i];
    if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
      if (path[i].empty()) return false;
      params.push_back(path[i]);
    } else if (p != path[i]) {
      return false;
    }
  }
  return true;
}

Router::Match Router::match(const std::string& method, const std::string& path) const {
  Match m;
  const auto segs = splitPath(path);
  for (const auto& c : routes_) {
    std::vector<std::string> params;
    if (!matchSegments(c.segments, segs, params)) continue;
    m.pathKnown = true;
    if (c.route.method != method) continue;
    m.route = &c.route;
    m.params = std::move(params);
    return m;
  }
  return m;
}

}  // namespace kuiga::http
