#!/usr/bin/env bash
# CI check of the install rules and the .deb (CTest "install:package"): `cmake --install` into a
# temporary prefix, then the CPack .deb inspected with dpkg-deb, unpacked with dpkg -x and run.
# Usage: tests/install/check_install.sh BUILD_DIR (a configured build where tinyc is built)
set -euo pipefail
build="$(cd "$1" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
version_re='^tinyc [0-9]+\.[0-9]+\.[0-9]+ \(git ([0-9a-f]{12}(-dirty)?|unknown)\)$'
fail() { echo "check_install: $*" >&2; exit 1; }

# 1. cmake --install into a clean prefix.
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
p="$tmp/prefix"
"$p/bin/tinyc" --version | grep -Eq "$version_re" || fail "bad --version: $("$p/bin/tinyc" --version)"
"$p/bin/tinyc" --help | grep -q report || fail "--help does not list report"
man="$p/share/man/man1/tinyc.1.gz"
[[ -f "$man" ]] || fail "no man page at $man"
# The man page renders without groff warnings and documents every command.
warnings="$(zcat "$man" | groff -man -Tutf8 -ww -z 2>&1)"
[[ -z "$warnings" ]] || fail "man page warnings: $warnings"
page="$(zcat "$man" | groff -man -Tascii 2>/dev/null | sed 's/.\x08//g')"
for cmd in data train eval predict info compress emit report import targets; do
  grep -q "^ *$cmd " <<<"$page" || fail "man page does not document '$cmd'"
done
# Bash completion: completes subcommands, options and --format values (with stand-ins for the
# bash-completion helpers, so the check does not need that package).
comp="$p/share/bash-completion/completions/tinyc"
[[ -f "$comp" ]] || fail "no bash completion at $comp"
complete_words() {
  bash -c '
    _init_completion() { words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; cur=${COMP_WORDS[COMP_CWORD]};
                         prev=${COMP_WORDS[COMP_CWORD-1]}; }
    _filedir() { COMPREPLY=(FILES); }
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _tinyc; echo "${COMPREPLY[*]}"' _ "$comp" "$@"
}
[[ "$(complete_words tinyc em)" == "emit" ]] || fail "completion of 'tinyc em': $(complete_words tinyc em)"
[[ "$(complete_words tinyc emit m.tinyc --format a)" == "arduino" ]] || fail "completion of --format"
grep -qw -- "--report" <<<"$(complete_words tinyc train --r)" || fail "completion of train options"

# The git hash is "unknown" outside a git checkout (a source tarball), and never a parent's.
src="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$tmp/tarball"
cmake -DSOURCE_DIR="$tmp/tarball" -DOUT="$tmp/git.h" -P "$src/cmake/GitHash.cmake"
grep -q 'TINYC_GIT_HASH "unknown"' "$tmp/git.h" || fail "outside git: $(cat "$tmp/git.h")"

# 2. The .deb: metadata, contents, and the unpacked binary runs.
(cd "$tmp" && cpack --config "$build/CPackConfig.cmake" -B "$tmp/pkg" >/dev/null)
deb="$(ls "$tmp"/pkg/*.deb)"
info="$(dpkg-deb --info "$deb")"
grep -q "Package: tinyc" <<<"$info" || fail "no Package field: $info"
grep -q "Depends:.*libc6" <<<"$info" || fail "no shared-library dependencies: $info"
contents="$(dpkg-deb --contents "$deb")"
for f in ./usr/bin/tinyc ./usr/share/man/man1/tinyc.1.gz ./usr/share/bash-completion/completions/tinyc; do
  grep -q " $f\$" <<<"$contents" || fail "$f missing from the .deb: $contents"
done
dpkg -x "$deb" "$tmp/x"
"$tmp/x/usr/bin/tinyc" --version | grep -Eq "$version_re" || fail "the packaged tinyc does not run"
echo "install and .deb OK: $(basename "$deb"), $("$tmp/x/usr/bin/tinyc" --version)"
