#pragma once
// Kuiga Web's files (index.html, style.css, and app.js as esbuild bundled it with its npm
// libraries), compiled into the binary so that the master serves the UI with nothing to install.
#include <string_view>
#include <vector>

namespace kuiga::web {

struct Asset {
  std::string_view path;         // "/" for index.html, else "/" + the file name
  std::string_view contentType;  // with charset for text
  std::string_view data;
};

// Every asset (generated at build time by embed.cmake).
const std::vector<Asset>& assets();
// The asset served at `path`, or nullptr.
const Asset* findAsset(std::string_view path);

}  // namespace kuiga::web
