# shellcheck shell=bash
# Shared by the benchmark scripts in bench/ (sourced, bash): where things are, building the
# plugin and the benchmark programs, the policy every benchmark runs, and statistics of
# samples timed in shell.
#
# Knobs: BENCH_BUILD (the build directory; default /var/lib/spank-isolation-bench/build-N, one
# per source tree; not under /tmp, which jobs see privately), BENCH_SCRATCH (parent of the
# build and of each run's scratch directory, default /var/lib/spank-isolation-bench),
# BENCH_QUICK (set: fewer runs, for trying the scripts; the numbers are then not the ones to
# publish), BENCH_REV (the source's revision for the tables, when the tree is a copy without git:
# bench/run --suite).
set -uo pipefail

bench_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${BENCH_SCRATCH:=/var/lib/spank-isolation-bench}"
: "${BENCH_BUILD:=$BENCH_SCRATCH/build-$(printf '%s' "$bench_top" | cksum | cut -d' ' -f1)}"
BENCH_BIN=$BENCH_BUILD/bench

bench_die() {
    echo "bench: $*" >&2
    exit 2
}

bench_need_root() {
    [ "$(id -u)" = 0 ] || bench_die "needs root (mount namespaces, a private Slurm)"
}

# bench_locked CMD...: CMD under the build directory's lock (two runs from one tree build in
# turn); a bench_die in CMD ends the caller too.
bench_locked() {
    (flock 9 || bench_die "cannot lock $BENCH_BUILD" && "$@") 9>>"$BENCH_BUILD/.bench.lock" ||
        exit 2
}

# bench_build: configure (bootstrapping autotools in a fresh clone) and make, out of tree;
# once per bench/run (BENCH_BUILT is then set).
bench_build() {
    [ -z "${BENCH_BUILT:-}" ] || return 0
    (umask 022 && mkdir -p "$BENCH_SCRATCH" "$BENCH_BUILD" "$BENCH_BIN") ||
        bench_die "cannot create $BENCH_BUILD"
    bench_locked build_locked
    export BENCH_BUILT=1
}

build_locked() {
    local log=$BENCH_BUILD/bench-build.log
    : >"$log"
    if [ ! -x "$bench_top/configure" ]; then
        (cd "$bench_top" && autoreconf -fi) >>"$log" 2>&1 || bench_die "autoreconf failed: see $log"
    fi
    if [ -f "$BENCH_BUILD/Makefile" ] &&
        ! grep -qxF "abs_top_srcdir = $bench_top" "$BENCH_BUILD/Makefile"; then
        bench_die "$BENCH_BUILD is the build of another source tree; set BENCH_BUILD"
    fi
    if [ ! -f "$BENCH_BUILD/Makefile" ]; then
        (cd "$BENCH_BUILD" && "$bench_top/configure" -q) >>"$log" 2>&1 ||
            bench_die "configure failed: see $log"
    fi
    make -C "$BENCH_BUILD" -j"$(nproc)" -s >>"$log" 2>&1 || bench_die "make failed: see $log"
}

# bench_compile NAME [EXTRA...]: bench/src/NAME.c with bench.c, against the plugin's libcommon,
# into $BENCH_BIN/NAME, when a source is newer than it.
bench_compile() {
    (umask 022 && mkdir -p "$BENCH_BIN") || bench_die "cannot create $BENCH_BIN"
    bench_locked compile_locked "$@"
}

compile_locked() {
    local name=$1 out=$BENCH_BIN/$1 src=$bench_top/bench/src
    shift
    if [ -x "$out" ] && [ "$out" -nt "$src/$name.c" ] && [ "$out" -nt "$src/bench.c" ] &&
        [ "$out" -nt "$src/bench.h" ] && [ "$out" -nt "$BENCH_BUILD/.libs/libcommon.a" ]; then
        return 0
    fi
    # shellcheck disable=SC2046 # pkg-config prints several words
    ${CC:-cc} -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter \
        -I"$BENCH_BUILD" -I"$bench_top/common" -I"$src" \
        -o "$out" "$src/$name.c" "$src/bench.c" "$BENCH_BUILD/.libs/libcommon.a" \
        $(pkg-config --libs mount yaml-0.1) "$@" || bench_die "cannot compile bench/src/$name.c"
}

