# A throwaway Slurm cluster on localhost for the shell tests in t/ (sourced, bash, after tap.sh).
#
# One controller and one node (or several: --nodes) from the distribution's packages, all as root,
# all private: munged, slurmctld and slurmd run with their own key, socket, ports, state, spool,
# logs and pid files in one directory, and are stopped by the pids recorded when they were started.
# Nothing system-wide is touched but the test users and groups (names start with "iso").
#
#   reason=$(cluster_can_run) || skip_all "$reason"
#   cluster_add_user isoA isogrp1 isogrp2      # user isoA in groups isogrp1, isogrp2 (any time)
#   cluster_start [--nodes N] [--plugstack FILE] [--conf-extra LINES] [--partitions LINES]
#                 [--prolog-flags FLAGS] [--file NAME CONTENT]... || bail_out "no cluster"
#   run_as isoA srun -n2 hostname              # as isoA, in its home, in a clean environment
#   id=$(job_run isoA --wrap 'id -un >out')    # like sbatch --wait, and until the epilog is done
#   cluster_stop                               # idempotent; also run at exit
#
# Jobs:   job_wait ID [SECONDS]   the final JobState, success if COMPLETED (epilog done too)
#         job_state ID            job_field ID FIELD (JobState, Reason, ExitCode...)
# Node:   cluster_node_state [NODE]   idle, allocated, mixed, completing, drained...
#         cluster_node_reason     why it is drained or down
#         cluster_wait_idle [SECONDS] (every node)   cluster_resume_node [NODE] (after a failed prolog)
#         cluster_node_settled [SECONDS] (the state once `completing` is over)
#         node_stays_up DESCRIPTION (TAP: settled, and not drained or down)
# Daemons: cluster_log slurmd|slurmctld|munged [NODE] (a log's path)   cluster_pids   cluster_dump_logs
# MPI:    cluster_can_mpi (like cluster_can_run)   cluster_mpi_program (path of an allreduce)
# Slurm:  cluster_slurm_version ("24.11.5")   cluster_slurm_at_least MAJOR.MINOR
# Crashes: cluster_restart_slurmd (every node's)   cluster_restart_slurmctld [--forget] (its state wiped)
#         job_crash JOBID (SIGKILL to the job's processes and slurmstepds)
#         job_lost JOBID (slurmd stopped, job_crash, slurmctld forgets, slurmd back: no epilog)
# Misc:   wait_for SECONDS CMD...  (polls CMD)     mounts_under DIR (mount points at or under)
#
# cluster_start options:
#   --nodes N            N nodes (default 1). One node is named after the host, as a real one is.
#                        Several are node1..nodeN, each its own `slurmd -N NAME` on this host with
#                        its own port (NodeName ... Port=), spool, pid file and log (slurm.conf
#                        says spool/%n, run/slurmd-%n.pid, log/slurmd-%n.log): `srun -N2` spans
#                        them. Slurm sets SLURMD_NODENAME to the node's name in the job's tasks.
#   --plugstack FILE     PlugStackConfig (default: an empty file)
#   --conf-extra LINES   slurm.conf lines; "Key=..." replaces the generated line for that key,
#                        NodeName= and PartitionName= lines are added
#   --partitions LINES   PartitionName lines replacing the default "debug" (Default=YES) and "gpu"
#   --prolog-flags F     PrologFlags: default Alloc; '' for none; Alloc,Contain for an extern
#                        step (pam_slurm_adopt, job_container/tmpfs)
#   --file NAME CONTENT  writes NAME (mpi.conf, job_container.conf, cgroup.conf...) next to
#                        slurm.conf, which is where Slurm looks for it
# @CLUSTER_DIR@ in any of these values stands for the private directory.
#
# Set for the tests: CLUSTER_DIR (the private directory: 0755 root, outside /tmp, /var/tmp and
# /dev/shm, which the plugin may polyinstantiate), CLUSTER_ID (its name, unique among the
# clusters on this host), CLUSTER_NODE (the node's name; the first node's with --nodes),
# CLUSTER_NODES (every node's name, an array), CLUSTER_HOST (the host's short name),
# CLUSTER_SLURMD_PIDS (one slurmd pid per node, in CLUSTER_NODES' order; CLUSTER_SLURMD_PID is the
# first), SLURM_CONF (exported: sinfo, scontrol, srun... run by root use this cluster),
# CLUSTER_START_SECONDS. After cluster_stop,
# CLUSTER_LAST_DIR names the directory that was removed.
#
# Knobs: CLUSTER_BASE (parent of the private directories, default /var/lib/spank-isolation-tests),
# CLUSTER_CPUS (CPUs the node declares; default the host's, at least 4), CLUSTER_DEBUG (daemons'
# log level, default info), CLUSTER_TIMEOUT (seconds a run_as command may take, default 120),
# CLUSTER_KEEP (set: keep the private directory and its logs after stopping),
# SPANK_ISOLATION_NO_CLUSTER (set: cluster_can_run says no).
#
# cluster_start and cluster_add_user set traps on EXIT, HUP, INT and TERM that stop the cluster
# and remove the users; a test registers its own clean-up with cluster_on_stop.
# Tests running at the same time (make -j check) share the users and their homes: name files
# with $CLUSTER_ID.

: "${CLUSTER_BASE:=/var/lib/spank-isolation-tests}"
# shellcheck disable=SC2034 # read by the tests
CLUSTER_DIR='' CLUSTER_ID='' CLUSTER_NODE='' CLUSTER_LAST_DIR='' CLUSTER_START_SECONDS=''
CLUSTER_MUNGED_PID='' CLUSTER_SLURMCTLD_PID='' CLUSTER_SLURMD_PID=''
CLUSTER_HOST='' CLUSTER_NODES=() CLUSTER_SLURMD_NAMES=() CLUSTER_SLURMD_PIDS=()
CLUSTER_EXTRA='' CLUSTER_PARTITIONS='' CLUSTER_LOCK_FD=''
CLUSTER_GECOS="spank-isolation test user"

# The daemons live in sbin, which a caller's PATH may lack.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

# cluster_can_run: prints why a cluster cannot run here and fails, or succeeds silently.
cluster_can_run() {
    local cmd
    if [ -n "${SPANK_ISOLATION_NO_CLUSTER:-}" ]; then
        echo "SPANK_ISOLATION_NO_CLUSTER is set"
        return 1
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "needs root (starts munged, slurmctld and slurmd, and creates test users)"
        return 1
    fi
    for cmd in munged munge unmunge slurmctld slurmd slurmstepd sbatch srun salloc squeue sinfo \
        scontrol scancel; do
        if ! command -v "$cmd" >/dev/null 2>&1; then
            echo "$cmd not found (Debian: apt-get install slurmctld slurmd slurm-client munge)"
            return 1
        fi
    done
    for cmd in useradd userdel usermod groupadd groupdel runuser setpriv flock timeout umount; do
        if ! command -v "$cmd" >/dev/null 2>&1; then
            echo "$cmd not found"
            return 1
        fi
    done
    if ! getent passwd munge >/dev/null; then
        echo "no munge user (the munge package creates it)"
        return 1
    fi
    if ! (umask 022 && mkdir -p "$CLUSTER_BASE") 2>/dev/null; then
        echo "cannot create $CLUSTER_BASE (set CLUSTER_BASE to a root-owned local directory)"
        return 1
    fi
    return 0
}

