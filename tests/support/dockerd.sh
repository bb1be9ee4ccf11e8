#!/usr/bin/env bash
# A Docker engine for the docker runtime's tests: Debian's dockerd with its own data root,
# exec root and socket, no bridge and no iptables rules (nothing on the host's networks
# changes). Every PID it and its containerd leave is stopped by `stop`, also after a failure.
#
#   dockerd.sh start DIR    starts it; the socket is DIR/docker.sock (also written to DIR/env)
#   dockerd.sh stop DIR     removes its containers, stops the daemons by PID, removes DIR
set -euo pipefail
# shellcheck source=daemon.sh
. "$(dirname "$0")/daemon.sh"

cmd=${1:?usage: dockerd.sh start|stop DIR}
dir=${2:?usage: dockerd.sh start|stop DIR}
# Unix socket paths are short (108 bytes): the exec root goes under /run.
exec_root=/run/kuiga-test-docker-$(echo -n "$dir" | md5sum | cut -c1-8)

descendants() {
  local p
  for p in $(cat "/proc/$1/task/"*/children 2>/dev/null); do
    echo "$p"
    descendants "$p"
  done
}

stop() {
  if [[ -f "$dir/pid" ]]; then
    local pid
    pid=$(cat "$dir/pid")
    if kill -0 "$pid" 2>/dev/null; then
      if [[ -S "$dir/docker.sock" ]]; then
        for c in $(curl -s --unix-socket "$dir/docker.sock" \
          "http://docker/containers/json?all=1" | /usr/bin/python3 -c \
          'import json,sys; print(" ".join(c["Id"] for c in json.load(sys.stdin)))' 2>/dev/null); do
          curl -s -X DELETE --unix-socket "$dir/docker.sock" \
            "http://docker/containers/$c?force=1" >/dev/null || true
        done
      fi
      local all
      all="$pid $(descendants "$pid")"
      kill -TERM "$pid" 2>/dev/null || true
      wait_gone "$pid"
      for p in $all; do kill -KILL "$p" 2>/dev/null || true; done
    fi
  fi
  # Mounts the daemon made under its roots (overlays, the exec root's netns files).
  unmount_under "$dir/data" "$exec_root"
  rm -rf "$dir" "$exec_root"
}

start() {
  command -v dockerd >/dev/null || {
    echo "dockerd.sh: dockerd is not installed (scripts/install-deps.sh installs docker.io)" >&2
    exit 1
  }
  stop
  mkdir -p "$dir/data" "$exec_root"
  dockerd --data-root "$dir/data" --exec-root "$exec_root" --pidfile "$dir/pid.dockerd" \
    -H "unix://$dir/docker.sock" --bridge=none --iptables=false --ip6tables=false \
    --ip-masq=false --userland-proxy=false --log-level=warn >"$dir/dockerd.log" 2>&1 &
  echo $! >"$dir/pid"
  wait_socket dockerd.sh "$dir/docker.sock" "$dir/pid" "$dir/dockerd.log"
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
  echo "usage: dockerd.sh start|stop DIR" >&2
  exit 2
  ;;
esac
