# Shared by the deployment tests (sourced).

# The process limits to give containers: this machine's own hard limits. An engine's defaults
# may be above them, which runc then refuses; some kernels refuse an nproc limit above pid_max.
max_nofile=$(ulimit -Hn)
max_nproc=$(ulimit -Hu)
pid_max=$(cat /proc/sys/kernel/pid_max)
if [ "$max_nproc" = unlimited ] || [ "$max_nproc" -gt "$pid_max" ]; then max_nproc=$pid_max; fi

# fail_with_logs TEST MESSAGE CONTAINER...: says what failed with the tail of each container's
# log, and exits 1.
fail_with_logs() {
  local test=$1 message=$2
  shift 2
  echo "$test: $message" >&2
  for c in "$@"; do
    echo "---- $c" >&2
    podman logs "$c" 2>&1 | tail -20 >&2 || true
  done
  exit 1
}