# cluster_slurm_version: the installed slurmd's version ("24.11.5"); fails if it cannot be read.
cluster_slurm_version() {
    local v
    v=$(slurmd -V 2>/dev/null | awk '{ print $NF }')
    [[ $v =~ ^[0-9]+\.[0-9]+ ]] || return 1
    echo "$v"
}

# cluster_slurm_at_least MAJOR.MINOR: the installed Slurm is that release or a later one.
cluster_slurm_at_least() {
    local v want=$1 have
    v=$(cluster_slurm_version) || return 1
    have=$((10#${v%%.*} * 100 + 10#$(cut -d. -f2 <<<"$v")))
    [ "$have" -ge $((10#${want%%.*} * 100 + 10#${want#*.})) ]
}

# cluster_can_mpi: like cluster_can_run, for tests that build and run an MPI program.
cluster_can_mpi() {
    if ! command -v mpicc >/dev/null 2>&1; then
        echo "mpicc not found (Debian: apt-get install libopenmpi-dev openmpi-bin)"
        return 1
    fi
    if ! compgen -G '/usr/lib/*/slurm-wlm/mpi_pmix.so' >/dev/null &&
        ! compgen -G '/usr/lib*/slurm/mpi_pmix.so' >/dev/null; then
        echo "Slurm's mpi/pmix plugin (mpi_pmix.so) not found"
        return 1
    fi
    return 0
}

# --- small helpers -----------------------------------------------------------------------------

# wait_for SECONDS CMD...: runs CMD every 0.1 s until it succeeds; fails at the deadline.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# mounts_under DIR: mount points at or under DIR in our mount namespace, in mount order.
mounts_under() {
    awk -v d="$1" '{ mp = $5; gsub(/\\040/, " ", mp) }
        mp == d || index(mp, d "/") == 1 { print mp }' /proc/self/mountinfo
}

# _cluster_field LINE KEY: the value in KEY=value of a `scontrol -o` line. No fork: forks are
# slow in VMs and this runs in polling loops.
_cluster_field() {
    [[ " $1" =~ \ $2=([^ ]*) ]] && echo "${BASH_REMATCH[1]}"
}

_cluster_subst_dir() { printf '%s' "${1//@CLUSTER_DIR@/$CLUSTER_DIR}"; }

# Slurm's client commands honour these: a test run from inside a job must not inherit them.
_cluster_unset_slurm_env() {
    local v
    for v in $(compgen -e); do
        case $v in
        SLURM_* | SBATCH_* | SALLOC_* | SRUN_* | SQUEUE_* | SINFO_* | SCONTROL_* | SCANCEL_*)
            unset "$v"
            ;;
        esac
    done
}

# cluster_log NAME [NODE]: a daemon's log; with several nodes, slurmd's is per node (the first
# node's by default).
cluster_log() {
    if [ "$1" = slurmd ] && [ "${#CLUSTER_NODES[@]}" -gt 1 ]; then
        echo "$CLUSTER_DIR/log/slurmd-${2:-${CLUSTER_NODES[0]}}.log"
    else
        echo "$CLUSTER_DIR/log/$1.log"
    fi
}

cluster_pids() { echo "$CLUSTER_MUNGED_PID $CLUSTER_SLURMCTLD_PID ${CLUSTER_SLURMD_PIDS[*]}"; }

# The tails of the daemons' logs, as TAP comments.
cluster_dump_logs() {
    local name f
    for name in munged slurmctld "${CLUSTER_SLURMD_NAMES[@]}"; do
        # slurmctld and slurmd in the foreground copy their log to stderr (NAME.out), which
        # alone has what they said before opening their log.
        f=$CLUSTER_DIR/log/$name.log
        [ -s "$f" ] || f=$CLUSTER_DIR/log/$name.out
        [ -s "$f" ] || continue
        diag "--- ${f##*/} (last 25 lines)"
        tail -n 25 "$f" | sed 's/^/#   /'
    done
}

# --- processes ---------------------------------------------------------------------------------

# _cluster_stat PID FIELD: a field of /proc/PID/stat (3 is the state, 4 the parent, 22 the
# start time), counted as in proc(5).
_cluster_stat() {
    local stat
    local -a f
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    read -ra f <<<"${stat##*) }"
    echo "${f[$2 - 3]}"
}

# Alive and not a zombie: a daemon we started stays a zombie until we wait for it.
_cluster_proc_alive() {
    local state
    state=$(_cluster_stat "$1" 3) && [ "$state" != Z ]
}

# Processes started by _cluster_spawn carry this marker in their environment, and so do the
# slurmstepd processes slurmd starts: it tells ours from anyone else's, where names cannot.
_cluster_marker() { echo "SPANK_ISOLATION_CLUSTER=$CLUSTER_DIR"; }

_cluster_pid_is_ours() {
    [ -n "$1" ] && grep -qzxF "$(_cluster_marker)" "/proc/$1/environ" 2>/dev/null
}

# _cluster_spawn LOG CMD...: runs a daemon in the background (its pid in $!) with the marker,
# stdin from /dev/null and output to LOG: without the test's stdout (a daemon holding it would
# hang the TAP driver) or the ports lock (a daemon holding it would keep it forever).
_cluster_spawn() {
    local log=$1
    shift
    (
        [ -z "$CLUSTER_LOCK_FD" ] || exec {CLUSTER_LOCK_FD}>&-
        exec env "$(_cluster_marker)" "$@" </dev/null >>"$log" 2>&1
    ) &
}

_cluster_all_dead() {
    local pid
    for pid in "$@"; do
        ! _cluster_proc_alive "$pid" || return 1
    done
}

# _cluster_stop_pids PID...: SIGTERM to those still ours, 10 s at most, then SIGKILL; reaps them.
_cluster_stop_pids() {
    local pid
    local -a live=()
    for pid in "$@"; do
        if [ -n "$pid" ] && _cluster_proc_alive "$pid" && _cluster_pid_is_ours "$pid"; then
            kill -TERM "$pid" 2>/dev/null && live+=("$pid")
        fi
    done
    if [ "${#live[@]}" -gt 0 ] && ! wait_for 10 _cluster_all_dead "${live[@]}"; then
        diag "cluster_stop: pids ${live[*]} ignored SIGTERM for 10 s; sending SIGKILL"
        kill -KILL "${live[@]}" 2>/dev/null
        wait_for 5 _cluster_all_dead "${live[@]}"
    fi
    for pid in "$@"; do
        [ -z "$pid" ] || _cluster_proc_alive "$pid" || wait "$pid" 2>/dev/null
    done
    return 0
}

# The pids of this shell and its ancestors, which a sweep must never kill.
_cluster_self_and_ancestors() {
    local pid=$BASHPID
    while [ -n "$pid" ] && [ "$pid" -gt 1 ]; do
        echo "$pid"
        pid=$(_cluster_stat "$pid" 4)
    done
    echo "$$"
}

# Leftovers of this cluster: processes with our marker (daemons, slurmscriptd, slurmstepd) and
# processes whose environment names our slurm.conf (job tasks; srun, salloc or sbatch still
# running for the test, which would hold the TAP driver's pipe open).
_cluster_stray_pids() {
    local skip pid
    skip=" $(_cluster_self_and_ancestors | tr '\n' ' ') "
    grep -lzxF -e "$(_cluster_marker)" -e "SLURM_CONF=$CLUSTER_DIR/slurm.conf" \
        /proc/[0-9]*/environ 2>/dev/null |
        sed -n 's|^/proc/\([0-9]*\)/environ$|\1|p' | sort -un |
        while read -r pid; do
            case $skip in *" $pid "*) continue ;; esac
            ! _cluster_proc_alive "$pid" || echo "$pid"
        done
}

# "pid:command" for each pid still there, for messages.
_cluster_describe() {
    local pid comm
    for pid in "$@"; do
        { read -r comm <"/proc/$pid/comm"; } 2>/dev/null && echo "$pid:$comm"
    done
}

_cluster_kill_strays() {
    local round desc
    local -a pids
    for round in 1 2 3 4 5 6 7 8 9 10; do
        mapfile -t pids < <(_cluster_stray_pids)
        [ "${#pids[@]}" -gt 0 ] || return 0
        # Those gone before we look were exiting by themselves: not worth a word.
        desc=$(_cluster_describe "${pids[@]}")
        [ "$round" -gt 1 ] || [ -z "$desc" ] ||
            diag "killing what is left of $CLUSTER_DIR: ${desc//$'\n'/ }"
        kill -KILL "${pids[@]}" 2>/dev/null
        sleep 0.2
    done
    mapfile -t pids < <(_cluster_stray_pids)
    desc=$(_cluster_describe "${pids[@]}")
    diag "still alive in $CLUSTER_DIR: ${desc//$'\n'/ }"
}

# --- ports -------------------------------------------------------------------------------------

# _cluster_tcp_ports [STATE]: the local TCP ports in STATE (hex: 0A is LISTEN) or in any state,
# read from /proc so that a minimal system without ss (iproute2) will do.
_cluster_tcp_ports() {
    local sl addr st rest
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        while read -r sl addr _ st rest; do
            [ "$sl" != sl ] || continue
            [ -z "${1:-}" ] || [ "$st" = "$1" ] || continue
            echo $((16#${addr##*:}))
        done
}

_cluster_port_is_listening() { _cluster_tcp_ports 0A | grep -qx "$1"; }

# _cluster_pick_ports N: N free TCP ports below the ephemeral range (slurmctld's, then one for
# each slurmd).
_cluster_pick_ports() {
    local p used
    local -a ports=()
    used=" $(_cluster_tcp_ports | tr '\n' ' ') "
    while [ "${#ports[@]}" -lt "$1" ]; do
        p=$((10000 + RANDOM % 20000))
        case "$used ${ports[*]} " in *" $p "*) continue ;; esac
        ports+=("$p")
    done
    echo "${ports[@]}"
}

# --- configuration -----------------------------------------------------------------------------

# The node's CPU count and memory (MB), as slurmd detects them.
_cluster_node_hardware() {
    local line cpus mem
    line=$(slurmd -C 2>/dev/null)
    line=${line%%$'\n'*}
    cpus=$(_cluster_field "$line" CPUs)
    mem=$(_cluster_field "$line" RealMemory)
    echo "${cpus:-$(nproc)} ${mem:-2048}"
}

# _cluster_write_slurm_conf PLUGSTACK PROLOG_FLAGS CTLD_PORT SLURMD_PORT...: generated lines,
# less those whose key --conf-extra sets, then the nodes (one slurmd port each), the partitions
# and --conf-extra. With several nodes, slurmd's spool, pid file and log are per node (Slurm
# expands %n to the node's name).
_cluster_write_slurm_conf() {
    local plugstack=$1 prolog_flags=$2 ctld_port=$3 slurmd_port=$4 per_node='' i
    local cpus mem defaults key
    local -a ports=("${@:4}")
    [ "${#CLUSTER_NODES[@]}" -eq 1 ] || per_node=-%n
    read -r cpus mem <<<"$(_cluster_node_hardware)"
    [ "$cpus" -ge 4 ] || cpus=4
    cpus=${CLUSTER_CPUS:-$cpus}
    defaults="# Generated by t/lib/cluster.sh for one test: everything in $CLUSTER_DIR.
ClusterName=isolation
# The real host name with an explicit address: no DNS, works on any VM or container.
SlurmctldHost=$CLUSTER_HOST(127.0.0.1)
# Ports of our own, so that tests can run side by side (and beside a site's Slurm).
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
# Our own munged: clients and daemons find its socket here, key and all are private.
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$CLUSTER_DIR/munge/munge.socket
StateSaveLocation=$CLUSTER_DIR/state
SlurmdSpoolDir=$CLUSTER_DIR/spool${per_node:+/%n}
SlurmctldPidFile=$CLUSTER_DIR/run/slurmctld.pid
SlurmdPidFile=$CLUSTER_DIR/run/slurmd$per_node.pid
SlurmctldLogFile=$CLUSTER_DIR/log/slurmctld.log
SlurmdLogFile=$CLUSTER_DIR/log/slurmd$per_node.log
SlurmctldDebug=${CLUSTER_DEBUG:-info}
SlurmdDebug=${CLUSTER_DEBUG:-info}
PlugStackConfig=$plugstack
# No cgroups: works in containers and with cgroup v1, hybrid or v2. Jobs are tracked through
# their parent pids; the plugin under test does the isolating.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# No JobContainerType (none is the default; 25.11 renames it NamespaceType and warns at the old
# name): tests and bench/ that want one add it with --conf-extra.
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
SwitchType=switch/none
# Tests ask for --mpi=pmix where they want it.
MpiDefault=none
# Cores and memory are allocated: jobs can ask for --mem (S_JOB_ALLOC_MEM), and jobs that do
# not get DefMemPerCPU instead of the whole node, so that several run at once.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
# The prolog (and the plugin's slurm_spank_job_prolog) runs when the job is allocated, before
# any step, even for an salloc that never starts one: each job gets exactly one prolog and one
# epilog on the node.
PrologFlags=$prolog_flags
# The node may declare more CPUs than the host has (4 at least: two 2-task jobs at once).
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=2
InactiveLimit=30
# Job records live 5 s at least after the end: sbatch --wait then polls every 2 s (it sleeps
# longer when MinJobAge is larger); 2 is Slurm's minimum.
MinJobAge=5
# Job ids differ between clusters running at the same time, and so do per-job paths on the host.
FirstJobId=$(((RANDOM % 9000 + 1000) * 1000))"
    [ -n "$prolog_flags" ] || defaults=$(printf '%s\n' "$defaults" | grep -v '^PrologFlags=')
    for key in $(printf '%s\n' "$CLUSTER_EXTRA" | sed -n 's/^[[:space:]]*\([A-Za-z]*\)=.*/\1/p'); do
        case ${key,,} in nodename | partitionname) continue ;; esac
        defaults=$(printf '%s\n' "$defaults" | grep -vi "^$key=")
    done
    {
        printf '%s\n' "$defaults"
        if [ "${#CLUSTER_NODES[@]}" -eq 1 ]; then
            echo "NodeName=$CLUSTER_NODE NodeHostname=$CLUSTER_NODE NodeAddr=127.0.0.1" \
                "CPUs=$cpus RealMemory=$((mem * 9 / 10)) State=UNKNOWN"
        else
            # Several slurmds on this host: one port each, the host's memory shared out.
            for i in "${!CLUSTER_NODES[@]}"; do
                echo "NodeName=${CLUSTER_NODES[i]} NodeHostname=$CLUSTER_HOST" \
                    "NodeAddr=127.0.0.1 Port=${ports[i]} CPUs=$cpus" \
                    "RealMemory=$((mem * 9 / 10 / ${#CLUSTER_NODES[@]})) State=UNKNOWN"
            done
        fi
        if [ -n "$CLUSTER_PARTITIONS" ]; then
            printf '%s\n' "$CLUSTER_PARTITIONS"
        else
            echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
            echo "PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP"
        fi
        [ -z "$CLUSTER_EXTRA" ] || printf '%s\n' "$CLUSTER_EXTRA"
    } >"$SLURM_CONF" && chmod 0644 "$SLURM_CONF"
}

# --- start -------------------------------------------------------------------------------------

_cluster_fail() {
    diag "cluster_start: $*"
    cluster_dump_logs
    return 1
}

_cluster_munge_works() {
    munge -n -S "$CLUSTER_DIR/munge/munge.socket" 2>/dev/null |
        unmunge -S "$CLUSTER_DIR/munge/munge.socket" >/dev/null 2>&1
}

# munged as the munge user, on its own key and socket; _cluster_munge_works says when it is up.
_cluster_spawn_munged() {
    local m=$CLUSTER_DIR/munge
    mkdir -m 0755 "$m" && chown munge: "$m" || return 1
    head -c 1024 /dev/urandom >"$m/munge.key" &&
        chown munge: "$m/munge.key" && chmod 0400 "$m/munge.key" || return 1
    # In the foreground, munged logs to stderr only.
    _cluster_spawn "$CLUSTER_DIR/log/munged.log" \
        setpriv --reuid=munge --regid="$(id -g munge)" --init-groups \
        munged --foreground --socket="$m/munge.socket" --key-file="$m/munge.key" \
        --pid-file="$m/munged.pid" --seed-file="$m/munged.seed"
    CLUSTER_MUNGED_PID=$!
}

# Idle: no job, no epilog. Slurm 23.02+ says `planned` for an idle node that backfill holds for a
# pending job; it runs nothing either.
_cluster_node_is_idle() {
    case $(cluster_node_state "$@") in idle | planned) return 0 ;; esac
    return 1
}

_cluster_nodes_are_idle() {
    local node
    for node in "${CLUSTER_NODES[@]}"; do
        _cluster_node_is_idle "$node" || return 1
    done
}

# "node1:idle node2:mixed", for messages.
_cluster_nodes_states() {
    local node out=''
    for node in "${CLUSTER_NODES[@]}"; do
        out+="$node:$(cluster_node_state "$node") "
    done
    echo "${out% }"
}

_cluster_node_left_completing() {
    case $(cluster_node_state) in "" | *complet*) return 1 ;; esac
}

_cluster_daemons_alive() {
    local name pid i
    for name in munged slurmctld; do
        eval "pid=\$CLUSTER_${name^^}_PID"
        if [ -n "$pid" ] && ! _cluster_proc_alive "$pid"; then
            diag "cluster_start: $name (pid $pid) died"
            return 1
        fi
    done
    for i in "${!CLUSTER_SLURMD_PIDS[@]}"; do
        pid=${CLUSTER_SLURMD_PIDS[i]}
        if [ -n "$pid" ] && ! _cluster_proc_alive "$pid"; then
            diag "cluster_start: slurmd -N ${CLUSTER_NODES[i]} (pid $pid) died"
            return 1
        fi
    done
}

# _cluster_wait_up SECONDS CMD...: like wait_for, but gives up as soon as a daemon has died.
_cluster_wait_up() {
    local deadline=$((SECONDS + $1))
    shift
    while _cluster_daemons_alive; do
        "$@" && return 0
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
    return 1
}

# Under the ports lock: slurm.conf, then (munged being up) slurmctld, then slurmd.
_cluster_start_slurm() {
    local ctld_port
    local -a slurmd_ports
    read -r ctld_port <<<"$(_cluster_pick_ports $((1 + ${#CLUSTER_NODES[@]})))"
    read -r -a slurmd_ports <<<"${ctld_port#* }"
    ctld_port=${ctld_port%% *}
    _cluster_write_slurm_conf "$@" "$ctld_port" "${slurmd_ports[@]}" ||
        { _cluster_fail "cannot write $SLURM_CONF"; return 1; }
    _cluster_wait_up 10 _cluster_munge_works ||
        { _cluster_fail "munged does not answer on $CLUSTER_DIR/munge/munge.socket"; return 1; }
    _cluster_spawn "$CLUSTER_DIR/log/slurmctld.out" slurmctld -D -f "$SLURM_CONF"
    CLUSTER_SLURMCTLD_PID=$!
    _cluster_wait_up 30 _cluster_port_is_listening "$ctld_port" ||
        { _cluster_fail "slurmctld does not listen on port $ctld_port"; return 1; }
    _cluster_start_slurmds "" "${slurmd_ports[@]}"
}

# _cluster_start_slurmds WHEN PORT...: one slurmd per node (node i on PORT i), then waits until
# each listens. WHEN ("" or "-restart") names the output files.
_cluster_start_slurmds() {
    local when=$1 i
    shift
    CLUSTER_SLURMD_PIDS=()
    for i in "${!CLUSTER_NODES[@]}"; do
        _cluster_spawn "$CLUSTER_DIR/log/${CLUSTER_SLURMD_NAMES[i]}$when.out" \
            slurmd -D -f "$SLURM_CONF" -N "${CLUSTER_NODES[i]}"
        CLUSTER_SLURMD_PIDS+=("$!")
    done
    CLUSTER_SLURMD_PID=${CLUSTER_SLURMD_PIDS[0]}
    for ((i = 1; i <= $#; i++)); do
        _cluster_wait_up 30 _cluster_port_is_listening "${!i}" || {
            _cluster_fail "slurmd -N ${CLUSTER_NODES[i - 1]} does not listen on port ${!i}"
            return 1
        }
    done
}

# The slurmd ports, in node order, as slurm.conf has them.
_cluster_slurmd_ports() {
    if [ "${#CLUSTER_NODES[@]}" -eq 1 ]; then
        sed -n 's/^SlurmdPort=//p' "$SLURM_CONF"
    else
        sed -n 's/^NodeName=.* Port=\([0-9]*\) .*/\1/p' "$SLURM_CONF"
    fi
}

# _cluster_start_daemons PLUGSTACK PROLOG_FLAGS: munged starts while slurm.conf is written;
# ports are chosen and bound under a lock, so that tests running at the same time (make -j
# check) each get their own.
_cluster_start_daemons() {
    local rc=1
    _cluster_spawn_munged || return 1
    exec {CLUSTER_LOCK_FD}>>"$CLUSTER_BASE/.ports.lock"
    if flock -w 60 "$CLUSTER_LOCK_FD"; then
        _cluster_start_slurm "$@" && rc=0
    else
        _cluster_fail "cannot lock $CLUSTER_BASE/.ports.lock"
    fi
    exec {CLUSTER_LOCK_FD}>&-
    CLUSTER_LOCK_FD=
    return "$rc"
}

# A test killed with SIGKILL cannot clean up: the next start reaps what it left (processes with
# its marker or its slurm.conf, its mounts, its directory, its holds on users and groups).
# Only directories with an owner file are ours.
_cluster_reap_stale() {
    local d
    for d in "$CLUSTER_BASE"/cluster.*; do
        [ -f "$d/owner" ] && ! _cluster_holder_alive "$d/owner" || continue
        diag "cluster_start: reaping $d, left by a test that died"
        (
            CLUSTER_DIR=$d
            _cluster_kill_strays
            _cluster_unmount_under "$d" && rm -rf --one-file-system "$d"
        )
    done
    _cluster_accounts_release
    return 0
}

_cluster_set_traps() {
    trap cluster_stop EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# _cluster_name_nodes N: one node is named after the host, as a real node is; several are
# node1..nodeN (their slurmds' outputs slurmd-NAME), with a spool directory each.
_cluster_name_nodes() {
    local i
    CLUSTER_NODES=() CLUSTER_SLURMD_NAMES=()
    if [ "$1" -eq 1 ]; then
        CLUSTER_NODES=("$CLUSTER_HOST") CLUSTER_SLURMD_NAMES=(slurmd)
    else
        for ((i = 1; i <= $1; i++)); do
            CLUSTER_NODES+=("node$i")
            CLUSTER_SLURMD_NAMES+=("slurmd-node$i")
            mkdir -m 0755 "$CLUSTER_DIR/spool/node$i" || return 1
        done
    fi
    CLUSTER_NODE=${CLUSTER_NODES[0]}
}

cluster_start() {
    local plugstack='' prolog_flags=Alloc nodes=1 i t0=${EPOCHREALTIME/[.,]/}
    local -a files=()
    CLUSTER_EXTRA='' CLUSTER_PARTITIONS=''
    while [ $# -gt 0 ]; do
        case $1 in
        --plugstack | --conf-extra | --partitions | --prolog-flags | --nodes) [ $# -ge 2 ] ;;
        --file) [ $# -ge 3 ] ;;
        *) diag "cluster_start: unknown option $1" && return 1 ;;
        esac || { diag "cluster_start: $1 needs a value" && return 1; }
        case $1 in
        --plugstack) plugstack=$2 ;;
        --conf-extra) CLUSTER_EXTRA=$2 ;;
        --partitions) CLUSTER_PARTITIONS=$2 ;;
        --prolog-flags) prolog_flags=$2 ;;
        --nodes) nodes=$2 ;;
        --file) files+=("$2" "$3") && shift ;;
        esac
        shift 2
    done
    if ! [[ $nodes =~ ^[1-9][0-9]?$ ]]; then
        diag "cluster_start: --nodes $nodes: give a number of nodes from 1 to 99"
        return 1
    fi
    if [ -n "$CLUSTER_DIR" ]; then
        diag "cluster_start: a cluster is already running in $CLUSTER_DIR"
        return 1
    fi
    _cluster_unset_slurm_env
    (umask 022 && mkdir -p "$CLUSTER_BASE") && _cluster_reap_stale &&
        CLUSTER_DIR=$(mktemp -d "$CLUSTER_BASE/cluster.XXXXXX") ||
        { diag "cluster_start: cannot create a directory in $CLUSTER_BASE"; return 1; }
    CLUSTER_ID=${CLUSTER_DIR##*/}
    _cluster_set_traps
    chmod 0755 "$CLUSTER_DIR"
    # Written aside and renamed: an empty owner file would look like a dead cluster to a
    # cluster_start running at the same moment, which would remove this one.
    _cluster_holder >"$CLUSTER_DIR/owner.new" && mv -f "$CLUSTER_DIR/owner.new" "$CLUSTER_DIR/owner"
    mkdir -m 0755 "$CLUSTER_DIR/state" "$CLUSTER_DIR/spool" "$CLUSTER_DIR/log" \
        "$CLUSTER_DIR/run" "$CLUSTER_DIR/bin" || return 1
    CLUSTER_HOST=$(hostname -s)
    _cluster_name_nodes "$nodes" || return 1
    export SLURM_CONF=$CLUSTER_DIR/slurm.conf
    CLUSTER_EXTRA=$(_cluster_subst_dir "$CLUSTER_EXTRA")
    CLUSTER_PARTITIONS=$(_cluster_subst_dir "$CLUSTER_PARTITIONS")
    if [ -z "$plugstack" ]; then
        plugstack=$CLUSTER_DIR/plugstack.conf
        : >"$plugstack"
    fi
    plugstack=$(_cluster_subst_dir "$plugstack")
    for ((i = 0; i < ${#files[@]}; i += 2)); do
        printf '%s\n' "$(_cluster_subst_dir "${files[i + 1]}")" >"$CLUSTER_DIR/${files[i]}" &&
            chmod 0644 "$CLUSTER_DIR/${files[i]}" || return 1
    done
    _cluster_start_daemons "$plugstack" "$prolog_flags" || return 1
    _cluster_wait_up 60 _cluster_nodes_are_idle || {
        _cluster_fail "nodes $(_cluster_nodes_states) ($(cluster_node_reason)), not all idle"
        return 1
    }
    t0=$(((${EPOCHREALTIME/[.,]/} - t0) / 1000))
    # shellcheck disable=SC2034 # read by the tests
    CLUSTER_START_SECONDS=$((t0 / 1000)).$(printf '%03d' $((t0 % 1000)))
}

# --- stop --------------------------------------------------------------------------------------

# Cancels every job and waits (10 s at most) for the epilogs: the plugin cleans up as it would
# in production.
_cluster_cancel_jobs() {
    local -a jobs
    _cluster_proc_alive "$CLUSTER_SLURMCTLD_PID" || return 0
    mapfile -t jobs < <(squeue -h -o %A 2>/dev/null)
    [ "${#jobs[@]}" -gt 0 ] || return 0
    scancel "${jobs[@]}" 2>/dev/null
    wait_for 10 eval '[ -z "$(squeue -h -o %A 2>/dev/null)" ]' ||
        diag "cluster_stop: jobs still there after 10 s: $(squeue -h -o '%A:%T' | tr '\n' ' ')"
}

_cluster_unmount_under() {
    local round i
    local -a mps
    for round in 1 2 3 4 5; do
        mapfile -t mps < <(mounts_under "$1")
        [ "${#mps[@]}" -gt 0 ] || return 0
        for ((i = ${#mps[@]} - 1; i >= 0; i--)); do
            umount -l "${mps[i]}" 2>/dev/null
        done
    done
    diag "cluster_stop: still mounted after $round rounds: $(mounts_under "$1" | tr '\n' ' ')"
    return 1
}

# cluster_stop: stops the cluster and removes its directory; lets go of the test's users and
# groups. Not in a pipeline: the other commands of the pipeline would count as leftovers.
# cluster_on_stop CMD...: run CMD when the cluster stops, after its jobs are cancelled (a test's
# own host-side clean-up: the EXIT trap belongs to cluster_stop).
CLUSTER_ON_STOP=()
cluster_on_stop() { CLUSTER_ON_STOP+=("$*"); }

cluster_stop() {
    local dir=$CLUSTER_DIR holder hook
    if [ -n "$dir" ]; then
        [ "${TAP_FAILED:-0}" -eq 0 ] || cluster_dump_logs
        _cluster_cancel_jobs
        for hook in "${CLUSTER_ON_STOP[@]}"; do
            eval "$hook"
        done
        CLUSTER_ON_STOP=()
        _cluster_stop_pids "${CLUSTER_SLURMD_PIDS[@]}" "$CLUSTER_SLURMCTLD_PID" "$CLUSTER_MUNGED_PID"
        _cluster_kill_strays
        _cluster_unmount_under "$dir"
        if [ -n "${CLUSTER_KEEP:-}" ]; then
            diag "cluster_stop: kept $dir"
        else
            rm -rf --one-file-system "$dir"
        fi
        # shellcheck disable=SC2034 # read by the tests
        CLUSTER_LAST_DIR=$dir CLUSTER_DIR='' CLUSTER_ID=''
        CLUSTER_MUNGED_PID='' CLUSTER_SLURMCTLD_PID='' CLUSTER_SLURMD_PID=''
        CLUSTER_SLURMD_PIDS=() CLUSTER_NODES=() CLUSTER_SLURMD_NAMES=()
    fi
    holder=$(_cluster_holder)
    ! compgen -G "$CLUSTER_BASE/accounts/*/${holder/ /.}" >/dev/null ||
        _cluster_accounts_release "$holder"
    return 0
}

# --- test users and groups ---------------------------------------------------------------------
#
# Users and groups are shared by every test on this host, so each account has a directory
# $CLUSTER_BASE/accounts/{user,group}.NAME with one file per test using it, named after and
# holding the test's "pid starttime"; ".created" says we created the account (for a user, so
# does its GECOS field). The last test to let go removes it; a test that is gone (killed) does
# not count.

# This test as a holder: its shell's pid and start time.
_cluster_holder() { echo "$$ $(_cluster_stat $$ 22)"; }

_cluster_holder_alive() {
    local pid start
    { read -r pid start <"$1"; } 2>/dev/null && [ -n "$pid" ] &&
        [ "$(_cluster_stat "$pid" 22)" = "$start" ]
}

_cluster_accounts_lock() {
    mkdir -p "$CLUSTER_BASE/accounts" &&
        exec {CLUSTER_ACCOUNTS_FD}>>"$CLUSTER_BASE/.accounts.lock" &&
        flock -w 60 "$CLUSTER_ACCOUNTS_FD" && return 0
    diag "cannot lock $CLUSTER_BASE/.accounts.lock"
    return 1
}

_cluster_accounts_unlock() { exec {CLUSTER_ACCOUNTS_FD}>&-; }

# _cluster_account_hold KIND NAME [GROUPS]: registers this test as a user of the account,
# creating it if needed; a user joins GROUPS (comma-separated) too.
_cluster_account_hold() {
    local kind=$1 name=$2 groups=${3:-} d=$CLUSTER_BASE/accounts/$1.$2 holder
    holder=$(_cluster_holder)
    mkdir -p "$d" || return 1
    if [ "$kind" = group ]; then
        if ! getent group "$name" >/dev/null; then
            groupadd "$name" && : >"$d/.created" || return 1
        fi
    elif getent passwd "$name" >/dev/null; then
        [ "$(getent passwd "$name" | cut -d: -f5)" != "$CLUSTER_GECOS" ] || : >"$d/.created"
        [ -z "$groups" ] || usermod -a -G "$groups" "$name" || return 1
    else
        # A home without its user is what a killed run left.
        [ ! -e "/home/$name" ] || rm -rf --one-file-system "/home/${name:?}"
        useradd -m -d "/home/$name" -s /bin/bash -c "$CLUSTER_GECOS" -U \
            ${groups:+-G "$groups"} "$name" && : >"$d/.created" || return 1
    fi
    echo "$holder" >"$d/${holder/ /.}"
}

# _cluster_account_release DIR [HOLDER]: drops HOLDER and the holders that are gone; removes
# the account when no one holds it any more.
_cluster_account_release() {
    local d=$1 kind name h
    kind=${d##*/}
    name=${kind#*.}
    kind=${kind%%.*}
    [ -z "${2:-}" ] || rm -f "$d/$2"
    for h in "$d"/*; do
        [ -e "$h" ] || continue
        ! _cluster_holder_alive "$h" || return 0
        rm -f "$h"
    done
    if [ -e "$d/.created" ]; then
        if [ "$kind" = user ]; then
            userdel -r "$name" >/dev/null 2>&1
            if getent passwd "$name" >/dev/null; then
                diag "cluster_stop: cannot remove user $name: $(userdel -r "$name" 2>&1)"
                return 1
            fi
        else
            groupdel "$name" >/dev/null 2>&1
            if getent group "$name" >/dev/null; then
                diag "cluster_stop: cannot remove group $name: $(groupdel "$name" 2>&1)"
                return 1
            fi
        fi
    fi
    rm -rf "$d"
}

# _cluster_accounts_release [HOLDER]: lets go of the accounts HOLDER holds; without one, only
# sweeps up after killed tests.
_cluster_accounts_release() {
    local d holder=${1:-}
    [ -d "$CLUSTER_BASE/accounts" ] || return 0
    _cluster_accounts_lock || return 1
    # Users first: a group cannot go while it is a user's primary group.
    for d in "$CLUSTER_BASE"/accounts/user.*/ "$CLUSTER_BASE"/accounts/group.*/; do
        [ ! -d "$d" ] || _cluster_account_release "${d%/}" "${holder/ /.}"
    done
    _cluster_accounts_unlock
}

# slurmctld resolves a partition's AllowGroups when it starts: tell it about new members.
_cluster_refresh_partitions() {
    local line groups
    while read -r line; do
        groups=$(_cluster_field "$line" AllowGroups)
        [ -z "$groups" ] || [ "$groups" = ALL ] ||
            scontrol update PartitionName="$(_cluster_field "$line" PartitionName)" \
                AllowGroups="$groups"
    done < <(scontrol -o show partition 2>/dev/null)
}

# cluster_add_user NAME [GROUP...]: a real user (home /home/NAME, shell bash) in real groups,
# created if missing, removed at cluster_stop (or exit) unless another running test uses it.
# Before or after cluster_start; before, a plugin policy naming the user can be written first.
cluster_add_user() {
    local user=${1:-} g rc=0
    [ -n "$user" ] || { diag "cluster_add_user: no user name"; return 1; }
    for g in "$@"; do
        case $g in
        iso*) ;;
        *)
            diag "cluster_add_user: '$g' does not start with 'iso'; test accounts must," \
                "so that no real one is touched"
            return 1
            ;;
        esac
    done
    shift
    _cluster_set_traps
    _cluster_accounts_lock || return 1
    for g in "$@"; do
        _cluster_account_hold group "$g" || rc=1
    done
    [ "$rc" -ne 0 ] || _cluster_account_hold user "$user" "$(IFS=,; echo "$*")" || rc=1
    _cluster_accounts_unlock
    if [ "$rc" -ne 0 ]; then
        diag "cluster_add_user: cannot create user $user in groups: $*"
    elif [ -n "$CLUSTER_DIR" ]; then
        _cluster_refresh_partitions
    fi
    return "$rc"
}

# --- running things ----------------------------------------------------------------------------

# run_as USER CMD...: CMD as USER, in USER's home, with a clean environment that points at this
# cluster, killed after CLUSTER_TIMEOUT seconds.
# The cluster is on localhost: Open MPI's tcp transport is told to use lo, or on a host with an
# interface no peer can reach Open MPI 5 prints "Unable to find reachable pairing" into outputs
# the tests compare.
run_as() {
    local user=$1 home
    shift
    home=$(getent passwd "$user" | cut -d: -f6)
    [ -n "$home" ] || { diag "run_as: no user $user"; return 1; }
    (
        cd "$home" &&
            exec timeout -k 10 "${CLUSTER_TIMEOUT:-120}" runuser -u "$user" -- \
                env -i HOME="$home" USER="$user" LOGNAME="$user" SHELL=/bin/bash LANG=C.UTF-8 \
                PATH=/usr/local/bin:/usr/bin:/bin SLURM_CONF="$SLURM_CONF" \
                OMPI_MCA_btl_tcp_if_include=lo "$@"
    )
}

# cluster_node_state [NODE]: the node's state as sinfo prints it: idle, allocated, mixed,
# completing, drained, down... (the first node's by default).
cluster_node_state() {
    local states
    states=$(sinfo -h -N -n "${1:-$CLUSTER_NODE}" -o %T 2>/dev/null)
    echo "${states%%$'\n'*}"
}

# Why the node is drained or down, as slurmctld says (nothing when it is fine).
cluster_node_reason() {
    local reasons
    reasons=$(sinfo -h -N -n "$CLUSTER_NODE" -o %E 2>/dev/null)
    reasons=${reasons%%$'\n'*}
    [ "$reasons" = none ] || echo "$reasons"
}

# cluster_wait_idle [SECONDS]: until every node is idle (jobs and epilogs done); 30 s by default.
# shellcheck disable=SC2120 # tests pass SECONDS
cluster_wait_idle() {
    wait_for "${1:-30}" _cluster_nodes_are_idle && return 0
    diag "cluster_wait_idle: nodes $(_cluster_nodes_states) after ${1:-30} s" \
        "($(cluster_node_reason))"
    return 1
}

# cluster_node_settled [SECONDS]: waits (60 s by default) until the node has left `completing`
# (every epilog done), then prints its state; fails if it has not left it by then. Slurm's speed
# differs between machines and releases: read the node's state through this, never once.
cluster_node_settled() {
    local ok=0
    wait_for "${1:-60}" _cluster_node_left_completing || ok=1
    cluster_node_state
    [ "$ok" -eq 0 ] ||
        diag "cluster_node_settled: node $CLUSTER_NODE still '$(cluster_node_state)' after ${1:-60} s"
    return "$ok"
}

# node_stays_up DESCRIPTION: a TAP check that, once the node has left `completing`, it is not
# drained, draining or down: what "a failed job does not drain the node" means.
node_stays_up() {
    local state
    state=$(cluster_node_settled 60)
    case $state in
    "" | *complet* | *drain* | *drng* | *down* | *fail*)
        ok 1 "$1"
        diag "node $CLUSTER_NODE is '$state' ($(cluster_node_reason))"
        ;;
    *) ok 0 "$1" ;;
    esac
}

# cluster_resume_node [NODE]: back to service after a drain (a failed prolog or epilog drains
# it); the first node by default.
cluster_resume_node() {
    scontrol update NodeName="${1:-$CLUSTER_NODE}" State=RESUME && cluster_wait_idle
}

# job_field JOBID FIELD: one field of `scontrol show job` (JobState, Reason, ExitCode...).
job_field() { _cluster_field "$(scontrol -o show job "$1" 2>/dev/null)" "$2"; }

job_state() { job_field "$1" JobState; }

# job_wait JOBID [SECONDS]: until the job has ended and its epilog is done (60 s by default),
# or is held (a failed prolog requeues it held); prints the final state ("PENDING:reason" when
# held) and succeeds if it is COMPLETED.
job_wait() {
    local id=$1 state reason deadline=$((SECONDS + ${2:-60}))
    while :; do
        state=$(job_state "$id")
        case $state in
        PENDING)
            reason=$(job_field "$id" Reason)
            case $reason in *[Hh]eld*)
                echo "PENDING:$reason"
                return 1
                ;;
            esac
            ;;
        CONFIGURING | RUNNING | COMPLETING | SUSPENDED | REQUEUED | RESIZING | SIGNALING) ;;
        STAGE_OUT) ;;
        *)
            # A job ends before its epilog does: wait for squeue to let it go too.
            if [ -z "$(squeue -h -j "$id" -o %A 2>/dev/null)" ]; then
                echo "${state:-UNKNOWN}"
                [ "$state" = COMPLETED ]
                return
            fi
            ;;
        esac
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "${state:-UNKNOWN}"
            diag "job_wait: job $id still ${state:-unknown} after ${2:-60} s"
            return 1
        fi
        sleep 0.1
    done
}

