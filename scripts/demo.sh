#!/usr/bin/env bash
# The main job: install and build only what it needs (no test dependencies, no tests), and run
# Kuiga Box all in one (`kuiga up`) with a real 100-device test run of the periodic AUT through
# the REST API.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --main-job
scripts/build.sh --main-job
exec ./build/kuiga up --data ./kuiga-data --demo "${KUIGA_DEMO_COUNT:-100}" \
  --demo-seconds "${KUIGA_DEMO_SECONDS:-10}"
