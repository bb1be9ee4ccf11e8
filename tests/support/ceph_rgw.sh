#!/usr/bin/env bash
# A real Ceph RGW for the S3 tests: one mon, one OSD on memstore, radosgw (beast) on 127.0.0.1,
# with cephx. Everything lives under DIR; every daemon's PID is written to DIR/pids so that
# `stop` ends exactly those processes, also after a failed test.
#
#   ceph_rgw.sh start DIR     brings it up, creates the users and writes DIR/env:
#                             S3_ENDPOINT, S3_ADMIN_KEY/SECRET (read-write), S3_READ_KEY/SECRET
#                             (a read-only subuser), S3_DNS (for virtual-host addressing)
#   ceph_rgw.sh stop DIR      stops the daemons by PID and removes DIR
set -euo pipefail

cmd=${1:?usage: ceph_rgw.sh start|stop DIR}
dir=${2:?usage: ceph_rgw.sh start|stop DIR}

stop() {
  if [[ -f "$dir/pids" ]]; then
    while read -r pid; do
      kill -TERM "$pid" 2>/dev/null || true
    done <"$dir/pids"
    for _ in $(seq 100); do
      alive=0
      while read -r pid; do kill -0 "$pid" 2>/dev/null && alive=1; done <"$dir/pids"
      [[ $alive == 0 ]] && break
      sleep 0.1
    done
    while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$dir/pids"
  fi
  rm -rf "$dir"
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits for a command to succeed, at most $1 seconds.
wait_for() {
  local limit=$1
  shift
  local start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS - start > limit)); then
      echo "ceph_rgw: timed out after ${limit}s waiting for: $*" >&2
      return 1
    fi
    sleep 0.2
  done
}

start() {
  for b in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool; do
    command -v "$b" >/dev/null || {
      echo "ceph_rgw: $b is not installed (scripts/install-deps.sh installs it)" >&2
      exit 1
    }
  done
  rm -rf "$dir"
  mkdir -p "$dir"/{mon,osd,run,log}
  : >"$dir/pids"
  local mon_port rgw_port fsid
  mon_port=$(free_port)
  rgw_port=$(free_port)
  fsid=$(cat /proc/sys/kernel/random/uuid)
  local conf=$dir/ceph.conf
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public network = 127.0.0.0/8
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
paxos propose interval = 0.05
mon osd down out interval = 0
ms bind ipv6 = false
[mon.a]
mon data = $dir/mon
[osd.0]
osd data = $dir/osd
osd objectstore = memstore
memstore device bytes = 2147483648
osd max object size = 134217728
osd journal size = 0
[client.rgw.kuiga]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw dns name = s3.localhost
rgw data = $dir/rgw
rgw enable usage log = false
EOF
  local ceph=(ceph -c "$conf" --connect-timeout 10)
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" \
    "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/monmap" --keyring "$dir/keyring"
  ceph-mon -c "$conf" -i a
  wait_for 20 test -s "$dir/run/mon.a.pid"
  cat "$dir/run/mon.a.pid" >>"$dir/pids"
  wait_for 30 "${ceph[@]}" mon stat

  local uuid osd_key
  uuid=$(cat /proc/sys/kernel/random/uuid)
  osd_key=$(ceph-authtool --gen-print-key)
  echo "{\"cephx_secret\": \"$osd_key\"}" >"$dir/osd-secret.json"
  "${ceph[@]}" osd new "$uuid" -i "$dir/osd-secret.json" >/dev/null
  ceph-authtool --create-keyring "$dir/osd/keyring" --name osd.0 --add-key "$osd_key" >/dev/null
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" --keyring "$dir/osd/keyring" \
    >>"$dir/log/osd-mkfs.log" 2>&1
  ceph-osd -c "$conf" -i 0 --keyring "$dir/osd/keyring"
  wait_for 20 test -s "$dir/run/osd.0.pid"
  cat "$dir/run/osd.0.pid" >>"$dir/pids"
  wait_for 60 sh -c "${ceph[*]} osd stat | grep -q '1 up'"

  "${ceph[@]}" auth get-or-create client.rgw.kuiga mon 'allow rw' osd 'allow rwx' \
    >"$dir/rgw.keyring"
  mkdir -p "$dir/rgw"
  radosgw -c "$conf" -n client.rgw.kuiga --keyring "$dir/rgw.keyring"
  wait_for 20 test -s "$dir/run/client.rgw.kuiga.pid"
  cat "$dir/run/client.rgw.kuiga.pid" >>"$dir/pids"
  wait_for 60 curl -sf "http://127.0.0.1:$rgw_port/"

  local admin=(radosgw-admin -c "$conf" -n client.admin)
  "${admin[@]}" user create --uid=kuiga --display-name='Kuiga Box tests' >/dev/null
  "${admin[@]}" subuser create --uid=kuiga --subuser=kuiga:worker --access=read \
    --key-type=s3 --gen-access-key --gen-secret >"$dir/subuser.json"
  /usr/bin/python3 - "$dir" "$rgw_port" <<'EOF'
import json, sys
d, port = sys.argv[1], sys.argv[2]
user = json.loads(open(d + "/subuser.json").read())
keys = {k["user"]: k for k in user["keys"]}
admin, worker = keys["kuiga"], keys["kuiga:worker"]
with open(d + "/env", "w") as f:
    f.write(f"S3_ENDPOINT=http://127.0.0.1:{port}\n")
    f.write(f"S3_DNS=s3.localhost:{port}\n")
    f.write(f"S3_ADMIN_KEY={admin['access_key']}\nS3_ADMIN_SECRET={admin['secret_key']}\n")
    f.write(f"S3_READ_KEY={worker['access_key']}\nS3_READ_SECRET={worker['secret_key']}\n")
EOF
}

case $cmd in
start)
  if ! start; then
    echo "ceph_rgw: start failed; logs in $dir/log:" >&2
    tail -n 20 "$dir"/log/*.log >&2 2>/dev/null || true
    stop
    exit 1
  fi
  ;;
stop) stop ;;
*)
  echo "usage: ceph_rgw.sh start|stop DIR" >&2
  exit 2
  ;;
esac
