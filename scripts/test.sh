#!/usr/bin/env bash
# Runs the whole test suite (unit, golden, integration) against the build made by scripts/setup.sh.
# Extra arguments go to ctest, e.g. `scripts/test.sh -L golden` or `scripts/test.sh -R tokenizer`.
# The golden vectors are read from $QWEN3TTS_GOLDEN_DIR (default: ../shared/golden beside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
if [ ! -f "$BUILD_DIR/CTestTestfile.cmake" ]; then
  echo "test: no build in $BUILD_DIR; run scripts/setup.sh first" >&2
  exit 1
fi
# Rebuild anything stale so the tests never run against old binaries.
cmake --build "$BUILD_DIR" -j "$(nproc)"
# One libtorch intra-op thread per test process: ctest already runs tests in parallel.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"
