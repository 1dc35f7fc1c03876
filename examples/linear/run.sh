#!/usr/bin/env bash
# Walk-through 1: the single neuron y = 2x - 1, from data to a Cortex-M4 in QEMU.
# Usage: examples/linear/run.sh [OUT_DIR]   (default: examples/linear/out)
source "$(dirname "$0")/../common.sh"
OUT="${1:-$ROOT/examples/linear/out}"
mkdir -p "$OUT"

step "1. Data: six points of y = 2x - 1"
"$TINYC" data linear -o "$OUT/linear.csv"
cat "$OUT/linear.csv"

step "2. Train one dense unit (models/linear.json: SGD, 500 epochs), with an HTML report"
"$TINYC" train "$ROOT/models/linear.json" --data "$OUT/linear.csv" -o "$OUT/linear.tinyc" \
  --report "$OUT/linear.html"
"$TINYC" info "$OUT/linear.tinyc"

step "3. Ask the model about x = 10 (a value it never saw): expect 19"
printf 'x,y\n10,19\n-3,-7\n' >"$OUT/query.csv"
# predict prints "row: outputs"; keep the numbers.
"$TINYC" predict "$OUT/linear.tinyc" --data "$OUT/query.csv" | tee /dev/stderr |
  sed 's/^[0-9]*: //' >"$OUT/expected.txt"
awk 'NR == 1 { d = $1 - 19; if (d < 0) d = -d;
               if (d > 0.05) { print "the neuron did not learn 2x - 1: f(10) = " $1; exit 1 } }' \
  "$OUT/expected.txt"

step "4. Emit C++ for the Cortex-M4 (float: the M4 has an FPU)"
"$TINYC" emit "$OUT/linear.tinyc" --target cortex-m4 --name linear -o "$OUT/m4"

step "5. A firmware main that calls linear_invoke, built and run in QEMU (mps2-an386)"
cat >"$OUT/m4/main.c" <<'C'
#include <stdio.h>

#include "linear.h"

int main(void) {
  const float xs[] = {10.0f, -3.0f};
  for (unsigned i = 0; i < sizeof xs / sizeof xs[0]; ++i) {
    float y[LINEAR_OUTPUT_SIZE];
    if (linear_invoke(&xs[i], y) != 0) return 1;
    printf("f(%g) = %.6f\n", (double)xs[i], (double)y[0]);
  }
  return 0;
}
C
firmware_m4 "$OUT/m4" linear | tee "$OUT/qemu.txt"

step "6. The firmware agrees with tinyc predict"
sed -n 's/^f([^)]*) = //p' "$OUT/qemu.txt" >"$OUT/actual.txt"
agree "$OUT/expected.txt" "$OUT/actual.txt" 1e-5
echo "OK: y = 2x - 1 runs on a Cortex-M4; report: $OUT/linear.html"