# job_run USER SBATCH_ARGS...: submits a batch job as USER and waits for it and its epilog
# (CLUSTER_TIMEOUT seconds at most); prints the job id; returns what `sbatch --wait` would: the
# job's exit status, or 1 if it was killed by a signal, cancelled, held or still running.
# Polls every 0.1 s where sbatch --wait sleeps 2 s.
job_run() {
    local user=$1 out id state code
    shift
    out=$(run_as "$user" sbatch --parsable "$@") || return 1
    id=${out%%;*}
    echo "$id"
    state=$(job_wait "$id" "${CLUSTER_TIMEOUT:-120}")
    code=$(job_field "$id" ExitCode)
    case $state:$code in
    COMPLETED:* | FAILED:[0-9]*:0) return "${code%%:*}" ;;
    *) return 1 ;;
    esac
}

# cluster_mpi_program: builds (once per cluster) an MPI program whose ranks sum rank+1 with
# MPI_Allreduce; rank 0 prints "ranks=N sum=S". Prints the program's path.
cluster_mpi_program() {
    local prog=$CLUSTER_DIR/bin/mpi-allreduce
    if [ ! -x "$prog" ]; then
        cat >"$prog.c" <<'EOF'
#include <mpi.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    int rank, size, mine, sum = 0;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    mine = rank + 1;
    MPI_Allreduce(&mine, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("ranks=%d sum=%d\n", size, sum);
    MPI_Finalize();
    return 0;
}
EOF
        mpicc -O2 -o "$prog" "$prog.c" >&2 || return 1
        chmod 0755 "$prog"
    fi
    echo "$prog"
}

