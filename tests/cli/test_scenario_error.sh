#!/usr/bin/env bash
# `kuiga test` when the cluster fails under it: a worker holding the run's devices is killed
# mid-test, the run goes dirty, and the verdict is "error" (exit 3, a JUnit error), not
# "failed": the firmware was not what broke.
# usage: test_scenario_error.sh KUIGA PERIODIC_AUT WORKDIR
set -euo pipefail
kuiga=${1:?kuiga binary}
periodic=${2:?periodic example}
work=${3:?work directory}
name="ktscerr$$"
rm -rf "$work"
mkdir -p "$work"
export KUIGA_CONFIG=$work/data/kuiga.conf
fail() {
  echo "test_scenario_error: $*" >&2
  [ -f "$work/up.log" ] && tail -20 "$work/up.log" >&2
  [ -f "$work/worker.log" ] && tail -20 "$work/worker.log" >&2
  exit 1
}
. "$(dirname "$0")/lib.sh"
# kuiga up's own worker takes one device; a second worker, which the test kills, the others.
start_up "$kuiga" "$work" "${name}a" --capacity 1
join=$("$kuiga" token create --name "$name" --role join) || fail "token create"
"$kuiga" worker --master "$url" --join-token "$join" --name "${name}b" --capacity 10 \
  --state-dir "$work/worker" >"$work/worker.log" 2>&1 &
worker=$!
trap 'kill -KILL $worker 2>/dev/null || true
  "$kuiga" worker recover --destroy --name "${name}b" --state-dir "$work/worker" >/dev/null 2>&1 || true
  kill -TERM $up 2>/dev/null; wait $up 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  [ "$("$kuiga" workers --json 2>/dev/null | grep -o '"online":true' | wc -l)" = 2 ] && break
  sleep 0.1
done
cat >"$work/lost.yaml" <<YAML
name: a worker is lost
app: $periodic
run:
  count: 5
  args: "{start_ms} {period_ms}"
  period_ms: 100
duration: 6s
assert:
  - no_failed: true
YAML
code=0
"$kuiga" test "$work/lost.yaml" --out "$work/out" >"$work/test.out" 2>&1 &
test_pid=$!
for _ in $(seq 100); do grep -q "the test lasts" "$work/test.out" && break; sleep 0.1; done
grep -q "the test lasts" "$work/test.out" || fail "the test did not start: $(cat "$work/test.out")"
kill -KILL $worker
wait $test_pid || code=$?
[ "$code" = 3 ] || fail "a lost worker's test exited $code: $(cat "$work/test.out")"
grep -q "ERROR  the run went dirty" "$work/test.out" || fail "no reason: $(cat "$work/test.out")"
grep -q '"verdict": "error"' "$work/out/results.json" || fail "results: $(cat "$work/out/results.json")"
/usr/bin/python3 - "$work/out/junit.xml" <<'PY' || fail "junit.xml"
import sys
from junitparser import JUnitXml, Error
suite = next(iter(JUnitXml.fromfile(sys.argv[1])))
assert suite.errors == 1 and suite.failures == 0, (suite.errors, suite.failures)
assert any(isinstance(r, Error) for c in suite for r in c.result), [c.result for c in suite]
PY
echo "test_scenario_error: ok"
