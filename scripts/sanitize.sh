#!/usr/bin/env bash
# Builds the unit tests with AddressSanitizer + UndefinedBehaviorSanitizer (and LeakSanitizer) in
# a separate build directory (build-asan) and runs `ctest -L unit` there. Any sanitizer report
# fails the run. Known third-party leak reports are suppressed in tests/sanitizers/lsan.supp.
#   BUILD_DIR       build directory (default build-asan)
#   SANITIZE_TESTS  space-separated unit test executables to build and run, or "all" for every
#                   *_unit_tests target in tests/unit/*.cmake. The default is the suites of the
#                   code that parses untrusted input (tokenizer, safetensors/config, audio files,
#                   voice store, service flags) and the hand-written kernels and their worker pool
#                   (nn): an ASan build of all of them takes over 15 minutes
#                   cold on 2 cores (codec, speaker encoder and engine suites are the heavy ones).
# Extra arguments go to ctest, e.g. `scripts/sanitize.sh -R text_unit_tests`.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-asan}"
JOBS="$(nproc)"

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
fi

# The sanitizer settings apply from the build on: gtest_discover_tests runs the test binaries.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=0:strict_init_order=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0}"

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQWEN3TTS_SANITIZE=ON "${launcher[@]}"
SANITIZE_TESTS="${SANITIZE_TESTS:-text_unit_tests tensor_unit_tests audio_file_unit_tests voice_store_unit_tests service_flags_unit_tests nn_unit_tests}"
if [ "$SANITIZE_TESTS" = all ]; then
  mapfile -t targets < <(grep -ho 'NAME [A-Za-z0-9_]*_unit_tests' tests/unit/*.cmake | awk '{print $2}' | sort -u)
else
  read -r -a targets <<<"$SANITIZE_TESTS"
fi
echo "sanitize: building ${targets[*]}"
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${targets[@]}"
# Tests of executables not built here show up as <target>_NOT_BUILT without a label: -L unit skips them.
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" -L unit "$@"
