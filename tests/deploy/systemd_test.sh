#!/usr/bin/env bash
# The systemd units as an operator installs them: `systemd-analyze verify` passes on each (its
# directives, and the binary its ExecStart names: here the build's, in a copy of the unit), says
# nothing at all about them, and the master's sandbox rates "OK" (exposure 2.0 or less) in
# `systemd-analyze security`. Debian's systemd package, no running systemd needed.
# usage: systemd_test.sh KUIGA WORKDIR
set -euo pipefail
kuiga=${1:?kuiga binary}
work=${2:?work directory}
repo=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
cp "$repo"/deploy/systemd/*.service "$repo"/deploy/systemd/*.env "$work/"
sed -i "s#/usr/local/bin/kuiga#$kuiga#; s#/etc/kuiga/#$work/#" "$work"/*.service
for unit in kuiga-master kuiga-worker kuiga-plexer; do
  grep -q "^EnvironmentFile=$work/" "$work/$unit.service" || { echo "$unit: no environment file" >&2; exit 1; }
  out=$(systemd-analyze verify --man=no "$work/$unit.service" 2>&1) || { echo "$out" >&2; exit 1; }
  # verify exits 0 on an unknown directive: anything it says is a failure.
  if [ -n "$out" ]; then echo "$unit: $out" >&2; exit 1; fi
done
# A worker and a plexer keep their devices and cells on a restart, and a worker may start
# thousands of processes with a few descriptors each.
for unit in kuiga-worker kuiga-plexer; do
  grep -qx 'KillMode=process' "$work/$unit.service" || { echo "$unit: not KillMode=process" >&2; exit 1; }
  grep -qx 'Restart=on-failure' "$work/$unit.service" || { echo "$unit: no Restart=on-failure" >&2; exit 1; }
done
grep -qx 'TasksMax=infinity' "$work/kuiga-worker.service" || { echo "worker: TasksMax" >&2; exit 1; }
# The devices share the worker's CPU weight with it, against every other service of the host.
grep -qx 'CPUWeight=1000' "$work/kuiga-worker.service" || { echo "worker: CPUWeight" >&2; exit 1; }
grep -q '^LimitNOFILE=' "$work/kuiga-worker.service" || { echo "worker: LimitNOFILE" >&2; exit 1; }
# The master needs no privilege: systemd rates how little it is given.
if ! out=$(systemd-analyze security --offline=yes --threshold=20 "$work/kuiga-master.service" 2>&1); then
  echo "$out" | tail -25 >&2
  echo "kuiga-master.service: exposure above 2.0" >&2
  exit 1
fi
echo "systemd_test: ok ($(tail -1 <<<"$out" | sed 's/.*: //'))"
