#!/usr/bin/env bash
# The OCI image, as an operator runs it: scripts/image.sh builds it with podman; a master runs
# from it as its unprivileged user (with --tls auto, its data on a volume), and a worker from it
# privileged, enrolling with a join token; each container in a network namespace of the test's
# own, joined by a veth. The CLI on the host, in the master's namespace, runs 100 devices through
# them; then everything stops and nothing is left behind.
# usage: image_test.sh KUIGA PERIODIC_AUT WORKDIR
set -euo pipefail
kuiga=${1:?kuiga binary}
periodic=${2:?periodic example}
work=${3:?work directory}
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/tests/deploy/lib.sh"
p=ktimg$$
rm -rf "$work"
mkdir -p "$work/master" "$work/worker"
fail() { fail_with_logs image_test "$*" "$p-master" "$p-worker"; }
cleanup() {
  podman rm -f -t 30 "$p-worker" >/dev/null 2>&1 || true
  podman rm -f "$p-master" >/dev/null 2>&1 || true
  ip netns del "${p}m" 2>/dev/null || true
  ip netns del "${p}w" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

image=$("$repo/scripts/image.sh") || fail "scripts/image.sh failed"
labels=$(podman inspect "$image" --format '{{json .Labels}}')
grep -q '"org.opencontainers.image.version":"[0-9]' <<<"$labels" || fail "no version label: $labels"
grep -q '"org.opencontainers.image.revision":"[0-9a-f]' <<<"$labels" || fail "no commit label: $labels"
[ "$(podman inspect "$image" --format '{{.Config.User}}')" = 10001:10001 ] || fail "not an unprivileged user"

# Two hosts: the master's and the worker's network namespaces, joined by a veth.
ip netns add "${p}m"
ip netns add "${p}w"
ip link add "${p}a" netns "${p}m" type veth peer name "${p}b" netns "${p}w"
ip -n "${p}m" addr add 10.214.0.1/30 dev "${p}a"
ip -n "${p}w" addr add 10.214.0.2/30 dev "${p}b"
for n in m w; do ip -n "$p$n" link set lo up; done
ip -n "${p}m" link set "${p}a" up
ip -n "${p}w" link set "${p}b" up
limits=(--ulimit "nofile=$max_nofile:$max_nofile" --ulimit "nproc=$max_nproc:$max_nproc")

chown 10001:10001 "$work/master"
podman run -d --name "$p-master" --network "ns:/run/netns/${p}m" "${limits[@]}" \
  -v "$work/master:/var/lib/kuiga" "$image" master --data /var/lib/kuiga/data --host 0.0.0.0 \
  --port 8750 --rpc 0.0.0.0:8751 --tls auto >/dev/null
export KUIGA_CONFIG=$work/master/data/kuiga.conf
for _ in $(seq 100); do [ -f "$KUIGA_CONFIG" ] && break; sleep 0.1; done
[ -f "$KUIGA_CONFIG" ] || fail "the master wrote no client config"
[ "$(podman exec "$p-master" id -u)" = 10001 ] || fail "the master runs as root"
in_master() { ip netns exec "${p}m" "$@"; }
join=$(in_master "$kuiga" token create --name hosts --role join 2>/dev/null) || fail "token create"

podman run -d --name "$p-worker" --privileged --user 0 --network "ns:/run/netns/${p}w" \
  "${limits[@]}" -v "$work/worker:/var/lib/kuiga/worker" "$image" worker \
  --master https://10.214.0.1:8750 --join-token "$join" --name "${p}w" \
  --state-dir /var/lib/kuiga/worker/state --capacity 200 >/dev/null
for _ in $(seq 100); do
  in_master "$kuiga" workers --json 2>/dev/null | grep -q '"online":true' && break
  sleep 0.2
done
in_master "$kuiga" workers --json | grep -q '"online":true' || fail "the worker did not register"

run=$(in_master "$kuiga" run create --app "$periodic" --count 100 --args "{start_ms} {period_ms}" \
  --period 100 --start --json) || fail "run create"
grep -q '"running":100' <<<"$run" || fail "not 100 running: $run"
sleep 1
in_master "$kuiga" jitter 1 >/dev/null || fail "jitter"
# The worker is its container's first process: its instances end with it, so it removes them
# when the engine stops it (as the kubelet does), the run still running.
# (Logs read whole first: grep -q would end the pipe early, which pipefail counts as a failure.)
worker_log() { podman logs "$p-worker" 2>&1; }
grep -q "first process of its PID namespace" <<<"$(worker_log)" ||
  fail "the worker did not see it is its container's first process"
podman stop -t 60 "$p-worker" >/dev/null
log=$(worker_log)
grep -q "enrolled with https://10.214.0.1:8750" <<<"$log" || fail "no enrollment"
grep -q " error " <<<"$log" && fail "the worker's stop logged an error"
for _ in $(seq 100); do in_master "$kuiga" workers --json | grep -q '"online":false' && break; sleep 0.2; done
in_master "$kuiga" workers --json | grep -q '"online":false' || fail "the worker is still online"
in_master "$kuiga" run stop 1 >/dev/null || fail "run stop"
in_master "$kuiga" run rm 1 >/dev/null || fail "run rm"
echo "image_test: ok ($image)"
