#!/usr/bin/env bash
# `kuiga bench wakeups` asked for more copies than kernel.pid_max allows fails with a clear error
# before it makes any copy. It runs in a PID namespace of its own whose pid_max is 2,000: per
# namespace since Linux 6.14. On an older kernel that write would lower the host's, so the test
# is skipped there (exit 77).
set -euo pipefail
kuiga=${1:?kuiga binary}
err=${2:?file for its stderr}
IFS=. read -r major minor _ <<<"$(uname -r)"
if ((major < 6 || (major == 6 && ${minor%%[!0-9]*} < 14))); then
  echo "skipped: kernel.pid_max is per PID namespace only from Linux 6.14 ($(uname -r))"
  exit 77
fi
host_before=$(cat /proc/sys/kernel/pid_max)
rc=0
# shellcheck disable=SC2016 # expanded by the inner shell
unshare --pid --fork --mount-proc sh -c \
  'echo 2000 > /proc/sys/kernel/pid_max && exec "$0" bench wakeups --count 1500 --duration 1' \
  "$kuiga" 2>"$err" || rc=$?
test "$(cat /proc/sys/kernel/pid_max)" = "$host_before" || {
  echo "the host's pid_max changed" >&2
  exit 1
}
test "$rc" -ne 0 || {
  echo "the benchmark succeeded" >&2
  exit 1
}
grep -q -- "--count 1500 needs more processes than kernel.pid_max (2000) allows" "$err" || {
  cat "$err" >&2
  exit 1
}
echo "pid_max check: ok"
