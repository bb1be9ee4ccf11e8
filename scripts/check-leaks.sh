#!/usr/bin/env bash
# Fails if anything Kuiga Box makes is still on this machine: network namespaces, links,
# cgroups, root skeleton mounts or instance processes.
set -uo pipefail
leaks=0
report() { echo "leak: $*" >&2; leaks=1; }
ns=$(ip netns list 2>/dev/null | grep -iE 'kuiga|^kg|^kt' || true)
[ -n "$ns" ] && report "network namespaces: $ns"
links=$(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^(kv|kgt|rbr|rcore)' || true)
[ -n "$links" ] && report "links: $links"
cgroups=$(find /sys/fs/cgroup -maxdepth 3 -type d -name 'kuiga*' 2>/dev/null || true)
[ -n "$cgroups" ] && report "cgroups: $cgroups"
mounts=$(grep -E '/run/kuiga|radio\.netns' /proc/self/mountinfo || true)
[ -n "$mounts" ] && report "mounts: $mounts"
procs=$(pgrep -a kuiga-init || true)
[ -n "$procs" ] && report "processes: $procs"
[ "$leaks" -eq 0 ] && echo "check-leaks: nothing left behind"
exit "$leaks"
