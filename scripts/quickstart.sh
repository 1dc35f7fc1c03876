#!/usr/bin/env bash
# The main job end to end on the embedded hello-world: install, build, generate the sine data
# set, train models/sine.json and print its test metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
mkdir -p out
build/tinyc data sine -o out/sine.csv
build/tinyc train models/sine.json --data out/sine.csv -o out/sine.tinyc
build/tinyc info out/sine.tinyc
