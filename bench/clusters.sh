# shellcheck shell=bash
# shellcheck disable=SC2154 # bench_top: set by lib.sh, sourced first
# Shared by the benchmarks that launch jobs on private clusters side by side (step-launch,
# whole-job, throughput; sourced after lib.sh): the set-ups compared, and the servers that hold
# one cluster each and take orders on a FIFO.
#
# Set-ups (each a cluster of t/lib/cluster.sh, the plugin from the build tree):
#
#   none      no plugin (the harness's default slurm.conf)
#   strict    the plugin with the example policy's strict profile (etc/isolation.yaml.example,
#             its paths moved under the cluster's directory; the user is in groups A and B, so
#             every mount of the profile applies)
#   strict-2G the same with /dev/shm sized "2G" instead of "50%" (of the job's memory): no
#             step ever resizes it (the control for that cost, finding 1)
#   tmp+shm   the plugin with a profile of /tmp (disk) and /dev/shm (tmpfs, the kernel's default
#             size) only: what Slurm's own plugins do by default
#   jc-tmpfs  Slurm's job_container/tmpfs (up to 25.05: JobContainerType), PrologFlags=Alloc,Contain,
#             AutoBasePath under the cluster; /tmp and /dev/shm
#   ns-tmpfs  Slurm's namespace/tmpfs (25.11+: NamespaceType), PrologFlags=Contain, the same
#             job_container.conf
#   ns-linux  Slurm's namespace/linux (25.11+), PrologFlags=Contain, namespace.yaml with
#             auto_base_path, base_path under the cluster, dirs /tmp,/dev/shm
#   noop      a SPANK plugin whose job prolog and epilog do nothing (bench/src/spank-noop.c):
#             what any plugin with those hooks costs, whatever it does in them
#
# The servers (one process each: the harness keeps one cluster per shell, and holds its users
# per process):
#
#   bench_servers_start SCRIPT SETUP...   runs "SCRIPT --serve SETUP DIR BOSS" for each SETUP in
#                                         turn, until it says "ready" on its result FIFO; its
#                                         output goes to $BENCH_DIR/SETUP.log
#   bench_order SETUP LINE                one order to SETUP's server
#   bench_answer SETUP [SECONDS]          prints its next answer (fails after SECONDS, default 300)
#   bench_servers_stop                    every server is told "quit" and waited for (also at
#                                         exit and on INT or TERM)
#
# A server, in SCRIPT --serve: bench_harness, then bench_setup_start SETUP, then its own loop
# reading orders from DIR/SETUP.order and writing answers to DIR/SETUP.result; it ends at
# "quit", or when BOSS (the coordinator's pid) has gone.

# bench_default_setups [step]: the set-ups for the installed Slurm: Slurm's own plugin is
# job_container/tmpfs up to 25.05, namespace/tmpfs and namespace/linux from 25.11. With "step",
# the control strict-2G too on releases before 25.11 (where it was measured first).
bench_default_setups() {
    local v have
    v=$(slurmd -V 2>/dev/null | awk '{ print $NF }')
    have=$((10#${v%%.*} * 100 + 10#$(cut -d. -f2 <<<"$v")))
    if [ "$have" -ge 2511 ]; then
        echo "none strict tmp+shm ns-tmpfs ns-linux"
    elif [ "${1:-}" = step ]; then
        echo "none strict strict-2G tmp+shm jc-tmpfs"
    else
        echo "none strict tmp+shm jc-tmpfs"
    fi
}

bench_setup_known() {
    case $1 in none | strict | strict-2G | tmp+shm | jc-tmpfs | ns-tmpfs | ns-linux | noop) return 0 ;; esac
    return 1
}

# bench_slurm_name: "Slurm 26.05.5", for the tables.
bench_slurm_name() { echo "Slurm $(slurmd -V 2>/dev/null | awk '{ print $NF }')"; }

# --- in a server ------------------------------------------------------------------------------

# bench_harness USER...: the test harness (t/lib) in this process, and USERs (isob*) in groups
# isobA and isobB.
bench_harness() {
    local u
    # shellcheck disable=SC2034 # read by t/lib/isolation.sh
    top_srcdir=$bench_top top_builddir=$BENCH_BUILD
    # shellcheck source=t/lib/tap.sh
    . "$bench_top/t/lib/tap.sh"
    # shellcheck source=t/lib/cluster.sh
    . "$bench_top/t/lib/cluster.sh"
    # shellcheck source=t/lib/isolation.sh
    . "$bench_top/t/lib/isolation.sh"
    set +u
    reason=$(iso_can_run) || bench_die "cannot run a cluster: $reason"
    for u in "$@"; do
        cluster_add_user "$u" isobA isobB || bench_die "cannot create the user $u"
    done
}

bench_policy_tmp_shm='version: 1
instance_base: @CLUSTER_DIR@/isolation
default_profile: tmpshm
profiles:
  tmpshm:
    polydirs:
      - {path: /tmp,     backing: disk,  scope: job}
      - {path: /dev/shm, backing: tmpfs, scope: job}'

# The same directories for Slurm's namespace/linux (its default dirs, written out).
bench_namespace_yaml='defaults:
  auto_base_path: true
  base_path: "@CLUSTER_DIR@/nsl"
  dirs: "/tmp,/dev/shm"'

# bench_setup_start SETUP [cluster_start options...]: this process's cluster, as SETUP, with
# BENCH_CONF_EXTRA's slurm.conf lines if set (not another --conf-extra: the set-up's would go).
bench_setup_start() {
    local setup=$1 extra=${BENCH_CONF_EXTRA:-}
    shift
    [ -z "$extra" ] || set -- --conf-extra "$extra" "$@"
    extra=${extra:+$'\n'$extra}
    case $setup in
    none) cluster_start "$@" ;;
    strict | strict-2G)
        # shellcheck disable=SC2034 # read by bench_example_policy
        [ "$setup" = strict ] || BENCH_SHM_SIZE=2G
        iso_cluster_start "$(bench_example_policy @CLUSTER_DIR@)" "$@" &&
            bench_policy_dir "$CLUSTER_DIR" "$(cat "$ISO_POLICY")"
        ;;
    tmp+shm) iso_cluster_start "$bench_policy_tmp_shm" "$@" ;;
    noop)
        cluster_start "$@" --file plugstack.conf "required $BENCH_BIN/spank-noop.so" \
            --plugstack @CLUSTER_DIR@/plugstack.conf
        ;;
    jc-tmpfs)
        cluster_start "$@" --conf-extra "JobContainerType=job_container/tmpfs$extra" \
            --prolog-flags Alloc,Contain \
            --file job_container.conf $'AutoBasePath=true\nBasePath=@CLUSTER_DIR@/jc'
        ;;
    ns-tmpfs)
        cluster_start "$@" --conf-extra "NamespaceType=namespace/tmpfs$extra" --prolog-flags Contain \
            --file job_container.conf $'AutoBasePath=true\nBasePath=@CLUSTER_DIR@/jc'
        ;;
    ns-linux)
        cluster_start "$@" --conf-extra "NamespaceType=namespace/linux$extra" --prolog-flags Contain \
            --file namespace.yaml "$bench_namespace_yaml"
        ;;
    *) bench_die "unknown set-up $setup" ;;
    esac
}

