#!/usr/bin/env bash
# Fuzzes the parsers that read outside input (fuzz/): builds the libFuzzer targets with clang
# into ./build-fuzz and runs each for SECONDS (default 60), from the checked-in corpus.
#   scripts/fuzz.sh [SECONDS] [TARGET...]      targets: see fuzz/CMakeLists.txt
# New interesting inputs collect in build-fuzz/corpus/TARGET. A failing input is written to
# build-fuzz/ (crash-*, leak-*, timeout-*) and the script stops: once fixed, add it to
# fuzz/corpus/TARGET, where the test suite replays it (fuzz_replay_TARGET).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(zep_datagram ip_packet run_spec topology aut_elf pcapng_filter log_writer
    image_manifest)
fi
if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz.sh needs clang with libFuzzer: apt-get install clang libclang-rt-14-dev" >&2
  exit 2
fi
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKUIGA_FUZZ=ON >/dev/null
cmake --build build-fuzz --target "${targets[@]/#/fuzz_}"
for t in "${targets[@]}"; do
  echo "== $t ($seconds s)"
  mkdir -p "build-fuzz/corpus/$t"
  maxlen=4096
  if [ "$t" = log_writer ]; then maxlen=20000; fi  # lines longer than LogWriter::kMaxLine
  dict=()
  if [ -f "fuzz/$t.dict" ]; then dict=(-dict="../fuzz/$t.dict"); fi
  (cd build-fuzz && "./fuzz/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 \
    -max_len="$maxlen" "${dict[@]}" "corpus/$t" "../fuzz/corpus/$t")
done
