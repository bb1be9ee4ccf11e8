# Helpers shared by the scripts that start a daemon for the tests (dockerd.sh, podman.sh):
# sourced, not run.

# wait_gone PID: up to 10 s for the process to end after SIGTERM, then SIGKILL.
wait_gone() {
  local pid=$1
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# unmount_under DIR...: every mount below the directories, deepest first.
unmount_under() {
  local root
  for root in "$@"; do
    { grep -F " $root" /proc/self/mounts || true; } | awk '{print $2}' | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
  done
}

# wait_socket NAME SOCKET PIDFILE LOG: up to 30 s for the API at SOCKET to answer /_ping.
wait_socket() {
  local name=$1 socket=$2 pidfile=$3 log=$4
  for _ in $(seq 300); do
    curl -sf --unix-socket "$socket" http://d/_ping >/dev/null 2>&1 && return 0
    kill -0 "$(cat "$pidfile")" 2>/dev/null || break
    sleep 0.1
  done
  echo "$name: the service did not come up; its log:" >&2
  tail -n 30 "$log" >&2
  return 1
}
