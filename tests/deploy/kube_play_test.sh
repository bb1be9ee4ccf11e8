#!/usr/bin/env bash
# The Kubernetes manifests run, as far as one machine without Kubernetes can: the rendered
# master StatefulSet's pod template and worker DaemonSet's pod template, turned into Pods (what
# kube_pods.py changes, and why, is said there), run with `podman kube play` from the image
# scripts/image.sh builds. The master takes the operator's admin token; the worker gets its join
# token from a Secret (podman's) and enrolls; the CLI on the host runs 100 devices through them;
# the worker's pod goes down with the run running and removes its devices; nothing is left.
# The pods start with no network (podman 4.3 cannot put a pod in a given namespace); the test
# then joins their namespaces to a bridge in a namespace of its own, where the CLI runs.
# usage: kube_play_test.sh KUIGA PERIODIC_AUT WORKDIR
set -euo pipefail
kuiga=${1:?kuiga binary}
periodic=${2:?periodic example}
work=${3:?work directory}
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/tests/deploy/lib.sh"
p=ktkp$$
rm -rf "$work"
mkdir -p "$work/data" "$work/admin" "$work/state"
fail() { fail_with_logs kube_play_test "$*" "$p-master-master" "$p-worker-worker"; }
cleanup() {
  podman pod rm -f -t 60 "$p-worker" >/dev/null 2>&1 || true
  podman pod rm -f "$p-master" >/dev/null 2>&1 || true
  podman secret rm "$p-kuiga-join" >/dev/null 2>&1 || true
  for n in c m w; do ip netns del "$p$n" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

image=$("$repo/scripts/image.sh") || fail "scripts/image.sh failed"
kubectl kustomize "$repo/deploy/kubernetes/base" >"$work/rendered.yaml" 2>/dev/null ||
  fail "kubectl kustomize"
grep -q "image: $image" "$work/rendered.yaml" || fail "the manifests do not name $image"
# The operator's admin token, as the kuiga-admin Secret would hold it.
token=$("$kuiga" token secret)
printf '%s' "$token" >"$work/admin/token"
chown -R 10001:10001 "$work/data" "$work/admin"
chmod 0400 "$work/admin/token"
(cd "$work" && /usr/bin/python3 "$repo/tests/deploy/kube_pods.py" "$p" "$work/data" \
  "$work/admin" "$work/state" 10.215.0.1 10.215.0.2 <rendered.yaml) || fail "kube_pods.py"
# This machine's process limits (lib.sh): kube play takes them from containers.conf only.
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' "$max_nofile" \
  "$max_nofile" "$max_nproc" "$max_nproc" >"$work/containers.conf"
export CONTAINERS_CONF=$work/containers.conf

# A bridge in the test's namespace; a pod's namespace, named, gets a link to it.
ip netns add "${p}c"
ip -n "${p}c" link set lo up
ip -n "${p}c" link add "${p}br" type bridge
ip -n "${p}c" addr add 10.215.0.3/24 dev "${p}br"
ip -n "${p}c" link set "${p}br" up
join_pod() {  # POD NETNS ADDRESS
  local infra pid
  infra=$(podman pod inspect "$1" --format '{{.InfraContainerID}}')
  pid=$(podman inspect "$infra" --format '{{.State.Pid}}')
  ip netns attach "$2" "$pid"
  ip link add "${2}x" netns "${p}c" type veth peer name "${2}y" netns "$2"
  ip -n "${p}c" link set "${2}x" master "${p}br" up
  ip -n "$2" addr add "$3/24" dev "${2}y"
  ip -n "$2" link set "${2}y" up
}
cli() { ip netns exec "${p}c" env KUIGA_CONFIG="$work/data/data/kuiga.conf" \
  KUIGA_MASTER=https://10.215.0.1:8750 "$kuiga" "$@"; }

# (From the work directory: podman 4.3 looks for a build context named after the image in the
# current one, --build=false or not.)
play() { (cd "$work" && podman kube play --build=false --network none "$1") >/dev/null; }
play "$p-master.yaml" || fail "kube play master"
join_pod "$p-master" "${p}m" 10.215.0.1
for _ in $(seq 100); do
  ip netns exec "${p}c" curl -sf --cacert "$work/data/data/pki/ca.crt" \
    https://10.215.0.1:8750/healthz >/dev/null 2>&1 && break
  sleep 0.1
done
ip netns exec "${p}c" curl -sf --cacert "$work/data/data/pki/ca.crt" \
  https://10.215.0.1:8750/healthz >/dev/null || fail "the master is not healthy"
[ "$(podman exec "$p-master-master" id -u)" = 10001 ] || fail "the master runs as root"
grep -q "token: $token" "$work/data/data/kuiga.conf" || fail "the master did not take the operator's token"

# The join token in a Secret (podman's own format in 4.3: a JSON map of base64 values).
join=$(cli token create --name k8s-nodes --role join 2>/dev/null) || fail "token create"
printf '{"token":"%s"}' "$(printf '%s' "$join" | base64 -w0)" |
  podman secret create "$p-kuiga-join" - >/dev/null
play "$p-worker.yaml" || fail "kube play worker"
join_pod "$p-worker" "${p}w" 10.215.0.2
for _ in $(seq 150); do
  cli workers --json 2>/dev/null | grep -q "\"name\":\"$p-node\".*\"online\":true" && break
  sleep 0.2
done
cli workers --json | grep -q '"online":true' || fail "the worker did not join"

run=$(cli run create --app "$periodic" --count 100 --args "{start_ms} {period_ms}" --period 100 \
  --start --json) || fail "run create"
grep -q '"running":100' <<<"$run" || fail "not 100 running: $run"
sleep 1
cli jitter 1 >/dev/null || fail "jitter"
# The kubelet's SIGTERM: the worker, its container's first process, removes its devices.
podman pod stop -t 60 "$p-worker" >/dev/null
log=$(podman logs "$p-worker-worker" 2>&1)
grep -q "first process of its PID namespace" <<<"$log" || fail "the worker did not see it is PID 1"
grep -q "enrolled with https://10.215.0.1:8750" <<<"$log" || fail "no enrollment"
grep -q " error " <<<"$log" && fail "the worker's stop logged an error"
for _ in $(seq 100); do cli workers --json | grep -q '"online":false' && break; sleep 0.2; done
cli workers --json | grep -q '"online":false' || fail "the worker is still online"
cli run stop 1 >/dev/null || fail "run stop"
cli run rm 1 >/dev/null || fail "run rm"
echo "kube_play_test: ok"
