#!/usr/bin/env bash
# Fails if anything Kuiga Box makes is still on this machine: network namespaces, links,
# cgroups, root skeleton mounts or instance processes.
#   check-leaks.sh                 everything found counts
#   check-leaks.sh --save F        writes what is there now to F (before a test suite) and succeeds
#   check-leaks.sh --baseline F    what F already listed is named but not counted: the suite is
#                                  accountable only for what it left (a machine that a killed
#                                  earlier run left dirty does not fail a clean suite)
set -uo pipefail
mode=check
file=
case "${1:-}" in
  --save) mode=save; file=$2 ;;
  --baseline) file=$2 ;;
  "") ;;
  *) echo "usage: $0 [--save FILE | --baseline FILE]" >&2; exit 2 ;;
esac

found() {
  ip netns list 2>/dev/null | awk '{print $1}' | grep -iE 'kuiga|^kg|^kt' | sed 's/^/netns /'
  ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
    grep -E '^(kv|kgt|rbr|rcore|r[cbudx][0-9a-f]+(\.[0-9a-f]+)?$)' | sed 's/^/link /'
  # A run's VXLAN port keeps its socket in the host's namespace: one left behind holds UDP 4789.
  ip -o link show type vxlan 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
    grep -E '^rx[0-9a-f]+$' | sed 's/^/vxlan /'
  find /sys/fs/cgroup -maxdepth 3 -type d -name 'kuiga*' 2>/dev/null | sed 's/^/cgroup /'
  grep -E '/run/kuiga|radio\.netns' /proc/self/mountinfo | awk '{print "mount " $5}'
  pgrep -a kuiga-init | sed 's/^/process /'
}

now=$(found | sort -u)
if [ "$mode" = save ]; then
  printf '%s\n' "$now" | sed '/^$/d' > "$file"
  exit 0
fi
before=
[ -n "$file" ] && [ -f "$file" ] && before=$(cat "$file")
leaks=0
while IFS= read -r line; do
  [ -z "$line" ] && continue
  if [ -n "$before" ] && grep -qxF -- "$line" <<<"$before"; then
    echo "check-leaks: already there before the suite, not counted: $line" >&2
  else
    echo "leak: $line" >&2
    leaks=1
  fi
done <<<"$now"
[ "$leaks" -eq 0 ] && echo "check-leaks: nothing left behind"
exit "$leaks"
