#!/usr/bin/env bash
# The CLI as a user types it, against `kuiga up` on the real ns runtime: every client command,
# its --json form and its exit codes (0 done, 2 bad input, 3 not found, 4 not allowed now).
# usage: cluster_cli.sh KUIGA PERIODIC_AUT WORKDIR
set -uo pipefail
KUIGA=$1 AUT=$2 DIR=$3
NAME=ktcli$$
rm -rf "$DIR" && mkdir -p "$DIR"
"$KUIGA" up --data "$DIR/data" --port 0 --name "$NAME" --capacity 20 \
  >"$DIR/up.log" 2>&1 &
UP=$!
SINK=
cleanup() {
  [ -n "$SINK" ] && kill -KILL "$SINK" 2>/dev/null
  ip netns del "${NAME}bs" 2>/dev/null
  kill -TERM "$UP" 2>/dev/null
  wait "$UP" 2>/dev/null
  "$KUIGA" worker recover --destroy --name "$NAME" --state-dir "$DIR/data/worker" >/dev/null 2>&1
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  echo "---- up.log" >&2
  tail -30 "$DIR/up.log" >&2
  exit 1
}
expect() {  # expect CODE CMD...: runs the command, checks its exit code
  local want=$1
  shift
  "$@" >"$DIR/out" 2>"$DIR/err"
  local got=$?
  [ "$got" -eq "$want" ] || fail "'$*' exited $got, not $want: $(cat "$DIR/err")"
}
# `kuiga up --port 0` picks a free port and says which.
for _ in $(seq 100); do grep -q "Kuiga Box is up" "$DIR/up.log" && break; sleep 0.1; done
PORT=$(sed -n 's|.*Kuiga Box is up: API http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$DIR/up.log")
[ -n "$PORT" ] || fail "kuiga up did not start"
export KUIGA_MASTER=http://127.0.0.1:$PORT
# Its first admin token is in its client config.
export KUIGA_CONFIG=$DIR/data/kuiga.conf
KUIGA_TOKEN=$(sed -n 's/^token: //p' "$KUIGA_CONFIG")
export KUIGA_TOKEN
for _ in $(seq 100); do "$KUIGA" workers --json 2>/dev/null | grep -q '"online":true' && break; sleep 0.1; done

expect 0 "$KUIGA" run create --app "$AUT" --count 3 --args "{start_ms} {period_ms}" --period 100 \
  --name cli --start --json
grep -q '"state":"running"' "$DIR/out" || fail "run create --start: $(cat "$DIR/out")"
grep -q '"running":3' "$DIR/out" || fail "not all running: $(cat "$DIR/out")"
expect 0 "$KUIGA" run ls
grep -q "cli" "$DIR/out" || fail "run ls: $(cat "$DIR/out")"
# GET /metrics with a metrics token, read by the Prometheus client library's own parser.
expect 0 "$KUIGA" token create --name prometheus --role metrics
METRICS_TOKEN=$(cat "$DIR/out")
KUIGA_TOKEN=$METRICS_TOKEN /usr/bin/python3 "$(dirname "$0")/metrics_check.py" \
  "$KUIGA_MASTER/metrics" 3 || fail "metrics"
KUIGA_TOKEN=$METRICS_TOKEN expect 2 "$KUIGA" run ls  # 403: a metrics token reads /metrics only
expect 0 "$KUIGA" token ls
grep -q "^prometheus  *metrics" "$DIR/out" || fail "token ls: $(cat "$DIR/out")"
grep -qF "$METRICS_TOKEN" "$DIR/out" && fail "token ls shows a secret"
# Another user sees none of the admin's runs.
expect 0 "$KUIGA" token create --name bob --role user --expires 1h
BOB=$(cat "$DIR/out")
KUIGA_TOKEN=$BOB expect 3 "$KUIGA" run show 1
KUIGA_TOKEN=$BOB expect 0 "$KUIGA" run ls --json
grep -q '"total":0' "$DIR/out" || fail "bob lists the admin's runs: $(cat "$DIR/out")"
expect 2 "$KUIGA" token create --name bad --role root
expect 4 "$KUIGA" token create --name bob --role user
# An online worker is not forgotten without --revoke.
expect 4 "$KUIGA" workers rm "$NAME"
expect 0 "$KUIGA" run show 1
grep -q "run 1 (cli): running" "$DIR/out" || fail "run show: $(cat "$DIR/out")"
sleep 1
expect 0 "$KUIGA" logs 1 --instance 2
[ "$(wc -l <"$DIR/out")" -ge 3 ] || fail "logs --instance: $(cat "$DIR/out")"
expect 0 "$KUIGA" logs 1
grep -q "run-1/dev-0000 " "$DIR/out" || fail "merged logs: $(head -3 "$DIR/out")"
# A browser accepts brotli; the master answers gzip (its brotli is too slow for big listings).
/usr/bin/python3 - "$KUIGA_MASTER/api/v1/runs/1/instances" <<'PY' || fail "content encoding"
import gzip, json, os, sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"Accept-Encoding": "gzip, deflate, br",
                             "Authorization": "Bearer " + os.environ["KUIGA_TOKEN"]})
