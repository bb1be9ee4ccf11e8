#!/usr/bin/env bash
# `kuiga test` with a base station: the shipped CoAP scenario (Debian's coap-server started by
# the timeline in a base-station namespace the test made, coap-client devices through 2 UEs,
# two devices stopped and started again) passes, and its churn shows in the devices' logs; the
# shipped Plexer load sweep runs (made small); a server that ends early makes the verdict an
# error (exit 3) that says why; churn outside a running run is refused.
# usage: test_scenario_radio.sh KUIGA UDP_SENSOR COAP_SENSOR WORKDIR
set -euo pipefail
kuiga=${1:?kuiga binary}
sensor=$(realpath "${2:?udp-sensor example}")
coap=$(realpath "${3:?coap-sensor example}")
work=${4:?work directory}
scenarios=$(cd "$(dirname "$0")/../../examples/scenarios" && pwd)
name="ktrad$$"
bs="${name}bs"
rm -rf "$work"
mkdir -p "$work"
export KUIGA_CONFIG=$work/data/kuiga.conf
fail() {
  echo "test_scenario_radio: $*" >&2
  [ -f "$work/up.log" ] && tail -20 "$work/up.log" >&2
  exit 1
}
. "$(dirname "$0")/lib.sh"
start_up "$kuiga" "$work" "$name" --capacity 50
# The base station's namespace goes when the test ends, whatever happened (after kuiga up).
trap 'kill -TERM $up 2>/dev/null; wait $up 2>/dev/null || true; ip netns del "$bs" 2>/dev/null || true' EXIT
ip netns add "$bs" && ip -n "$bs" link set lo up && ip -n "$bs" addr add 192.0.2.1/32 dev lo ||
  fail "base station namespace"
for _ in $(seq 100); do "$kuiga" workers --json 2>/dev/null | grep -q '"online":true' && break; sleep 0.1; done

# The shipped CoAP scenario as it is, but for the namespace's name.
code=0
"$kuiga" test "$scenarios/coap-to-base-station.yaml" --set run.radio.uplink="$bs" \
  --set app="$coap" --out "$work/coap" >"$work/coap.out" 2>&1 || code=$?
[ "$code" = 0 ] || fail "the CoAP scenario exited $code: $(cat "$work/coap.out")"
grep -q "stop devices 0, 1" "$work/coap.out" || fail "no stop: $(cat "$work/coap.out")"
grep -q 'server "coap-server-notls -A 192.0.2.1" in' "$work/coap.out" || fail "no server: $(cat "$work/coap.out")"
/usr/bin/python3 - "$work/coap" <<'PY' || fail "the CoAP scenario's results"
import io, json, re, sys, tarfile
out = sys.argv[1]
r = json.load(open(out + "/results.json"))
assert r["verdict"] == "passed", r
assert r["servers"][0]["command"] == "coap-server-notls -A 192.0.2.1", r["servers"]
logs = {}
with tarfile.open(out + "/logs.tar.gz") as t:
    for m in t.getmembers():
        if m.isfile():
            logs[m.name] = t.extractfile(m).read().decode()
# Devices 0 and 1 were made anew: their count starts again at 0 in the same log (appended).
for name, text in logs.items():
    firsts = len(re.findall(r"reply 0: ", text))
    want = 2 if re.search(r"dev-0*[01]\b", name) else 1
    assert firsts == want, (name, firsts, text[-500:])
PY
grep -q "terminated" "$work/coap/report.html" || fail "no terminated devices in the report's samples"

# The Plexer load sweep, small: 2 and 5 senders of 100 datagrams a second for 3 s.
code=0
"$kuiga" test "$scenarios/report-5.2.2-plexer.yaml" --set run.radio.uplink="$bs" \
  --set app="$sensor" --set "timeline.0.server=$sensor sink 5683 --quiet" --set duration=6s \
  --set 'run.args=flood 192.0.2.1 5683 100 3 64 {start_ms} {index}/{count}' \
  --set 'sweep.count=[2, 5]' --out "$work/plexer" >"$work/plexer.out" 2>&1 || code=$?