# cluster_restart_slurmd: start slurmd again, as after a crash (stopping it first if it still
# runs), and wait until it listens. Running jobs' slurmstepd processes outlive slurmd.
cluster_restart_slurmd() {
    _cluster_stop_pids "${CLUSTER_SLURMD_PIDS[@]}"
    _cluster_start_slurmd
}

# Every node's slurmd, again.
_cluster_start_slurmd() {
    local -a ports
    mapfile -t ports < <(_cluster_slurmd_ports)
    _cluster_start_slurmds -restart "${ports[@]}"
}

# cluster_restart_slurmctld [--forget]: stop slurmctld (by its pid) and start it again, and wait
# until the node is back. With --forget its saved state is wiped first, as a controller that lost
# its disk: it knows no job, no epilog is ever sent for the jobs it had, and job ids start again
# at FirstJobId.
cluster_restart_slurmctld() {
    _cluster_stop_pids "$CLUSTER_SLURMCTLD_PID"
    _cluster_start_slurmctld "$@" && cluster_wait_idle 60
}

_cluster_start_slurmctld() {
    local port
    if [ "${1:-}" = --forget ]; then
        rm -rf "${CLUSTER_DIR:?}/state" && mkdir -m 0755 "$CLUSTER_DIR/state" || return 1
    fi
    port=$(sed -n 's/^SlurmctldPort=//p' "$SLURM_CONF")
    _cluster_spawn "$CLUSTER_DIR/log/slurmctld-restart.out" slurmctld -D -f "$SLURM_CONF"
    CLUSTER_SLURMCTLD_PID=$!
    _cluster_wait_up 30 _cluster_port_is_listening "$port" ||
        { _cluster_fail "slurmctld did not listen on port $port after a restart"; return 1; }
}