res = urllib.request.urlopen(req)
assert res.headers.get("Content-Encoding") == "gzip", res.headers.get("Content-Encoding")
assert len(json.loads(gzip.decompress(res.read()))["items"]) == 3
PY
# The logs download the web UI offers: a tar.gz with one file per instance, read by Python's
# tarfile; each file is that instance's log.
/usr/bin/python3 - "$KUIGA_MASTER/api/v1/runs/1/logs?format=tar.gz" <<'PY' || fail "logs tar.gz"
import io, os, sys, tarfile, urllib.request
req = urllib.request.Request(sys.argv[1],
                             headers={"Authorization": "Bearer " + os.environ["KUIGA_TOKEN"]})
tar = tarfile.open(fileobj=io.BytesIO(urllib.request.urlopen(req).read()), mode="r:gz")
names = sorted(tar.getnames())
assert names == ["run-1/dev-0000.log", "run-1/dev-0001.log", "run-1/dev-0002.log"], names
for n in names:
    text = tar.extractfile(n).read().decode()
    assert text.count("\n") >= 3, (n, text)
PY
expect 0 "$KUIGA" jitter 1 --json
grep -q '"samples"' "$DIR/out" || fail "jitter: $(cat "$DIR/out")"
expect 0 "$KUIGA" jitter 1
grep -q "^run " "$DIR/out" || fail "jitter table: $(cat "$DIR/out")"
expect 0 "$KUIGA" console 1 --all "hello everyone"
grep -q "sending to 3 instances" "$DIR/out" || fail "console --all: $(cat "$DIR/out")"
expect 2 "$KUIGA" console 1 "no target"
expect 0 "$KUIGA" workers
grep -q "$NAME .*healthy" "$DIR/out" || fail "workers: $(cat "$DIR/out")"
expect 0 "$KUIGA" console 1 --instance 0 "hello"
# The instances' IPv6 listener reports on the radio network, captured: one interface per device.
for _ in $(seq 50); do "$KUIGA" pcap 1 >"$DIR/run.pcapng" 2>/dev/null && break; sleep 0.2; done
expect 0 "$KUIGA" pcap 1
tshark -r "$DIR/out" -T fields -e frame.interface_name 2>/dev/null | grep -q "^run-1/dev-000[0-2]$" ||
  fail "pcap: tshark found no device interface in $(wc -c <"$DIR/out") bytes"
expect 3 "$KUIGA" pcap 999
for _ in $(seq 50); do "$KUIGA" pcap 1 --instance 2 >"$DIR/one.pcapng" 2>/dev/null && break; sleep 0.2; done
expect 0 "$KUIGA" pcap 1 --instance 2
[ "$(tshark -r "$DIR/out" -T fields -e frame.interface_name 2>/dev/null | sort -u)" = "run-1/dev-0002" ] ||
  fail "pcap --instance 2: $(tshark -r "$DIR/out" -T fields -e frame.interface_name 2>/dev/null | sort -u)"

# Bad input and impossible requests.
expect 3 "$KUIGA" run show 999
expect 3 "$KUIGA" run start 999
expect 4 "$KUIGA" run start 1
expect 4 "$KUIGA" run create --app "$AUT" --count 21
grep -q "insufficient_capacity" "$DIR/err" || fail "capacity: $(cat "$DIR/err")"
expect 2 "$KUIGA" run create --app "$AUT" --count 0
expect 2 "$KUIGA" run create --app "$AUT" --count 2 --args "{nope}"
expect 2 "$KUIGA" run create --app "$0" --count 2
grep -q "script" "$DIR/err" || fail "non-ELF upload: $(cat "$DIR/err")"
expect 1 "$KUIGA" run ls --master http://127.0.0.1:1
grep -q "cannot reach the master" "$DIR/err" || fail "unreachable: $(cat "$DIR/err")"