[ "$code" = 0 ] || fail "the Plexer sweep exited $code: $(cat "$work/plexer.out")"
[ "$(wc -l <"$work/plexer/sweep.csv")" = 3 ] || fail "sweep.csv: $(cat "$work/plexer/sweep.csv")"
# The sink's last word (on SIGTERM) is its total: 5 senders sent 1,500, of which the scenario
# holds the base station to 99% as it holds the Plexer (delivery_ratio).
got=$(tail -1 "$work/plexer/point-2/server-1.log" | sed -n 's/^received \([0-9]*\) datagrams.*/\1/p')
[ -n "$got" ] && [ "$got" -ge 1485 ] && [ "$got" -le 1500 ] ||
  fail "the sink of 5 senders: $(cat "$work/plexer/point-2/server-1.log")"

# A server that ends before the test: an error, with its status and last words.
cat >"$work/early.yaml" <<YAML
app: $sensor
run: {count: 1, args: "send 192.0.2.1 5683 100", radio: {uplink: $bs}}
duration: 5s
timeline:
  - {at: 1s, server: "echo 'cannot bind' >&2; exit 4"}
assert: [{no_failed: true}]
YAML
code=0
"$kuiga" test "$work/early.yaml" --out "$work/early" >"$work/early.out" 2>&1 || code=$?
[ "$code" = 3 ] || fail "an early server end exited $code: $(cat "$work/early.out")"
grep -q 'exited with code 4 before the test ended: cannot bind' "$work/early/results.json" ||
  fail "the error: $(cat "$work/early/results.json")"
for _ in $(seq 100); do "$kuiga" run ls --json | grep -q '"items":\[\]' && break; sleep 0.1; done
"$kuiga" run ls --json | grep -q '"items":\[\]' || fail "a run was left: $("$kuiga" run ls)"

# Churn by hand: only in a running run, and only its own devices.
"$kuiga" run create --app "$sensor" --count 2 --args "sink 9000" >/dev/null || fail "run create"
rid=$("$kuiga" run ls --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
for _ in $(seq 100); do "$kuiga" run show "$rid" --json | grep -q '"state":"ready"' && break; sleep 0.1; done
code=0
"$kuiga" run stop "$rid" --instances 1 >/dev/null 2>"$work/churn.err" || code=$?
[ "$code" != 0 ] && grep -q "ready; its devices stop and start one by one while it runs" "$work/churn.err" ||
  fail "churn in a ready run: $code $(cat "$work/churn.err")"
"$kuiga" run start "$rid" >/dev/null || fail "run start"
for _ in $(seq 100); do "$kuiga" run show "$rid" --json | grep -q '"running":2' && break; sleep 0.1; done
code=0
"$kuiga" run stop "$rid" --instances 2 >/dev/null 2>"$work/churn.err" || code=$?
[ "$code" != 0 ] && grep -q "no instance 2 in run" "$work/churn.err" || fail "device 2 of 2: $(cat "$work/churn.err")"
"$kuiga" run stop "$rid" --instances 1 >"$work/churn.out" || fail "stop device 1"
grep -q "stopping 1 of 1 devices" "$work/churn.out" || fail "stop: $(cat "$work/churn.out")"
for _ in $(seq 100); do "$kuiga" run show "$rid" --json | grep -q '"terminated":1' && break; sleep 0.1; done
"$kuiga" run show "$rid" --json | grep -q '"state":"running"' || fail "the run did not run on"
"$kuiga" run start "$rid" --instances 1 >/dev/null || fail "start device 1"
for _ in $(seq 100); do "$kuiga" run show "$rid" --json | grep -q '"running":2' && break; sleep 0.1; done
"$kuiga" run show "$rid" --json | grep -q '"running":2' || fail "device 1 did not come back: $("$kuiga" run show "$rid")"
[ "$("$kuiga" logs "$rid" --instance 1 | grep -c 'listening on port 9000')" = 2 ] ||
  fail "device 1's log: $("$kuiga" logs "$rid" --instance 1)"
"$kuiga" run stop "$rid" >/dev/null && "$kuiga" run rm "$rid" >/dev/null || fail "stop and rm"
echo "test_scenario_radio: ok"
