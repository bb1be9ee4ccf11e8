#!/usr/bin/env bash
# Podman's Docker-compatible API service for the docker runtime's tests: Debian's podman with
# its own storage root, run root and socket. `stop` removes its containers and stops the
# service by PID, also after a failure.
#
#   podman.sh start DIR    starts it; the socket is DIR/docker.sock
#   podman.sh stop DIR     removes its containers, stops it, unmounts and removes its roots
set -euo pipefail

cmd=${1:?usage: podman.sh start|stop DIR}
dir=${2:?usage: podman.sh start|stop DIR}
run_root=/run/kuiga-test-podman-$(echo -n "$dir" | md5sum | cut -c1-8)
podman=(podman --root "$dir/root" --runroot "$run_root")

stop() {
  if [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    "${podman[@]}" rm --all --force --time 0 >/dev/null 2>&1 || true
    local pid
    pid=$(cat "$dir/pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  for root in "$dir/root" "$run_root"; do
    { grep -F " $root" /proc/self/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
  done
  rm -rf "$dir" "$run_root"
}

start() {
  command -v podman >/dev/null || {
    echo "podman.sh: podman is not installed (scripts/install-deps.sh installs it)" >&2
    exit 1
  }
  stop
  mkdir -p "$dir/root" "$run_root"
  "${podman[@]}" system service --time=0 "unix://$dir/docker.sock" >"$dir/podman.log" 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 300); do
    if curl -sf --unix-socket "$dir/docker.sock" http://d/_ping >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "podman.sh: the service did not come up; its log:" >&2
  tail -n 30 "$dir/podman.log" >&2
  return 1
}

case $cmd in
start)
  if ! start; then
    stop
    exit 1
  fi
  ;;
stop) stop ;;
*)
  echo "usage: podman.sh start|stop DIR" >&2
  exit 2
  ;;
esac
