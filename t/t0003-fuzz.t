#!/bin/bash
# The policy loader survives arbitrary input: build the libFuzzer target with ASan and UBSan and
# run it over a copy of the seed corpus (t/fuzz/corpus) for FUZZ_SECONDS (default 20).
. "$(dirname "$0")/lib/tap.sh"

: "${CLANG:=}"
[ -n "$CLANG" ] || skip_all "clang not found (configure looks for it; apt-get install clang)"
command -v pkg-config >/dev/null || skip_all "pkg-config not found"
yaml_flags=$(pkg-config --cflags --libs yaml-0.1 mount) || skip_all "libyaml or libmount not found by pkg-config"

seconds=${FUZZ_SECONDS:-20}
out=$top_builddir/t/fuzz
bin=$out/policy-fuzz
src=$top_srcdir/common # the policy module and the modules below it
mkdir -p "$out" || bail_out "cannot create $out"

work=$(mktemp -d "${TMPDIR:-/tmp}/policy-fuzz.XXXXXX") || bail_out "mktemp failed"
trap 'rm -rf "$work"' EXIT

# shellcheck disable=SC2086 # yaml_flags holds several words
"$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$top_builddir" -I"$src" \
    "$top_srcdir/t/fuzz/policy-fuzz.c" \
    "$src"/util/*.c "$src"/fs/*.c "$src"/policy/*.c \
    $yaml_flags -o "$bin" 2>"$work/build.log"
rc=$?
ok $rc "the fuzzer builds with $CLANG"
if [ $rc -ne 0 ]; then
    sed 's/^/# /' "$work/build.log"
    done_testing
    exit
fi

# Fuzz a copy: libFuzzer adds what it finds to the first corpus directory.
seeds() { (cd "$top_srcdir/t/fuzz/corpus" && ls -l && cat -- *) | cksum; }
before=$(seeds)
mkdir "$work/corpus" && cp "$top_srcdir"/t/fuzz/corpus/* "$work/corpus/"
(cd "$work" && "$bin" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
    -print_final_stats=1 corpus) >"$work/fuzz.log" 2>&1
rc=$?
ok $rc "${seconds}s of fuzzing found no crash, leak, hang or undefined behaviour"
if [ $rc -ne 0 ]; then
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written|artifact_prefix' "$work/fuzz.log" |
        head -20 | sed 's/^/# /'
    for crash in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
        [ -e "$crash" ] || continue
        mkdir -p "$out/artifacts" && cp "$crash" "$out/artifacts/"
        diag "kept $(basename "$crash") in $out/artifacts/"
    done
fi
grep -E '^stat::number_of_executed_units' "$work/fuzz.log" | sed 's/^/# /'

is "$(seeds)" "$before" "the seed corpus in the source tree is only read"
done_testing