# bench_scratch: a fresh root-only directory for this run, removed at exit (after unmounting
# whatever is left under it).
bench_scratch() {
    (umask 022 && mkdir -p "$BENCH_SCRATCH") || bench_die "cannot create $BENCH_SCRATCH"
    BENCH_DIR=$(mktemp -d "$BENCH_SCRATCH/run.XXXXXX") || bench_die "cannot create a scratch dir"
    trap 'bench_scratch_remove' EXIT
}

bench_scratch_remove() {
    local mp
    [ -n "${BENCH_DIR:-}" ] && [ -d "$BENCH_DIR" ] || return 0
    awk -v d="$BENCH_DIR" 'index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        while read -r mp; do umount -l "$mp"; done
    rm -rf --one-file-system "$BENCH_DIR"
}

# bench_example_policy DIR: the example policy (etc/isolation.yaml.example) with its paths moved
# under DIR (instance base DIR/isolation, /ccc -> DIR/ccc, /run/mount/private -> DIR/private)
# and its groups A and B named isobA and isobB, on stdout. The profile's operations are the
# example's, one for one. BENCH_SHM_SIZE (e.g. 2G) replaces the example's "size: 50%" of
# /dev/shm, to see what sizing from the job's memory costs each step.
bench_example_policy() {
    local d=$1
    sed -e "s|^instance_base: .*|instance_base: $d/isolation|" \
        -e "s|size: 50%|size: ${BENCH_SHM_SIZE:-50%}|" \
        -e "s|/run/mount/private|$d/private|g" -e "s|/ccc|$d/ccc|g" \
        -e 's/groups: "A"/groups: "isobA"/' -e 's/groups: "B"/groups: "isobB"/' \
        "$bench_top/etc/isolation.yaml.example"
}

# bench_policy_dir DIR [POLICY_TEXT]: DIR/policy.yaml (the rebased example by default) and the
# host directories it names.
bench_policy_dir() {
    local d=$1
    (umask 022 && mkdir -p "$d/ccc" "$d/private/A" "$d/private/B") || bench_die "cannot create $d"
    if [ $# -ge 2 ]; then printf '%s\n' "$2"; else bench_example_policy "$d"; fi >"$d/policy.yaml"
}

# --- statistics of shell-timed samples (one number per line, in microseconds) ---------------

# bench_median <FILE: the median (mean of the middle two for an even count).
bench_median() {
    sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0;
        else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bench_ms US: microseconds as milliseconds with two decimals.
bench_ms() { awk -v u="$1" 'BEGIN { printf "%.2f ms", u / 1000 }'; }

# bench_ratio A B: A/B with three decimals.
bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3fx", b ? a / b : 0 }'; }

# bench_machine: the machine the numbers come from, as markdown.
bench_machine() {
    local cpu
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
    echo "- CPU: ${cpu:-unknown} ($(nproc) online CPUs)"
    echo "- memory: $(free -h | awk '/^Mem:/ { print $2 }') ($(free -h | awk '/^Swap:/ { print $2 }') swap)"
    echo "- kernel: $(uname -r); $(. /etc/os-release && echo "$PRETTY_NAME") (Debian $(cat /etc/debian_version 2>/dev/null))"
    echo "- Slurm: $(dpkg-query -W -f='${Version}' slurmd 2>/dev/null || srun --version)"
    echo "- disk under $BENCH_SCRATCH: $(findmnt -n -o FSTYPE,SOURCE -T "$BENCH_SCRATCH" | tr -s ' ')"
    echo "- spank-isolation: ${BENCH_REV:-$(git -C "$bench_top" describe --always --dirty 2>/dev/null || echo unknown)}"
}
