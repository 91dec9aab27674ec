#!/bin/bash
# bench/ is not run by the tests (it measures, it does not pass or fail), but its programs must
# keep building against the core: each bench/src program compiles and links against this build's
# libcommon, as bench/lib.sh's bench_compile does. Its scripts must at least parse (bash -n).

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"

lib=$top_builddir/.libs/libcommon.a
[ -f "$lib" ] || skip_all "libcommon is not built ($lib)"
libs=$(pkg-config --libs mount yaml-0.1) || skip_all "libmount or libyaml not found by pkg-config"
out=$(mktemp -d) || bail_out "mktemp failed"
trap 'rm -rf "$out"' EXIT

for src in "$top_srcdir"/bench/src/*.c; do
    name=$(basename "$src" .c)
    case $name in bench | spank-*) continue ;; esac # a library, and plugins (below)
    # shellcheck disable=SC2086 # libs holds several words
    log=$(${CC:-cc} -std=gnu11 -O0 -Wall -Wextra -Wno-unused-parameter -Werror \
        -I"$top_builddir" -I"$top_srcdir/common" -I"$top_srcdir/bench/src" \
        -o "$out/$name" "$src" "$top_srcdir/bench/src/bench.c" "$lib" $libs 2>&1)
    ok $? "bench/src/$name.c builds against the core"
    [ -z "$log" ] || diag "$log"
done
# The SPANK plugins the benchmarks put beside (or instead of) isolation.so.
for src in "$top_srcdir"/bench/src/spank-*.c; do
    name=$(basename "$src" .c)
    log=$(${CC:-cc} -O0 -Wall -Werror -shared -fPIC -o "$out/$name.so" "$src" -ldl 2>&1)
    ok $? "bench/src/$name.c builds as a SPANK plugin"
    [ -z "$log" ] || diag "$log"
done
for script in "$top_srcdir"/bench/*; do
    [ -f "$script" ] || continue
    case $script in *.md) continue ;; esac
    log=$(bash -n "$script" 2>&1)
    ok $? "bench/${script##*/} parses"
    [ -z "$log" ] || diag "$log"
done
done_testing
