#!/usr/bin/env bash
# `kuiga test` against a real `kuiga up`: a scenario that holds exits 0 with its results and a
# JUnit file a real JUnit reader (Debian's python3-junitparser) reads; one whose assertion fails
# exits 1 and names the devices that failed it; a console timeline reaches the devices it names,
# in order; a bad scenario exits 2 naming the line; a run the cluster cannot hold is an error
# (exit 3), not a failure.
# A sweep runs a point per value and tables them; the shipped scenarios run (made small); each
# report.html opens in headless chromium with its charts drawn.
# usage: test_scenario.sh KUIGA PERIODIC_AUT ECHO_CONSOLE_AUT ZEP_NODE_AUT WORKDIR
set -euo pipefail
kuiga=${1:?kuiga binary}
periodic=${2:?periodic example}
echo_aut=${3:?echo console AUT}
zepnode=${4:?zep-node example}
work=${5:?work directory}
scenarios=$(cd "$(dirname "$0")/../../examples/scenarios" && pwd)
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
  # Each line lands within 100 ms of its time.
  - logs: 'got: one'
    after: 0.5s
    within: 0.6s
    devices: 66%
  - logs: 'got: two'
    after: 1s
    within: 1.1s
    devices: 66%
YAML
code=0
"$kuiga" test "$work/fail.yaml" --out "$work/fail" --keep >"$work/fail.out" 2>&1 || code=$?
[ "$code" = 1 ] || fail "a failing scenario exited $code: $(cat "$work/fail.out")"
grep -q "FAIL   every device logs /got: two/  (2 of 3 devices)" "$work/fail.out" ||
  fail "no failure line: $(cat "$work/fail.out")"
grep -q "PASS   lines matching" "$work/fail.out" || fail "the count did not hold: $(cat "$work/fail.out")"
[ "$(grep -c "PASS   at least 66% of devices logs /got: [a-z]*/ between" "$work/fail.out")" = 2 ] ||
  fail "the console lines were not on time: $(cat "$work/fail.out")"
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
# The report's jitter sweep, at three small points: a row per point, a JUnit suite per point.
code=0
# (The rows are what this checks, not the jitter of a machine busy with other tests: its bound
# is set wide.)
"$kuiga" test "$scenarios/report-5.2.1-jitter.yaml" --set app="$periodic" --set duration=2s \
  --set 'sweep.count=[1, 2, 3]' --set assert.2.jitter_p99_ms=1000 --out "$work/sweep" >"$work/sweep.out" 2>&1 || code=$?
[ "$code" = 0 ] || fail "the jitter sweep exited $code: $(cat "$work/sweep.out")"
[ "$(wc -l <"$work/sweep/sweep.csv")" = 4 ] || fail "sweep.csv: $(cat "$work/sweep/sweep.csv")"
head -1 "$work/sweep/sweep.csv" | grep -q '^"run.count","verdict","no instance failed"' ||
  fail "sweep.csv's header: $(head -1 "$work/sweep/sweep.csv")"
/usr/bin/python3 - "$work/sweep/junit.xml" <<'PY' || fail "junit.xml of the sweep"
import sys
from junitparser import JUnitXml
suites = [s.name for s in JUnitXml.fromfile(sys.argv[1])]
assert suites == ["report 5.2.1 worker-node load [run.count=%d]" % n for n in (1, 2, 3)], suites
PY
[ -f "$work/sweep/point-3/results.json" ] || fail "no results of the third point"
# The ZEP grid, 3 x 3 for a few seconds.
code=0
"$kuiga" test "$scenarios/zep-grid.yaml" --set app="$zepnode" --set duration=4s \
  --set run.count=9 --set run.zep.cols=3 --out "$work/zep" >"$work/zep.out" 2>&1 || code=$?
[ "$code" = 0 ] || fail "the ZEP grid exited $code: $(cat "$work/zep.out")"
# The reports open in a real browser with every chart drawn (Kuiga Web's own chart code).
for f in pass fail sweep zep; do [ -s "$work/$f/report.html" ] || fail "no $f/report.html"; done
node "$(dirname "$0")/../web/report_test.mjs" "$(dirname "$0")/../../src/web" \
  "$work/pass/report.html" passed "$work/fail/report.html" failed \
  "$work/sweep/report.html" passed "$work/zep/report.html" passed || fail "the HTML reports"
echo "test_scenario: ok"
