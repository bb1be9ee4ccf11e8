#!/usr/bin/env bash
# Builds Kuiga Box's OCI image, localhost/kuiga:VERSION (and :latest), with podman or docker,
# whichever is present (KUIGA_IMAGE_ENGINE names one). No registry is needed: the base is
# Debian 12 made by mmdebstrap (minbase, plus the Debian packages that hold the libraries the
# binaries load) and imported as localhost/kuiga-base:<hash of that package list>, reused while
# the list stays the same. Run as root after scripts/build.sh (it builds --main-job if needed).
# usage: scripts/image.sh [TAG]   (KUIGA_BUILD_DIR: where the binaries are, default build)
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${KUIGA_IMAGE_ENGINE:-}
if [ -z "$engine" ]; then
  if command -v podman >/dev/null; then engine=podman
  elif command -v docker >/dev/null; then engine=docker
  else echo "image: neither podman nor docker is installed" >&2; exit 1; fi
fi
command -v mmdebstrap >/dev/null || { echo "image: mmdebstrap is needed (apt-get install mmdebstrap)" >&2; exit 1; }
bin=${KUIGA_BUILD_DIR:-build}
[ -x "$bin/kuiga" ] || scripts/build.sh --main-job
version=$("$bin/kuiga" --version | awk '{print $2}')
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit-dirty"
tag=${1:-localhost/kuiga:$version}

# The Debian packages of the libraries kuiga loads (merged /usr: dpkg knows some by their
# /lib path, some by their /usr/lib path).
packages=$(
  for lib in $(ldd "$bin/kuiga" | awk '/=>/ {print $3}'); do
    for path in "$lib" "$(readlink -f "$lib")" "${lib/#\/usr/}" "/usr$lib"; do
      dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1 && break
    done
  done | sort -u | tr '\n' ',' | sed 's/,$//'
)
hash=$(echo "bookworm minbase $packages" | sha256sum | cut -c1-16)
# The binaries without their debug sections (kuiga is 160 MB with them, a few tens without).
mkdir -p build/image
for b in kuiga kuiga-init kuiga-gate; do strip --strip-debug -o "build/image/$b" "$bin/$b"; done
base=localhost/kuiga-base:$hash
if ! $engine image exists "$base" 2>/dev/null && ! $engine image inspect "$base" >/dev/null 2>&1; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "image: Debian 12 minbase with $packages" >&2
  mmdebstrap --variant=minbase --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    bookworm "$work/base.tar" >&2
  $engine import --change 'CMD ["/bin/sh"]' "$work/base.tar" "$base" >/dev/null
fi
$engine tag "$base" localhost/kuiga-base:latest
$engine build -f Containerfile --build-arg "BASE=$base" --build-arg "VERSION=$version" \
  --build-arg "COMMIT=$commit" -t "$tag" -t localhost/kuiga:latest . >&2
# Every library the binary loads is in the image. (Explicit limits: the engine's defaults may be
# above what this machine allows a process, which runc then refuses; some kernels refuse an
# nproc limit above pid_max.)
nproc=$(ulimit -Hu)
pidmax=$(cat /proc/sys/kernel/pid_max)
[ "$nproc" = unlimited ] || [ "$nproc" -gt "$pidmax" ] && nproc=$pidmax
limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=$nproc:$nproc")
loaded=$($engine run --rm "${limits[@]}" --entrypoint /usr/bin/ldd "$tag" /usr/local/bin/kuiga)
if grep -q "not found" <<<"$loaded"; then
  echo "image: a library kuiga loads is missing from the image: $loaded" >&2
  exit 1
fi
echo "$tag"
