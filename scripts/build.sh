#!/usr/bin/env bash
# Configures and builds everything into ./build, warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKUIGA_WERROR=ON >/dev/null
cmake --build build
