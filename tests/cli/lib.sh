# What the CLI tests share (sourced). start_up KUIGA WORK NAME [OPTIONS...]: starts `kuiga up`
# on a free port with its data in WORK/data and its log in WORK/up.log, stops it on exit, and
# sets $up (its pid) and $url (its API, once it says where) or fails.
start_up() {
  local kuiga=$1 work=$2 name=$3
  shift 3
  "$kuiga" up --port 0 --data "$work/data" --name "$name" "$@" >"$work/up.log" 2>&1 &
  up=$!
  trap 'kill -TERM $up 2>/dev/null; wait $up 2>/dev/null || true' EXIT
  url=
  for _ in $(seq 100); do
    url=$(grep -o 'API https\?://[0-9.:]*' "$work/up.log" | head -1 | cut -d' ' -f2) || true
    [ -n "$url" ] && return 0
    sleep 0.1
  done
  fail "kuiga up did not say where its API is"
}
