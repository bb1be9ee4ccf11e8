#!/usr/bin/env bash
# A real master process (`kuiga up`) under the hostile tester's load: slow clients dribbling
# half-sent requests, event streams, POSTs without a Content-Length. `kuiga bench api --master`
# holds them and checks that ordinary requests all succeed meanwhile, that every stream opens
# and gets events, that the length-less POSTs are answered, and that the header deadline cut
# the slow clients off (they reconnect, as an attacker would). Latency targets are the
# benchmark's (docs/performance.md), not this test's.
set -euo pipefail
kuiga=${1:?kuiga binary}
work=${2:?work directory}
rm -rf "$work"
mkdir -p "$work"
fail() {
  echo "api_load: $*" >&2
  [ -f "$work/up.log" ] && sed -n '1,40p' "$work/up.log" >&2
  exit 1
}
. "$(dirname "$0")/lib.sh"
start_up "$kuiga" "$work" "ktload$$"
export KUIGA_CONFIG=$work/data/kuiga.conf  # its first admin token
out=$("$kuiga" bench api --master "$url" --count 5 --slow-clients 300 --sse 300 --hold 20 --json \
  2>"$work/bench.log") || fail "bench: $(tail -5 "$work/bench.log")"
echo "$out"
/usr/bin/python3 - "$out" <<'PY' || fail "unexpected figures: $out"
import json, sys
load = json.loads(sys.argv[1])["load"]
assert load["failed"] == 0 and load["requests"] > 0, load
assert load["sse_open"] == 300 and load["sse_lost"] == 0, load
assert load["sse_min_events"] > 0, load
assert load["no_length_posts_answered"] == load["no_length_posts"], load
assert load["slow_reconnects"] >= 300, load  # each cut off once by the 15 s header deadline
PY
