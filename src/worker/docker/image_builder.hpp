#pragma once
// Docker images for the docker runtime, built by the engine itself from a scratch base with no
// registry involved: the build context holds the AUT at /app/<executable>, kuiga-gate at
// /kuiga/gate and, for a dynamically linked AUT, its loader and libraries at their host paths
// (read off `ldd`), so that any Linux executable runs as it does on the host.
#include <string>

#include "common/result.hpp"
#include "worker/docker/engine.hpp"

namespace kuiga::worker::docker {

struct BuiltImage {
  std::string tag;     // kuiga-aut:<aut hex>-<gate hex>
  bool built = false;  // false when the engine had it already
};

// Builds (or finds) the image for the AUT at appDir/executable. `workDir` holds the temporary
// build context.
Result<BuiltImage> ensureImage(const Engine& engine, const std::string& appDir,
                               const std::string& executable, const std::string& gatePath,
                               const std::string& workDir);

// The files a dynamically linked executable needs, by absolute path (loader included); empty
// for a static one. A missing library is an error naming it.
Result<std::vector<std::string>> sharedLibraries(const std::string& executable);

}  // namespace kuiga::worker::docker