expect 0 "$KUIGA" run stop 1
for _ in $(seq 100); do "$KUIGA" run show 1 --json | grep -q '"state":"stopped"' && break; sleep 0.1; done
expect 4 "$KUIGA" run start 1
expect 0 "$KUIGA" run rm 1
for _ in $(seq 100); do "$KUIGA" run show 1 --json | grep -q '"state":"deleted"' && break; sleep 0.1; done
expect 0 "$KUIGA" run show 1 --json
grep -q '"deleted":3' "$DIR/out" || fail "rm: $(cat "$DIR/out")"
# The run's history, one state a line, oldest first.
expect 0 "$KUIGA" run history 1
[ "$(awk '{print $2}' "$DIR/out" | tr '\n' ' ')" = "pending ready running stopped deleted " ] ||
  fail "run history: $(cat "$DIR/out")"
expect 0 "$KUIGA" run history 1 --json
grep -q '"kind":"state"' "$DIR/out" || fail "run history --json: $(cat "$DIR/out")"
expect 3 "$KUIGA" run history 999
# No token ever reaches the master's log.
for t in "$KUIGA_TOKEN" "$METRICS_TOKEN" "$BOB"; do
  grep -qF "${t#kgt_}" "$DIR/up.log" && fail "a token is in the master's log"
done
# A run with a radio: udp-sensor instances report to a UDP server in a namespace of our own,
# through two UEs for three devices.
SENSOR=$(dirname "$AUT")/udp-sensor
ip netns add "${NAME}bs" && ip -n "${NAME}bs" link set lo up &&
  ip -n "${NAME}bs" addr add 192.0.2.1/32 dev lo || fail "base station namespace"
ip netns exec "${NAME}bs" "$SENSOR" sink 5683 >"$DIR/sink.log" 2>&1 &
SINK=$!
expect 2 "$KUIGA" run create --app "$SENSOR" --count 3 --radio '{"uplink": '
grep -q "not JSON" "$DIR/err" || fail "--radio bad JSON: $(cat "$DIR/err")"
expect 2 "$KUIGA" run create --app "$SENSOR" --count 3 --radio '{"uplink": "x", "loss": 2}'
grep -q "radio.loss" "$DIR/err" || fail "--radio loss 2: $(cat "$DIR/err")"
expect 0 "$KUIGA" run create --app "$SENSOR" --count 3 --args "send 192.0.2.1 5683 100 10" \
  --radio "{\"uplink\": \"${NAME}bs\", \"ues\": 2, \"idle_timeout_ms\": 500}" --start
# Two devices send at once; the third waits for a UE, which comes free half a second after
# one of the others stops.
for _ in $(seq 100); do
  "$KUIGA" radio 2 --json | grep -q '"uplink_frames":30' && break
  sleep 0.1
done
expect 0 "$KUIGA" radio 2 --json
grep -q '"uplink_frames":30' "$DIR/out" || fail "radio: $(cat "$DIR/out")"
grep -q '"max_leases":2' "$DIR/out" || fail "radio leases: $(cat "$DIR/out")"
expect 0 "$KUIGA" radio 2
grep -q "30 forwarded" "$DIR/out" || fail "radio table: $(cat "$DIR/out")"
grep -q "^$NAME .*${NAME}bs .* 2 " "$DIR/out" || fail "radio cell row: $(cat "$DIR/out")"
[ "$(grep -c '^recv ' "$DIR/sink.log")" -eq 30 ] || fail "sink: $(cat "$DIR/sink.log")"
expect 0 "$KUIGA" radio 2 --leases
[ "$(grep -c ' grant ue=' "$DIR/out")" -ge 3 ] || fail "radio --leases: $(cat "$DIR/out")"
expect 3 "$KUIGA" radio 999
# A ZEP radio from a topology file in RIOT's format; its errors name the field or the line.
expect 2 "$KUIGA" run create --app "$AUT" --count 2 --zep '{"topology": "mesh"}'
grep -q "zep.topology" "$DIR/err" || fail "--zep bad topology: $(cat "$DIR/err")"
expect 2 "$KUIGA" run create --app "$AUT" --count 2 --zep-topology /nonexistent/topo
printf '0 1 0.9\n1 5\n' >"$DIR/bad.topo"
expect 2 "$KUIGA" run create --app "$AUT" --count 2 --zep-topology "$DIR/bad.topo"
grep -q "line 2" "$DIR/err" || fail "--zep-topology bad line: $(cat "$DIR/err")"
printf '# two nodes\ndev-0000 dev-0001 0.9 0.8\n' >"$DIR/good.topo"
expect 0 "$KUIGA" run create --app "$AUT" --count 2 --zep-topology "$DIR/good.topo" --json
expect 0 "$KUIGA" radio 3
grep -q "^ZEP radio: 0 frames" "$DIR/out" || fail "kuiga radio ZEP: $(cat "$DIR/out")"
grep -q "^run-3/dev-0001 " "$DIR/out" || fail "kuiga radio ZEP rows: $(cat "$DIR/out")"
echo "cluster CLI: all checks passed"
