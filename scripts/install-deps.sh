#!/usr/bin/env bash
# Installs what Kuiga Box needs, from Debian 12's archive only (and Kuiga Web's npm packages at
# build time). `--main-job`: only what building and running `kuiga up` needs (scripts/demo.sh);
# without it, also everything the test suite uses (real peers: tshark, a CoAP server, Ceph, the
# Docker and Podman engines, Chromium, ...).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (the ns runtime needs root anyway)" >&2
  exit 1
fi
main_job=0
[ "${1:-}" = "--main-job" ] && main_job=1
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Building kuiga, kuiga-init (musl) and the examples, and what they link.
build=(build-essential musl-tools cmake ninja-build pkg-config
  libnl-3-dev libnl-route-3-dev libnftables-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libcli11-dev libexpected-dev libssl-dev libcurl4-openssl-dev libtinyxml2-dev libarchive-dev
  libsqlite3-dev libsqlitecpp-dev libcpp-httplib-dev libmicrohttpd-dev zlib1g-dev libseccomp-dev
  libyaml-cpp-dev libcoap3-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc)
# Running it: ldd for the docker runtime's images, ps and hostname for diagnostics.
run=(procps hostname)
# The test suite: its framework and format check, and the real components it tests against.
tests=(libgtest-dev libgmock-dev gcc-multilib clang-format iproute2 nftables git tshark libcoap3-bin python3
  python3-prometheus-client chromium curl ceph-mon ceph-osd radosgw ceph-common docker.io podman
  catatonit
  mmdebstrap python3-yaml systemd python3-junitparser)
packages=("${build[@]}" "${run[@]}")
[ "$main_job" -eq 0 ] && packages+=("${tests[@]}")
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# The Kubernetes manifests are rendered with kubectl kustomize: Debian's kubectl (1.20), unless
# the machine has a kubectl of its own.
if [ "$main_job" -eq 0 ] && ! command -v kubectl >/dev/null; then
  apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
fi
# Kuiga Web is bundled at build time with npm. Use the machine's Node.js if it has one (the
# browser tests' playwright-core wants Node.js 20 or later); else Debian's.
if ! command -v npm >/dev/null; then
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
