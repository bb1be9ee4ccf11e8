#!/usr/bin/env bash
# `kuiga test` against a real `kuiga up`: a scenario that holds exits 0 with its results and a
# JUnit file a real JUnit reader (Debian's python3-junitparser) reads; one whose assertion fails
# exits 1 and names the devices that failed it; a console timeline reaches the devices it names,
# in order; a bad scenario exits 2 naming the line; a run the cluster cannot hold is an error
# (exit 3), not a failure.
# usage: test_scenario.sh KUIGA PERIODIC_AUT ECHO_CONSOLE_AUT WORKDIR
set -euo pipefail
kuiga=${1:?kuiga binary}
periodic=${2:?periodic example}
echo_aut=${3:?echo console AUT}
work=${4:?work directory}
name="ktscen$$"
rm -rf "$work"
mkdir -p "$work"
export KUIGA_CONFIG=$work/data/kuiga.conf
fail() {
  echo "test_scenario: $*" >&2
  [ -f "$work/up.log" ] && tail -20 "$work/up.log" >&2
  exit 1
}
. "$(dirname "$0")/lib.sh"
start_up "$kuiga" "$work" "$name" --capacity 50
for _ in $(seq 100); do "$kuiga" workers --json 2>/dev/null | grep -q '"online":true' && break; sleep 0.1; done

cp "$periodic" "$work/periodic"
cat >"$work/pass.yaml" <<'YAML'
name: periodic holds
app: periodic            # beside the scenario
run:
  count: 5
  args: "{start_ms} {period_ms}"
  period_ms: 100
duration: 3s
assert:
  - logs: '^[0-9.]+ [0-9.]+ [0-9]+ [0-9]+$'
    within: 2s
  - log_count: '^[0-9.]+ '
    per: device
    at_least: 10
  - no_failed: true
  - jitter_p99_ms: 200
YAML
code=0
"$kuiga" test "$work/pass.yaml" --out "$work/pass" >"$work/pass.out" 2>&1 || code=$?
[ "$code" = 0 ] || fail "a holding scenario exited $code: $(cat "$work/pass.out")"
grep -q '"verdict": "passed"' "$work/pass/results.json" || fail "results: $(cat "$work/pass/results.json")"
# The run's logs beside the results, a file per device.
[ "$(tar -tzf "$work/pass/logs.tar.gz" | wc -l)" = 5 ] || fail "logs.tar.gz: $(tar -tzf "$work/pass/logs.tar.gz")"
/usr/bin/python3 - "$work/pass/junit.xml" <<'PY' || fail "junit.xml of the passing test"
import sys
from junitparser import JUnitXml
suite = next(iter(JUnitXml.fromfile(sys.argv[1])))
cases = list(suite)
assert suite.name == "periodic holds", suite.name
assert len(cases) == 4 and all(c.is_passed for c in cases), [(c.name, c.result) for c in cases]
PY
"$kuiga" run ls --json | grep -q '"items":\[\]' || fail "the run was not deleted"

cat >"$work/fail.yaml" <<YAML
name: console to two of three
app: $echo_aut
run: {count: 3}
duration: 2s
timeline:
  - {at: 1s, console: two, devices: [0, 1]}
  - {at: 0.5s, console: one, devices: [0, 1]}
assert:
  - log_count: 'got: (one|two)'
    equal: 4
  - logs: 'got: two'
YAML
code=0
"$kuiga" test "$work/fail.yaml" --out "$work/fail" --keep >"$work/fail.out" 2>&1 || code=$?
[ "$code" = 1 ] || fail "a failing scenario exited $code: $(cat "$work/fail.out")"
grep -q "FAIL   every device logs /got: two/  (2 of 3 devices)" "$work/fail.out" ||
  fail "no failure line: $(cat "$work/fail.out")"
grep -q "PASS   lines matching" "$work/fail.out" || fail "the count did not hold: $(cat "$work/fail.out")"
/usr/bin/python3 - "$work/fail/results.json" "$work/fail/junit.xml" <<'PY' || fail "results of the failing test"
import json, sys
from junitparser import JUnitXml, Failure
r = json.load(open(sys.argv[1]))
assert r["verdict"] == "failed", r
failed = r["assertions"][1]
assert [d["index"] for d in failed["failed_devices"]] == [2], failed
suite = next(iter(JUnitXml.fromfile(sys.argv[2])))
results = {c.name: c.result for c in suite}
assert isinstance(results["every device logs /got: two/"][0], Failure), results
PY
# The lines came in the timeline's order on each device it named (the run was kept to read).
rid=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run"])' "$work/fail/results.json")
logs=$("$kuiga" logs "$rid")
for dev in 0 1; do
  order=$(grep -E "dev-0*$dev " <<<"$logs" | grep -o 'got: [a-z]*' | tr '\n' ' ') || true
  [ "$order" = "got: one got: two " ] || fail "device $dev got '$order'"
done
"$kuiga" run rm "$rid" >/dev/null || fail "run rm"

printf 'app: x\nrun:\n  count: [1\nassert: []\n' >"$work/bad.yaml"
code=0
"$kuiga" test "$work/bad.yaml" 2>"$work/bad.err" || code=$?
[ "$code" = 2 ] || fail "a broken scenario exited $code"
grep -q "bad.yaml:4:" "$work/bad.err" || fail "no place: $(cat "$work/bad.err")"
code=0
"$kuiga" test "$work/pass.yaml" --set run.count=0 2>"$work/zero.err" || code=$?
[ "$code" = 2 ] && grep -q "run.count is a whole number" "$work/zero.err" || fail "count 0: $code"
# More devices than the cluster holds: the test cannot run, which is not a failed assertion.
code=0
"$kuiga" test "$work/pass.yaml" --set run.count=500 --out "$work/big" >"$work/big.out" 2>&1 || code=$?
[ "$code" = 3 ] || fail "a run the cluster cannot hold exited $code: $(cat "$work/big.out")"
grep -q '"verdict": "error"' "$work/big/results.json" || fail "not an error: $(cat "$work/big/results.json")"
echo "test_scenario: ok"
