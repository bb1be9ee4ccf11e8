#!/usr/bin/env bash
# `kuiga up` stopped with SIGTERM removes its instances and says so; with --keep-on-exit it
# leaves them running, says so, and the next `kuiga up` on the data directory re-adopts them.
set -euo pipefail
kuiga=${1:?kuiga binary}
periodic=${2:?periodic example}
work=${3:?work directory}
name="ktupexit$$"
rm -rf "$work"
mkdir -p "$work"
export KUIGA_CONFIG=$work/data/kuiga.conf  # the first start writes it, with an admin token
fail() {
  echo "up_exit: $*" >&2
  exit 1
}
up=
start_up() {  # start_up LOG [OPTIONS...]: starts kuiga up, sets $url
  local log=$1
  shift
  "$kuiga" up --port 0 --data "$work/data" --name "$name" "$@" >"$log" 2>&1 &
  up=$!
  url=
  for _ in $(seq 100); do
    url=$(grep -o 'API http://[0-9.:]*' "$log" | head -1 | cut -d' ' -f2) || true
    [ -n "$url" ] && return 0
    sleep 0.1
  done
  fail "kuiga up did not start: $(cat "$log")"
}
stop_up() {
  kill -TERM "$up"
  wait "$up" || true
  up=
}
trap '[ -n "$up" ] && kill -TERM $up 2>/dev/null; wait 2>/dev/null || true' EXIT
# Instances' inits (not the worker's zygote, `kuiga-init --zygote ...`).
inits() { pgrep -f "kuiga-init --root /run/kuiga/$name/" | wc -l || true; }

start_up "$work/up1.log"
"$kuiga" run create --master "$url" --app "$periodic" --count 2 --args "0 100" --start >/dev/null
[ "$(inits)" -eq 2 ] || fail "expected 2 instances, found $(inits)"
stop_up
grep -q "Removing 2 instances" "$work/up1.log" || fail "no word of the instances: $(tail -3 "$work/up1.log")"
[ "$(inits)" -eq 0 ] || fail "$(inits) instances left running after kuiga up stopped"

start_up "$work/up2.log" --keep-on-exit
"$kuiga" run create --master "$url" --app "$periodic" --count 2 --args "0 100" --start >/dev/null
stop_up
grep -q "Leaving 2 instances running" "$work/up2.log" || fail "no word of them: $(tail -3 "$work/up2.log")"
[ "$(inits)" -eq 2 ] || fail "--keep-on-exit: expected 2 instances still running, found $(inits)"

start_up "$work/up3.log"
for _ in $(seq 100); do
  "$kuiga" run show 2 --master "$url" >"$work/show" 2>&1 && grep -q "2 running" "$work/show" && break
  sleep 0.1
done
grep -q "2 running" "$work/show" || fail "not re-adopted: $(cat "$work/show")"
stop_up
[ "$(inits)" -eq 0 ] || fail "$(inits) instances left after the last kuiga up stopped"
