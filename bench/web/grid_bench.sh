#!/usr/bin/env bash
# How Kuiga Web keeps up with a large run: `kuiga up`, a run of N devices (network mode none:
# the page, not the network, is measured), its run page open in headless chromium while the
# instances are created, started and stopped. Prints JSON (grid_bench.mjs says what each
# figure is). usage: bench/web/grid_bench.sh [N]   (after scripts/build.sh, as root)
set -uo pipefail
cd "$(dirname "$0")/../.."
N=${1:-10000}
DIR=$(mktemp -d /tmp/kuiga-webbench.XXXXXX)
NAME=kwb$$
./build/kuiga up --data "$DIR/data" --port 0 --name "$NAME" --capacity "$N" --remove-on-exit \
  >"$DIR/up.log" 2>&1 &
UP=$!
cleanup() {
  kill -TERM "$UP" 2>/dev/null
  wait "$UP" 2>/dev/null
  ./build/kuiga worker recover --destroy --name "$NAME" --state-dir "$DIR/data/worker" >/dev/null 2>&1
  rm -rf "$DIR"
}
trap cleanup EXIT
for _ in $(seq 100); do grep -q "Kuiga Box is up" "$DIR/up.log" && break; sleep 0.1; done
PORT=$(sed -n 's|.*Kuiga Box is up: API http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$DIR/up.log")
[ -n "$PORT" ] || { echo "kuiga up did not start" >&2; cat "$DIR/up.log" >&2; exit 1; }
node bench/web/grid_bench.mjs "http://127.0.0.1:$PORT" "$N" build/examples/periodic src/web
