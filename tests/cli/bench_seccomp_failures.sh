#!/usr/bin/env bash
# `kuiga bench seccomp` fails with a clear error, and exit 1, where it cannot take a sample:
# - a child killed as it installs the filter (an ancestor's filter whose action is to kill);
# - no descriptor left for the pipe a child reports through (RLIMIT_NOFILE);
# - no process left for the child (a pids cgroup of the test's own, v1 or v2).
# The last needs root and a pids controller; without one it alone is skipped.
set -euo pipefail
kuiga=${1:?kuiga binary}
no_seccomp=${2:?no_seccomp test app}
err=$(mktemp)
cg=""
cleanup() {
  rm -f "$err"
  # The benchmark has been reaped, but its cgroup may count it for a moment longer.
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    if [[ -z $cg || ! -d $cg ]] || rmdir "$cg" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "could not remove $cg" >&2
  exit 1
}
trap cleanup EXIT

# Runs the benchmark (the command in "$@" before it) and expects exit 1 and MESSAGE on stderr.
expect_failure() {
  local message=$1
  shift
  local rc=0
  "$@" "$kuiga" bench seccomp --count 3 --json 2>"$err" || rc=$?
  if [[ $rc -ne 1 ]] || ! grep -qF -- "kuiga bench seccomp: $message" "$err"; then
    echo "expected exit 1 and '$message', got exit $rc:" >&2
    cat "$err" >&2
    exit 1
  fi
}

expect_failure "a child ended before it reported, killed by signal 31 (SIGSYS)" \
  "$no_seccomp" --kill
echo "a killed child: ok"

# The descriptors the benchmark holds before its first pipe depend on what it inherits, so
# lower the limit one at a time until the pipe is what fails, and check the message then.
found=0
for n in $(seq 4 16); do
  rc=0
  (ulimit -n "$n" && exec "$kuiga" bench seccomp --count 3 --json) >/dev/null 2>"$err" || rc=$?
  if [[ $rc -eq 0 ]]; then break; fi
  if grep -qF "kuiga bench seccomp: pipe: Too many open files" "$err"; then
    [[ $rc -eq 1 ]] || {
      echo "out of descriptors: exit $rc" >&2
      exit 1
    }
    found=1
    break
  fi
done
[[ $found -eq 1 ]] || {
  echo "no descriptor limit made the pipe fail; the last error:" >&2
  cat "$err" >&2
  exit 1
}
echo "out of descriptors at ulimit -n $n: ok"

# A pids cgroup that holds the benchmark and nothing more: its child's fork is refused.
# A mount's type and options follow the "-" that ends its variable list of optional fields.
mounts() {
  awk -v type="$1" '{ for (i = 7; i < NF; ++i) if ($i == "-") break }
    $(i + 1) == type { print $5, $(i + 3) }' /proc/self/mountinfo
}
pids=$(mounts cgroup | awk '$2 ~ /(^|,)pids(,|$)/ {print $1; exit}')
if [[ -z $pids ]]; then
  root=$(mounts cgroup2 | awk '{print $1; exit}')
  if [[ -n $root ]] && grep -qw pids "$root/cgroup.subtree_control" 2>/dev/null; then
    pids=$root
  fi
fi
if [[ -z $pids || $(id -u) -ne 0 ]]; then
  echo "skipped the fork's failure: no pids controller this test may use, or not root"
  exit 0
fi
cg="$pids/kt-seccomp-bench-$$"
mkdir "$cg"
echo 1 >"$cg/pids.max"
# shellcheck disable=SC2016 # expanded by the inner shell
expect_failure "fork: Resource temporarily unavailable" \
  sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg"
echo "no process left for the child: ok"
