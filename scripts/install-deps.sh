#!/usr/bin/env bash
# Installs the Debian 12 packages tinyc needs to build and test. Safe to re-run.
set -euo pipefail
packages=(
  cmake g++ make pkg-config
  libcli11-dev nlohmann-json3-dev libflatbuffers-dev flatbuffers-compiler libfmt-dev
  libeigen3-dev zlib1g-dev catch2
  # data the tests and examples read: Fashion-MNIST (IDX) and scikit-learn's raw digits.csv.gz
  dataset-fashion-mnist python3-sklearn
  # scripts (firmware demo of the Quick start, benchmarks)
  python3
  # firmware tests: cross-compile emitted code for Cortex-M and run it in QEMU (semihosting)
  gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm
  # ... and for rv32imc (riscv32 target) in qemu-system-riscv32 -M virt, with picolibc
  gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc
  # report test (headless browser), packaging test (.deb via CPack, man page check), git hash
  chromium dpkg-dev groff-base git
  # fuzzing (scripts/fuzz.sh): clang with libFuzzer and its sanitizer runtimes
  clang-14 libclang-rt-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
