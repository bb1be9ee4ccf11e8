#!/usr/bin/env bash
# Kuiga Web in a real browser: `kuiga up` on the real ns runtime, then ui_test.mjs drives
# Debian's chromium through playwright-core (from src/web/node_modules) over the whole UI.
# usage: ui_test.sh KUIGA PERIODIC_AUT WORKDIR WEB_DIR
set -uo pipefail
KUIGA=$1 AUT=$2 DIR=$3 WEB=$4
NAME=ktweb$$
rm -rf "$DIR" && mkdir -p "$DIR"
"$KUIGA" up --data "$DIR/data" --port 0 --name "$NAME" --capacity 100 \
  >"$DIR/up.log" 2>&1 &
UP=$!
cleanup() {
  kill -TERM "$UP" 2>/dev/null
  wait "$UP" 2>/dev/null
  "$KUIGA" worker recover --destroy --name "$NAME" --state-dir "$DIR/data/worker" >/dev/null 2>&1
}
trap cleanup EXIT
for _ in $(seq 100); do grep -q "Kuiga Box is up" "$DIR/up.log" && break; sleep 0.1; done
PORT=$(sed -n 's|.*Kuiga Box is up: API http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$DIR/up.log")
if [ -z "$PORT" ]; then
  echo "FAIL: kuiga up did not start" >&2
  cat "$DIR/up.log" >&2
  exit 1
fi
# The first admin token, from the config the master wrote; and a user's, made with it.
KUIGA_TOKEN=$(sed -n 's/^token: //p' "$DIR/data/kuiga.conf")
KUIGA_USER_TOKEN=$("$KUIGA" token create --master "http://127.0.0.1:$PORT" --token "$KUIGA_TOKEN" \
  --name webuser --role user)
export KUIGA_TOKEN KUIGA_USER_TOKEN
node "$(dirname "$0")/ui_test.mjs" "http://127.0.0.1:$PORT" "$AUT" "$DIR" "$WEB" "$NAME"
rc=$?
if [ $rc -ne 0 ]; then
  echo "---- up.log" >&2
  tail -30 "$DIR/up.log" >&2
fi
exit $rc
