#include "web/web_assets.hpp"

namespace kuiga::web {

const Asset* findAsset(std::string_view path) {
  for (const auto& a : assets())
    if (a.path == path) return &a;
  return nullptr;
}

}  // namespace kuiga::web
