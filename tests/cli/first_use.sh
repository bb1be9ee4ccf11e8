#!/usr/bin/env bash
# A new user's first minutes: `kuiga up`, then `kuiga run create` with no token step between
# (the master's first start installs its client config as the user's); curl without a token
# gets 401, with the token from DATA/kuiga.conf 200; and no token ever reaches the master's log.
# usage: first_use.sh KUIGA PERIODIC_AUT WORKDIR
set -euo pipefail
kuiga=${1:?kuiga binary}
periodic=${2:?periodic example}
work=${3:?work directory}
name="ktfirst$$"
rm -rf "$work"
mkdir -p "$work/home"
# A user with no configuration yet.
export HOME=$work/home XDG_CONFIG_HOME=
unset KUIGA_CONFIG KUIGA_TOKEN KUIGA_MASTER
fail() {
  echo "first_use: $*" >&2
  [ -f "$work/up.log" ] && tail -20 "$work/up.log" >&2
  exit 1
}
. "$(dirname "$0")/lib.sh"
start_up "$kuiga" "$work" "$name"
[ -f "$HOME/.config/kuiga/config" ] || fail "no ~/.config/kuiga/config after the first start"
[ "$(stat -c %a "$HOME/.config/kuiga/config")" = 600 ] || fail "the user's config is not 0600"
[ "$(stat -c %a "$work/data/kuiga.conf")" = 600 ] || fail "DATA/kuiga.conf is not 0600"
for _ in $(seq 100); do "$kuiga" workers --json 2>/dev/null | grep -q '"online":true' && break; sleep 0.1; done

"$kuiga" run create --app "$periodic" --count 2 --args "0 100" --start --json >"$work/run.json" \
  2>"$work/run.err" || fail "run create with the installed config: $(cat "$work/run.err")"
grep -q '"running":2' "$work/run.json" || fail "not running: $(cat "$work/run.json")"
grep -q '"owner":"admin"' "$work/run.json" || fail "no owner: $(cat "$work/run.json")"

code=$(curl -s -o /dev/null -w '%{http_code}' "$url/api/v1/runs")
[ "$code" = 401 ] || fail "curl without a token got $code, not 401"
token=$(sed -n 's/^token: //p' "$work/data/kuiga.conf")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url/api/v1/runs")
[ "$code" = 200 ] || fail "curl with the config's token got $code, not 200"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/healthz")
[ "$code" = 200 ] || fail "/healthz without a token got $code"

# Tokens made and used through the CLI appear nowhere in the log.
user=$("$kuiga" token create --name dev --role user 2>/dev/null) || fail "token create"
KUIGA_TOKEN=$user "$kuiga" run ls >/dev/null || fail "a user's token"
"$kuiga" token rm dev >/dev/null || fail "token rm"
if KUIGA_TOKEN=$user "$kuiga" run ls >/dev/null 2>&1; then fail "a removed token still works"; fi
for t in "$token" "$user"; do
  ! grep -qF "${t#kgt_}" "$work/up.log" || fail "a token is in the master's log"
done
echo "first_use: ok"
