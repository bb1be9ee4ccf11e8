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
# A master started by a test writes its client config for the user when they have none: the
# suite's go to a directory of its own, never to the user's ~/.config.
XDG_CONFIG_HOME=$(mktemp -d)
export XDG_CONFIG_HOME
trap 'rm -rf "$XDG_CONFIG_HOME"' EXIT
(cd build && ctest --output-on-failure --timeout 600)
scripts/check-leaks.sh --baseline "$baseline"
