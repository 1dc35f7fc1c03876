# Shared by the example scripts: where tinyc and the board support are, and how to run an
# emitted model on a Cortex-M4 in QEMU. Source it; it sets TINYC, OUT, BOARD and M4_FLAGS.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The tinyc to use: $TINYC, else the one built by scripts/build.sh, else the installed one.
if [[ -z "${TINYC:-}" ]]; then
  if [[ -x "$ROOT/build/tinyc" ]]; then TINYC="$ROOT/build/tinyc"; else TINYC="$(command -v tinyc)"; fi
fi
BOARD="$ROOT/cmake/firmware"
M4_FLAGS="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"

step() { printf '\n== %s\n' "$*"; }

# firmware_m4 DIR NAME: builds DIR/NAME.cpp (emitted) with DIR/main.c for the Cortex-M4 board
# of QEMU (mps2-an386) and runs it; its printf output arrives through semihosting.
firmware_m4() {
  local dir="$1" name="$2"
  arm-none-eabi-g++ $M4_FLAGS -std=c++17 -O2 -Wall -Wextra -Werror -fno-exceptions -fno-rtti \
    -ffunction-sections -fdata-sections -c "$dir/$name.cpp" -o "$dir/$name.o"
  arm-none-eabi-gcc $M4_FLAGS -std=c11 -O2 -Wall -Wextra -Werror -I"$dir" -c "$dir/main.c" -o "$dir/main.o"
  arm-none-eabi-gcc $M4_FLAGS -O2 --specs=rdimon.specs -nostartfiles -L"$BOARD" -Tmps2.ld \
    "$BOARD/startup.c" "$dir/main.o" "$dir/$name.o" -lm -Wl,--gc-sections -o "$dir/firmware.elf"
  arm-none-eabi-size "$dir/firmware.elf"
  timeout 120 qemu-system-arm -M mps2-an386 -nographic -monitor none \
    -semihosting-config enable=on,target=native -kernel "$dir/firmware.elf" </dev/null
}

# agree EXPECTED ACTUAL TOLERANCE: two files of numbers, one per line, equal within TOLERANCE
# (relative to max(1, |expected|)); prints the first disagreement.
agree() {
  paste "$1" "$2" | awk -v tol="$3" '
    { d = $1 - $2; if (d < 0) d = -d; m = $1 < 0 ? -$1 : $1; if (m < 1) m = 1;
      if (d > tol * m) { printf "line %d: expected %s, got %s\n", NR, $1, $2; bad = 1; exit } }
    END { if (NR == 0) { print "no numbers"; exit 1 } exit bad }'
}
