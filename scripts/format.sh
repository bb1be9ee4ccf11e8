#!/usr/bin/env bash
# Formats every C and C++ source of the project in place.
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp' '*.c' '*.h' | xargs clang-format -i
