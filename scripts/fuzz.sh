#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, ASan + UBSan, into build-fuzz/) and runs each for
# SECONDS (default 60) from its seed corpus fuzz/corpus/<name>/. New coverage goes to
# build-fuzz/corpus/<name>/. A finding stops the run with exit 1 and leaves the input in
# build-fuzz/findings/<name>/: fix it and add the input to tests/corpus/ (fuzz/README.md).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (targets: csv idx spec model tflite)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(csv idx spec model tflite)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
  -DTINYC_FUZZ=ON "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}"
status=0
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/findings/$t"
  log="build-fuzz/fuzz_$t.log"
  # -rss_limit_mb above tinyc's own memory limit (256 MB in the targets): tinyc must refuse
  # big inputs itself. -timeout catches hangs.
  if build-fuzz/fuzz/fuzz_"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
      -artifact_prefix="build-fuzz/findings/$t/" -print_final_stats=1 \
      "build-fuzz/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz_$t: ${seconds}s, $runs executions, no finding"
  else
    echo "fuzz_$t: FINDING (log $log, input in build-fuzz/findings/$t/)"
    tail -n 40 "$log"
    status=1
  fi
done
exit $status
