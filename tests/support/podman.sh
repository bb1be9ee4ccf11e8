#!/usr/bin/env bash
# Podman's Docker-compatible API service for the docker runtime's tests: Debian's podman with
# its own storage root, run root and socket. `stop` removes its containers and stops the
# service by PID, also after a failure.
#
#   podman.sh start DIR    starts it; the socket is DIR/docker.sock
#   podman.sh stop DIR     removes its containers, stops it, unmounts and removes its roots
set -euo pipefail
# shellcheck source=daemon.sh
. "$(dirname "$0")/daemon.sh"

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
    wait_gone "$pid"
  fi
  unmount_under "$dir/root" "$run_root"
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
  wait_socket podman.sh "$dir/docker.sock" "$dir/pid" "$dir/podman.log"
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
