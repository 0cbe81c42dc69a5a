#!/usr/bin/env bash
# One command for the performance numbers: builds the tools, creates random-weight models (cached),
# measures memory bandwidth, per-frame cost per shape and precision, time to first audio (in-process
# `serve` and the split talker/vocoder/gateway deployment) and a concurrency sweep per precision; prints a table
# and writes OUT/results.json, OUT/summary.md and OUT/concurrency.png.
#
#   bench/run.sh [--quick] [--shapes 0.6b,1.7b:float32] [--precisions float32,bfloat16,int8,int4,int4-g128] [--threads 2]
#                [--out bench/results] [--build-dir build] [--no-build] [harness options...]
#
# --quick: tiny model, short runs (about 2-3 minutes). Every other option is passed to bench/harness.py
# (see `python3 bench/harness.py --help`: --frames, --sweep-seconds, --serving-shapes, ...).
# Assumes scripts/setup.sh ran (libtorch, gRPC, python3-matplotlib for the plot).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Debian's interpreter (python3-matplotlib lives there), not whatever python3 comes first in PATH.
PYTHON="${PYTHON:-/usr/bin/python3}"
[[ -x "$PYTHON" ]] || PYTHON=python3
BUILD_DIR="$ROOT/build"
export QWEN3TTS_BENCH_COMMAND="bench/run.sh $*"
BUILD=1
PASS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) BUILD_DIR="$(cd "$2" && pwd)"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exec "$PYTHON" "$ROOT/bench/harness.py" --build-dir "$BUILD_DIR" --help ;;
    *) PASS+=("$1"); shift ;;
  esac
done

TARGETS=(qwen3tts-bench-bandwidth qwen3tts-bench-talker qwen3tts-bench-codec-decoder qwen3tts-bench-precision qwen3-tts
         qwen3-tts-talker qwen3-tts-vocoder qwen3-tts-gateway qwen3-tts-load)
if [[ $BUILD == 1 ]]; then
  if [[ ! -f "$BUILD_DIR/build.ninja" && ! -f "$BUILD_DIR/Makefile" ]]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
  fi
  echo "building: ${TARGETS[*]}" >&2
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${TARGETS[@]}" >&2
fi

# Servers the harness starts are recorded here; whatever way this script ends, they are stopped.
PIDS_FILE="$(mktemp /tmp/qwen3tts-bench-pids.XXXXXX)"
HARNESS_PID=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n "$HARNESS_PID" ]] && kill -0 "$HARNESS_PID" 2>/dev/null; then
    kill -TERM "$HARNESS_PID" 2>/dev/null || true
    wait "$HARNESS_PID" 2>/dev/null || true
  fi
  while read -r pid; do
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  done < "$PIDS_FILE"
  rm -f "$PIDS_FILE"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cd "$ROOT"
QWEN3TTS_BENCH_PIDS="$PIDS_FILE" "$PYTHON" "$ROOT/bench/harness.py" --build-dir "$BUILD_DIR" "${PASS[@]}" &
HARNESS_PID=$!
wait "$HARNESS_PID"
