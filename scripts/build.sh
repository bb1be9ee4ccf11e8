#!/usr/bin/env bash
# Configures and builds into ./build, warnings as errors: everything, or with `--main-job` only
# what `kuiga up` needs (the binary, kuiga-init, kuiga-gate, the examples), no tests.
set -euo pipefail
cd "$(dirname "$0")/.."
tests=ON
[ "${1:-}" = "--main-job" ] && tests=OFF
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKUIGA_WERROR=ON \
  -DBUILD_TESTING=$tests >/dev/null
cmake --build build
