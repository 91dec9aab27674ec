#!/bin/bash
# The house rules (doc/ARCHITECTURE.md): file and function sizes, and that common/'s modules
# depend one way through their doors. scripts/house-check names every breach.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"

out=$("$top_srcdir/scripts/house-check" "$top_srcdir" 2>&1)
rc=$?
is "$out" "" "no breach of the house rules"
is "$rc" 0 "house-check exits 0"

# The check itself must catch what it is for: a scratch tree with one breach of each kind.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/common/util" "$tmp/common/fs" "$tmp/common/store" "$tmp/spank"
{
    echo '#include "fs/fs.h"'
    echo 'static int f(void)'
    echo '{'
    for _ in $(seq 61); do echo '    ;'; done
    echo '}'
} >"$tmp/common/util/bad.c"
echo '#include "store/store_int.h"' >"$tmp/spank/front.c"
echo '#include "fs/fs_int.h"' >"$tmp/spank/front2.c"
seq 501 >"$tmp/common/store/big.c"
out=$("$top_srcdir/scripts/house-check" "$tmp" 2>&1)
like "$out" "util/bad.c:2: function of 63 lines" "a long function is named"
like "$out" "module util includes fs/fs.h" "a dependency upwards is named"
like "$out" "front.c: includes store/store_int.h: only a module's door" "an internal header outside its module is named"
like "$out" "front2.c: includes fs/fs_int.h" "every internal header counts"
like "$out" "store/big.c: 501 lines" "a long file is named"
test_fails "house-check fails on breaches" sh -c '"$0" "$1" >/dev/null 2>&1' "$top_srcdir/scripts/house-check" "$tmp"

done_testing
