#!/usr/bin/env bash
# Installs, builds and runs every test (CTest: unit, layer, end-to-end, firmware suites), then
# the same suites again under AddressSanitizer + UndefinedBehaviorSanitizer and a bounded run of
# every fuzz target (SECURITY.md): what CI runs.
# TINYC_SANITIZE_SUITE=0 skips the sanitizer suite and fuzzing (a quick local run);
# TINYC_FUZZ_SECONDS (default 30) sets the fuzzing time per target, 0 skips fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
stamp() { echo "test.sh: $1 after $SECONDS s"; }
scripts/install-deps.sh
scripts/build.sh -DTINYC_BUILD_TESTS=ON "${launcher[@]}"
stamp "Release build"
ctest --test-dir build --output-on-failure -j"$jobs"
stamp "Release suite"
[ "${TINYC_SANITIZE_SUITE:-1}" = 1 ] || exit 0

# Sanitizer suite: the whole test suite again, built with clang under ASan + UBSan
# (-DTINYC_FUZZ=ON implies -DTINYC_SANITIZE=ON) in build-fuzz/, the directory the fuzz targets
# share, so the library is compiled once for both. Tests labelled "no_sanitize"
# (tests/CMakeLists.txt, each with its reason) are skipped there. The reference models the emit
# tests use are the ones the Release suite just trained (TINYC_TEST_TRAINER): the sanitizers
# guard the code that reads, runs and emits them, not the speed of training them again.
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
  -DTINYC_FUZZ=ON -DTINYC_BUILD_TESTS=ON "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j"$jobs"
stamp "sanitizer build"
TINYC_TEST_TRAINER="$PWD/build/tinyc" ASAN_OPTIONS=detect_leaks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-fuzz --output-on-failure -j"$jobs" -LE no_sanitize
stamp "sanitizer suite"

seconds=${TINYC_FUZZ_SECONDS:-30}
if [ "$seconds" -gt 0 ]; then
  scripts/fuzz.sh "$seconds"
  stamp "fuzzing"
fi
