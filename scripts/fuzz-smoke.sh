#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang in build-fuzz and runs each one for a short
# while on its seed corpus (tests/fuzz/corpus/<target>); fails on any crash, leak, sanitizer report
# or timeout. Longer runs: see tests/fuzz/README.md.
#   FUZZ_SECONDS  seconds per target (default 20)
#   BUILD_DIR     build directory (default build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-fuzz}"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
JOBS="$(nproc)"

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz-smoke: clang++ not found (scripts/apt-packages.txt lists clang and libclang-rt-14-dev)" >&2
  exit 1
fi
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
fi
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DQWEN3TTS_FUZZ=ON -DQWEN3TTS_BUILD_TESTS=OFF "${launcher[@]}"
# Only the fuzzers and the libraries they link, not the services.
cmake --build "$BUILD_DIR" -j "$JOBS" --target tests/fuzz/all

export OMP_NUM_THREADS=1
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for exe in "$BUILD_DIR"/tests/fuzz/fuzz_*; do
  [ -f "$exe" ] && [ -x "$exe" ] || continue
  name="$(basename "$exe")"
  seeds="tests/fuzz/corpus/$name"
  mkdir -p "$work/$name/corpus" "$work/$name/artifacts"
  dirs=("$work/$name/corpus")  # new inputs go here, never into the committed seeds
  [ -d "$seeds" ] && dirs+=("$seeds")
  echo "fuzz-smoke: $name for ${FUZZ_SECONDS}s"
  if ! "$exe" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 \
       -artifact_prefix="$work/$name/artifacts/" "${dirs[@]}" >"$work/$name/log" 2>&1; then
    echo "fuzz-smoke: $name FAILED; last lines of its log:" >&2
    tail -n 60 "$work/$name/log" >&2
    for a in "$work/$name/artifacts"/*; do
      [ -f "$a" ] && { echo "crash input $(basename "$a") (base64):" >&2; base64 -w0 "$a" >&2; echo >&2; }
    done
    failed+=("$name")
  else
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|cov: ' "$work/$name/log" | tail -n 3
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-smoke: failures: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz-smoke: all fuzzers clean"
