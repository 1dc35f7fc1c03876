#!/usr/bin/env bash
# The main job end to end on the embedded hello-world: install, build, generate the sine data
# set, train models/sine.json and print its test metrics, quantize it to int8, emit C++ for a
# Cortex-M4, build it and run it in QEMU next to tinyc's reference executor, with flash and RAM.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
mkdir -p out
build/tinyc data sine -o out/sine.csv
build/tinyc train models/sine.json --data out/sine.csv -o out/sine.tinyc
build/tinyc compress out/sine.tinyc --data out/sine.csv --quantize int8 -o out/sine_int8.tinyc
build/tinyc info out/sine_int8.tinyc
build/tinyc emit out/sine_int8.tinyc --target cortex-m4 -o out/sine_m4 --name sine
scripts/firmware_demo.py out/sine_int8.tinyc --data out/sine.csv --target cortex-m4
