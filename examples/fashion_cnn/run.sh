#!/usr/bin/env bash
# Walk-through 3: a Fashion-MNIST CNN from the IDX files to int8 firmware on a Cortex-M4 in
# QEMU, classifying ten test images. Short training (one epoch) so it runs in about a minute.
# Usage: examples/fashion_cnn/run.sh [OUT_DIR] (default examples/fashion_cnn/out)
# Data: Debian's dataset-fashion-mnist (scripts/install-deps.sh), or FASHION=/path/to/idx-dir.
source "$(dirname "$0")/../common.sh"
OUT="${1:-$ROOT/examples/fashion_cnn/out}"
FASHION="${FASHION:-/usr/share/datasets/fashion-mnist}"
CASES=10
mkdir -p "$OUT"

step "1. Data: Fashion-MNIST, 60000 training and 10000 test images of 28x28 pixels"
ls "$FASHION"

step "2. Train models/fashion_cnn.json (conv-pool-conv-pool-dense) for one epoch"
"$TINYC" train "$ROOT/models/fashion_cnn.json" --data "$FASHION" -o "$OUT/fashion.tinyc" \
  --epochs 1 --threads 2 -q
"$TINYC" info "$OUT/fashion.tinyc"

step "3. Quantize to int8, with the HTML report (curves, confusion matrix, arena, before/after)"
"$TINYC" compress "$OUT/fashion.tinyc" --data "$FASHION" --quantize int8 --calibration 500 \
  -o "$OUT/fashion_int8.tinyc" --report "$OUT/fashion_int8.html"

step "4. Emit C++ for the Cortex-M4"
"$TINYC" emit "$OUT/fashion_int8.tinyc" --target cortex-m4 --name fashion -o "$OUT/m4"

step "5. Firmware: the first $CASES test images, built and run in QEMU (mps2-an386)"
# The images' raw pixels (IDX: 16-byte header, then 784 bytes per image) and labels (8-byte
# header) as C arrays. od stops reading early, so zcat ends on SIGPIPE: no pipefail here.
(
  set +o pipefail
  echo "#include <stdint.h>"
  echo "const uint8_t kImages[$CASES][784] = {"
  zcat -f "$FASHION"/t10k-images-idx3-ubyte* | od -An -v -tu1 -w784 -j16 -N $((CASES * 784)) |
    sed -E 's/^ +//; s/ +/, /g; s/^/  {/; s/$/},/'
  echo "};"
  echo "const uint8_t kLabels[$CASES] = {"
  zcat -f "$FASHION"/t10k-labels-idx1-ubyte* | od -An -v -tu1 -j8 -N $CASES |
    sed -E 's/^ +//; s/ +/, /g; s/$/,/'
  echo "};"
) >"$OUT/m4/images.c"
cat >"$OUT/m4/main.c" <<'C'
#include <stdint.h>
#include <stdio.h>

#include "fashion.h"

extern const uint8_t kImages[][784];
extern const uint8_t kLabels[];

int main(void) {
  static float image[FASHION_INPUT_SIZE];
  static float probs[FASHION_OUTPUT_SIZE];
  int correct = 0;
  for (int c = 0; c < 10; ++c) {
    for (int i = 0; i < FASHION_INPUT_SIZE; ++i) image[i] = (float)kImages[c][i];  // raw pixels
    if (fashion_invoke(image, probs) != 0) return 1;
    int best = 0;
    for (int k = 1; k < FASHION_OUTPUT_SIZE; ++k) {
      if (probs[k] > probs[best]) best = k;
    }
    correct += best == kLabels[c];
    // The line `tinyc predict` prints, then the true class.
    printf("%d: class %d %s (p=%.4f)\n", c, best, fashion_labels[best], (double)probs[best]);
    printf("   true: %s\n", fashion_labels[kLabels[c]]);
  }
  printf("%d of 10 correct\n", correct);
  return 0;
}
C
# firmware_m4 builds main.c and fashion.cpp; images.c joins them through main.c's includes.
printf '#include "images.c"\n' >>"$OUT/m4/main.c"
firmware_m4 "$OUT/m4" fashion | tee "$OUT/qemu.txt"

step "6. The firmware prints exactly what tinyc predict prints (the same int8 arithmetic)"
"$TINYC" predict "$OUT/fashion_int8.tinyc" --data "$FASHION" --limit $CASES >"$OUT/expected.txt"
grep '^[0-9]*: class ' "$OUT/qemu.txt" >"$OUT/actual.txt"
diff "$OUT/expected.txt" "$OUT/actual.txt" && cat "$OUT/expected.txt"
echo "OK: the Fashion-MNIST CNN classifies on a Cortex-M4; report: $OUT/fashion_int8.html"