# job_lost JOBID: the job vanishes with no one left to run its epilog, on every release: slurmd
# stops, the job is crashed (job_crash), slurmctld restarts without its state, then slurmd
# starts again. (A job_crash alone is not enough from 26.05 on: slurmd notices its slurmstepds
# die and runs the job's epilog itself.)
job_lost() {
    local -a pids
    read -r -a pids <<<"$(_cluster_job_pids "$1")"
    _cluster_stop_pids "${CLUSTER_SLURMD_PIDS[@]}"
    CLUSTER_SLURMD_PID= CLUSTER_SLURMD_PIDS=() # stopped on purpose: not daemons that died
    _cluster_kill_job "$1" "${pids[@]}" || return 1
    _cluster_stop_pids "$CLUSTER_SLURMCTLD_PID"
    CLUSTER_SLURMCTLD_PID=
    _cluster_start_slurmctld --forget && _cluster_start_slurmd && cluster_wait_idle 60
}

# job_crash JOBID: SIGKILL to the job's processes on this node and to the slurmstepd processes
# that run its steps (extern step included), as a node-side crash would (up to 25.11 no epilog
# runs for it while slurmctld does not know; 26.05's slurmd runs it: see job_lost). Fails if no
# process of the job was found.
job_crash() {
    local -a pids
    read -r -a pids <<<"$(_cluster_job_pids "$1")"
    _cluster_kill_job "$1" "${pids[@]}"
}

# The pids of job JOBID's processes on this node (scontrol listpids) and of every slurmstepd of
# the job, the extern step's included (it runs no task, so listpids does not name it): each sets
# its title to "slurmstepd: [JOBID.STEP]", and job ids are this cluster's own.
_cluster_job_pids() {
    local pid f title
    local -a pids=()
    for pid in $(scontrol listpids "$1" 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+$/ { print $1 }'); do
        pids+=("$pid")
    done
    for f in /proc/[0-9]*/cmdline; do
        title=
        read -r -d '' title <"$f" 2>/dev/null
        case $title in "slurmstepd: [$1."*) pid=${f#/proc/} && pids+=("${pid%/cmdline}") ;; esac
    done
    echo "${pids[*]}"
}

# _cluster_kill_job JOBID PID...: SIGKILL to the PIDs, and wait until they are gone.
_cluster_kill_job() {
    local id=$1
    shift
    [ "$#" -gt 0 ] || { diag "job_crash: no process of job $id found"; return 1; }
    kill -KILL "$@" 2>/dev/null
    wait_for 10 _cluster_all_dead "$@"
}
