#!/usr/bin/env bash
# The main job: install, build, and run a 100-device demo of the periodic AUT on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec ./build/kuiga demo --count "${KUIGA_DEMO_COUNT:-100}" --duration "${KUIGA_DEMO_SECONDS:-10}"
