#!/usr/bin/env bash
# `kuiga demo` beside another worker's running instances (another Kuiga Box on the machine):
# its leak counts are its own worker's, so the other's instances are not its leaks.
set -euo pipefail
kuiga=${1:?kuiga binary}
periodic=${2:?periodic example}
work=${3:?work directory}
rm -rf "$work"
mkdir -p "$work"
"$kuiga" worker run --app "$periodic" --count 3 --arg 0 --arg 100 --state-dir "$work/other" \
  --name "ktbeside$$" >"$work/other.log" 2>&1 &
other=$!
trap 'kill -TERM $other 2>/dev/null; wait $other 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q "running 3 of 3" "$work/other.log" && break
  sleep 0.1
done
grep -q "running 3 of 3" "$work/other.log" || { cat "$work/other.log" >&2; exit 1; }
out=$("$kuiga" demo --count 2 --duration 1 2>&1)
echo "$out" | tail -3
grep -q 'leaked: {"cgroups":0,"links":0,"netns":0,"processes":0}' <<<"$out" ||
  { echo "demo_beside: the other worker's instances were counted as leaks" >&2; exit 1; }
kill -0 $other  # and the other worker's instances run on
