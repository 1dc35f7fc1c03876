#!/usr/bin/env bash
# Installs, builds and runs every test (CTest: unit, layer, end-to-end, firmware suites): what
# CI runs. With TINYC_SANITIZE_SUITE=1 it then runs the same suites under AddressSanitizer +
# UndefinedBehaviorSanitizer and a bounded run of every fuzz target (SECURITY.md);
# TINYC_FUZZ_SECONDS (default 30) sets the fuzzing time per target, 0 skips fuzzing.
# The sanitizer suite is opt-in until its run time on a 2-core CI machine is measured
# (issue 7): with it, one more full build under clang.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
scripts/install-deps.sh
scripts/build.sh -DTINYC_BUILD_TESTS=ON "${launcher[@]}"
ctest --test-dir build --output-on-failure -j"$jobs"
[ "${TINYC_SANITIZE_SUITE:-0}" = 1 ] || exit 0

# Sanitizer suite: the whole test suite again, built with clang under ASan + UBSan
# (-DTINYC_FUZZ=ON implies -DTINYC_SANITIZE=ON) in build-fuzz/, the directory the fuzz targets
# share, so the library is compiled once for both. Tests labelled "no_sanitize"
# (tests/CMakeLists.txt) are skipped there.
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
  -DTINYC_FUZZ=ON -DTINYC_BUILD_TESTS=ON "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j"$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-fuzz --output-on-failure -j"$jobs" -LE no_sanitize

seconds=${TINYC_FUZZ_SECONDS:-30}
if [ "$seconds" -gt 0 ]; then
  scripts/fuzz.sh "$seconds"
fi
