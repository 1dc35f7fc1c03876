#!/usr/bin/env bash
# Installs, builds and runs every test (CTest: unit, layer, end-to-end suites).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DTINYC_BUILD_TESTS=ON
ctest --test-dir build --output-on-failure -j"$(nproc)"