# --- the coordinator --------------------------------------------------------------------------

declare -gA bench_order_fd=() bench_result_fd=() bench_server=()

bench_servers_stop() {
    local s
    for s in "${!bench_server[@]}"; do
        echo quit >&"${bench_order_fd[$s]}"
    done
    for s in "${!bench_server[@]}"; do
        wait "${bench_server[$s]}"
        unset "bench_server[$s]"
    done
}

bench_servers_signal() {
    local s
    for s in "${!bench_server[@]}"; do
        kill -TERM "${bench_server[$s]}" 2>/dev/null
    done
    bench_servers_stop
    bench_scratch_remove
    exit 130
}

# bench_server_ready SETUP: until its server says "ready"; dies (with its log) if it does not.
bench_server_ready() {
    local line deadline=$((SECONDS + 300))
    while [ "$SECONDS" -lt "$deadline" ] && kill -0 "${bench_server[$1]}" 2>/dev/null; do
        if read -r -t 1 line <&"${bench_result_fd[$1]}"; then
            [ "$line" = ready ] && return 0
            break
        fi
    done
    echo "bench: set-up $1 did not start; its log:" >&2
    tail -n 30 "$BENCH_DIR/$1.log" >&2
    exit 2
}

# The control plugin of set-up noop, built once per build directory.
compile_noop() {
    local src=$bench_top/bench/src/spank-noop.c so=$BENCH_BIN/spank-noop.so
    [ "$so" -nt "$src" ] || ${CC:-cc} -O2 -Wall -shared -fPIC -o "$so" "$src" ||
        bench_die "cannot compile $src"
}

# One at a time: a cluster starting reaps the directories of clusters it takes for dead, and
# one still being made could look dead.
bench_servers_start() {
    local script=$1 s fd
    shift
    [[ " $* " != *" noop "* ]] || bench_locked compile_noop
    trap bench_servers_signal INT TERM
    trap 'bench_servers_stop; bench_scratch_remove' EXIT
    for s in "$@"; do
        mkfifo -m 0600 "$BENCH_DIR/$s.order" "$BENCH_DIR/$s.result" || bench_die "mkfifo"
        exec {fd}<>"$BENCH_DIR/$s.order"
        bench_order_fd[$s]=$fd
        exec {fd}<>"$BENCH_DIR/$s.result"
        bench_result_fd[$s]=$fd
        "$script" --serve "$s" "$BENCH_DIR" $$ >>"$BENCH_DIR/$s.log" 2>&1 &
        bench_server[$s]=$!
        bench_server_ready "$s"
    done
}

bench_order() { echo "$2" >&"${bench_order_fd[$1]}"; }

bench_answer() {
    local line
    read -r -t "${2:-300}" line <&"${bench_result_fd[$1]}" || return 1
    printf '%s\n' "$line"
}

# --- statistics of the tables -----------------------------------------------------------------
# Sample files hold "ROUND VALUE" lines (a failed launch has none), so that rounds pair up.

# bench_values FILE: the values alone (nothing if FILE is missing).
bench_values() { [ ! -f "$1" ] || awk '{ print $2 }' "$1"; }

# bench_med FILE: their median (0 if none).
bench_med() { bench_values "$1" | bench_median; }

# bench_pct FILE P: the P-th percentile (nearest rank) of the values.
bench_pct() {
    bench_values "$1" | sort -n | awk -v p="$2" '{ v[NR] = $1 }
        END { r = int(p / 100 * NR + 0.999999); if (r < 1) r = 1; print v[r] + 0 }'
}

# bench_count FILE: how many values.
bench_count() { bench_values "$1" | wc -l; }

# bench_paired A B: the median over rounds of A's value over B's in the same round, which drift
# between rounds does not reach; rounds where either failed are left out.
bench_paired() {
    if [ ! -s "$1" ] || [ ! -s "$2" ]; then
        echo -
        return
    fi
    join <(sort -k1,1 "$1") <(sort -k1,1 "$2") | awk '$3 > 0 { print $2 / $3 }' | bench_median |
        awk '{ printf "%.3fx", $1 }'
}

bench_verdict() { awk -v r="$1" -v g="$2" 'BEGIN { print (r > 0 && r <= g ? "met" : "missed") }'; }
