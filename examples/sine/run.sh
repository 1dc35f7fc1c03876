#!/usr/bin/env bash
# Walk-through 2: the TinyML "hello world": learn sin(x) on [0, 2 pi], quantize to int8, run it
# on a Cortex-M4 in QEMU. Usage: examples/sine/run.sh [OUT_DIR] (default examples/sine/out)
source "$(dirname "$0")/../common.sh"
OUT="${1:-$ROOT/examples/sine/out}"
mkdir -p "$OUT"

step "1. Data: 1000 noisy samples of y = sin(x)"
"$TINYC" data sine -o "$OUT/sine.csv" --samples 1000
head -4 "$OUT/sine.csv"

step "2. Train models/sine.json (16-16-1 MLP, Adam; 60/20/20 train/val/test split)"
"$TINYC" train "$ROOT/models/sine.json" --data "$OUT/sine.csv" -o "$OUT/sine.tinyc" \
  --seed 1 -q
"$TINYC" eval "$OUT/sine.tinyc" --data "$OUT/sine.csv" --split test

step "3. Quantize to int8 (TFLite's scheme): 4x smaller weights, integer-only inference"
"$TINYC" compress "$OUT/sine.tinyc" --data "$OUT/sine.csv" --quantize int8 \
  -o "$OUT/sine_int8.tinyc" --report "$OUT/sine_int8.html"

step "4. Emit C++ for the Cortex-M4 as a CMake library (target sine)"
"$TINYC" emit "$OUT/sine_int8.tinyc" --target cortex-m4 --name sine --format cmake -o "$OUT/m4"
ls "$OUT/m4"

step "5. Firmware: sin(x) at eight points, built and run in QEMU (mps2-an386)"
cat >"$OUT/m4/main.c" <<'C'
#include <stdio.h>

#include "sine.h"

int main(void) {
  for (int i = 0; i < 8; ++i) {
    const float x = 0.1f + 0.8f * (float)i;
    float y[SINE_OUTPUT_SIZE];
    if (sine_invoke(&x, y) != 0) return 1;
    printf("sin(%.1f) ~ %.6f\n", (double)x, (double)y[0]);
  }
  return 0;
}
C
firmware_m4 "$OUT/m4" sine | tee "$OUT/qemu.txt"

step "6. The firmware agrees with tinyc predict (the same int8 arithmetic), and learned sin(x)"
awk 'BEGIN { print "x,y"; for (i = 0; i < 8; ++i) printf "%.1f,%.6f\n", 0.1 + 0.8 * i, sin(0.1 + 0.8 * i) }' \
  >"$OUT/query.csv"
"$TINYC" predict "$OUT/sine_int8.tinyc" --data "$OUT/query.csv" | sed 's/^[0-9]*: //' >"$OUT/expected.txt"
sed -n 's/^sin([^)]*) ~ //p' "$OUT/qemu.txt" >"$OUT/actual.txt"
agree "$OUT/expected.txt" "$OUT/actual.txt" 1e-5
cut -d, -f2 "$OUT/query.csv" | tail -n +2 >"$OUT/truth.txt"
agree "$OUT/truth.txt" "$OUT/actual.txt" 0.25
echo "OK: sine int8 runs on a Cortex-M4; report: $OUT/sine_int8.html"
