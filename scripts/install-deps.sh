#!/usr/bin/env bash
# Installs what Kuiga Box needs to build and test, from Debian 12's archive only.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (the ns runtime needs root anyway)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential musl-tools cmake ninja-build pkg-config clang-format \
  libnl-3-dev libnl-route-3-dev libspdlog-dev libfmt-dev nlohmann-json3-dev \
  libcli11-dev libexpected-dev libgtest-dev libgmock-dev \
  libssl-dev libcurl4-openssl-dev libtinyxml2-dev libarchive-dev libsqlite3-dev libsqlitecpp-dev libcpp-httplib-dev \
  libmicrohttpd-dev zlib1g-dev libseccomp-dev \
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc \
  iproute2 procps hostname git tshark libcoap3-bin \
  python3 python3-prometheus-client chromium curl \
  ceph-mon ceph-osd radosgw ceph-common docker.io podman catatonit >/dev/null
# Kuiga Web is bundled at build time with npm. Use the machine's Node.js if it has one (the
# browser tests' playwright-core wants Node.js 20 or later); else Debian's.
if ! command -v npm >/dev/null; then
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
