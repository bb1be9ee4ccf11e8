#!/usr/bin/env bash
# The whole test suite: install, build, check formatting, run every test (ROOT_ tests need root),
# then check that the suite left no namespace, link, cgroup, mount or process behind.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
git ls-files '*.cpp' '*.hpp' '*.c' '*.h' | xargs clang-format --dry-run --Werror
baseline=$(mktemp)
scripts/check-leaks.sh --save "$baseline"
(cd build && ctest --output-on-failure --timeout 600)
scripts/check-leaks.sh --baseline "$baseline"
