#!/bin/bash
# An admin's story: with the companion plugin (JobContainerType=job_container/isolation up to
# Slurm 25.05, NamespaceType=namespace/isolation from 25.11), what Slurm itself does for a job
# lands in the job's namespace: sbcast and srun --bcast deliver into the job's /tmp and /dev/shm,
# where its tasks see them, and never into the node's. The SPANK plugin does not enter the
# namespace a second time (the tasks run, in one namespace, not the node's), a job with profile
# none keeps the node's view (slurmd's log says so), Slurm's own prolog and epilog calls stay in
# the node's view (on 22.05 they too ask to join), and nothing is left after the jobs.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"
. "$top_srcdir/t/lib/isolation.sh"

reason=$(iso_can_run) || skip_all "$reason"
version=$(cluster_slurm_version) || skip_all "cannot read slurmd's version"
iso_companion_can_run >/dev/null || skip_all "$(iso_companion_can_run)"
key=$ISO_COMPANION_KEY plugin=$ISO_COMPANION_TYPE

policy="$ISO_STRICT_POLICY
    env: {TMPDIR: /tmp}"

iso_companion_start "$policy" || bail_out "cannot start the test cluster"
cluster_add_user isoA isogrpA || bail_out "cannot create users"
ok $(grep -q "^$key=$plugin\$" "$SLURM_CONF"; echo $?) "the cluster runs $plugin (Slurm $version)"
hostns=$(iso_host_ns)
n=$CLUSTER_ID

# --- sbcast inside an allocation ------------------------------------------------------------------
out=$(run_as isoA salloc -Q -n1 sh -c "sbcast -f /bin/true /tmp/exe.$n && sbcast -f /bin/true /dev/shm/exe.$n &&
    srun -Q sh -c 'ls /tmp/exe.$n /dev/shm/exe.$n && /tmp/exe.$n && echo ran; readlink /proc/self/ns/mnt'" \
    </dev/null 2>&1)
like "$out" "^/tmp/exe\.$n\$" "sbcast to /tmp delivers into the job's /tmp: its tasks see the file"
like "$out" "^/dev/shm/exe\.$n\$" "...and to /dev/shm into the job's /dev/shm"
like "$out" '^ran$' "...and the task runs it"
ns=$(grep -m1 '^mnt:' <<<"$out")
ok $([ -n "$ns" ] && [ "$ns" != "$hostns" ]; echo $?) "...in the job's namespace, not the node's (${ns:-none})"
ok $([ ! -e "/tmp/exe.$n" ] && [ ! -e "/dev/shm/exe.$n" ]; echo $?) \
    "...and nothing reached the node's /tmp or /dev/shm"

# --- srun --bcast ---------------------------------------------------------------------------------
out=$(run_as isoA srun -Q -n2 --bcast="/tmp/bc.$n" /bin/sh -c \
    "ls /tmp/bc.$n; readlink /proc/self/ns/mnt" </dev/null 2>&1)
like "$out" "^/tmp/bc\.$n\$" "srun --bcast=/tmp/...: the program is broadcast into the job's /tmp and run"
is "$(grep '^mnt:' <<<"$out" | sort -u | wc -l)" 1 "...and both tasks share one namespace (entered once)"
ok $(! grep -qxF "$hostns" <<<"$out"; echo $?) "...which is not the node's"
ok $([ ! -e "/tmp/bc.$n" ]; echo $?) "...and the node's /tmp has no copy"

# --- a job with profile none --------------------------------------------------------------------------
out=$(run_as isoA salloc -Q -n1 --isolation=none sh -c "sbcast -f /bin/true /tmp/none.$n &&
    srun -Q --isolation=none sh -c 'ls /tmp/none.$n; readlink /proc/self/ns/mnt'" </dev/null 2>&1)
like "$out" "^/tmp/none\.$n\$" "profile none: sbcast delivers into the node's /tmp, which the job sees"
ok $(grep -qxF "$hostns" <<<"$out"; echo $?) "...and the job runs in the node's namespace"
ok $([ -e "/tmp/none.$n" ]; echo $?) "...where the file is"
rm -f "/tmp/none.$n"
like "$(cat "$(cluster_log slurmd)")" "$plugin: job [0-9]+ is not isolated \(profile none\)" \
    "...and slurmd's log says the job keeps the node's view"

# --- a job whose isolation failed: sbcast delivers nothing, to the node's view least of all ------
iso_broken_setup isoA || bail_out "cannot make the broken profile's directory"
out=$(run_as isoA salloc -Q -n1 --isolation=broken sbcast -f /bin/true "/tmp/failed.$n" </dev/null 2>&1)
ok $([ ! -e "/tmp/failed.$n" ]; echo $?) "a job whose isolation failed: sbcast writes nothing to the node's /tmp"
like "$(cat "$(cluster_log slurmd)")" "cannot join job [0-9]+: job [0-9]+: its isolation failed" \
    "...and slurmd's log says why"
rm -f "/tmp/failed.$n"

# --- slurmstepd, and the files it opens --------------------------------------------------------------
# From 23.02 slurmd joins each step's slurmstepd before it execs it: the whole step (its output
# files, its PMIx directory) is in the job's namespace. 22.05 joins only the step's processes.
rm -f "/home/isoA/held.$n" "/home/isoA/go.$n" "/home/isoA/ns.$n"
id=$(run_as isoA sbatch --parsable -n1 -o /dev/null --wrap "srun -Q sh -c 'readlink /proc/self/ns/mnt >ns.$n
    touch held.$n; for i in \$(seq 600); do [ -e go.$n ] && break; sleep 0.1; done'")
wait_for 60 test -e "/home/isoA/held.$n"
stepd=''
for f in /proc/[0-9]*/cmdline; do
    [[ "$(tr '\0' ' ' <"$f" 2>/dev/null)" == "slurmstepd: [$id.0]"* ]] && stepd=${f%/cmdline} && break
done
stepns=$(readlink "$stepd/ns/mnt" 2>&1)
if cluster_slurm_at_least 23.02; then
    is "$stepns" "$(cat "/home/isoA/ns.$n")" "the step's slurmstepd runs in the job's namespace ($stepd)"
    ok $([ "$stepns" != "$hostns" ]; echo $?) "...which is not the node's"
else
    is "$stepns" "$hostns" "22.05: the step's slurmstepd stays in the node's view ($stepd)"
    ok $([ "$(cat "/home/isoA/ns.$n")" != "$hostns" ]; echo $?) "...while its task is in the job's namespace"
fi
touch "/home/isoA/go.$n"
is "$(job_wait "$id" 60)" COMPLETED "...and the job completes"

# (srun writes its own --output on the submitting host; a batch job's is opened by its slurmstepd.)
cluster_slurm_at_least 23.02 || todo "22.05 opens a batch job's output files in the node's view"
rm -f "/home/isoA/seen.$n"
id=$(run_as isoA sbatch --parsable -n1 -o "/tmp/out.$n" -e "/tmp/err.$n" \
    --wrap "echo written; echo oops >&2; cat /tmp/out.$n /tmp/err.$n >seen.$n")
job_wait "$id" 60 >/dev/null
out=$(cat "/home/isoA/seen.$n" 2>&1)
like "$out" '^written$' "sbatch --output=/tmp/...: the file is in the job's /tmp"
like "$out" '^oops$' "...and so is --error's"
ok $([ ! -e "/tmp/out.$n" ] && [ ! -e "/tmp/err.$n" ]; echo $?) "...and neither is in the node's /tmp"
todo ""
rm -f "/tmp/out.$n" "/tmp/err.$n"

# A whole step in the job's namespace still gets its profile's size and environment.
out=$(run_as isoA srun -Q -n1 --mem=200M sh -c 'df -k --output=size /dev/shm | tail -n1; echo "T=$TMPDIR"' \
    </dev/null 2>&1)
like "$out" '^ *102400$' "/dev/shm of size 50% is half the job's memory (200M)"
like "$out" '^T=/tmp$' "...and the profile's environment is set"

if reason=$(cluster_can_mpi); then
    mpi=$(run_as isoA srun -Q --mpi=pmix -n2 "$(cluster_mpi_program)" </dev/null 2>&1)
    like "$mpi" 'sum=3' "an Open MPI allreduce over 2 ranks works with the companion"
else
    skip "MPI: $reason"
fi

node_stays_up "the node is not drained"
wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
is "$(iso_leftovers)" "" "after the jobs nothing is left under the instance base (the epilog ran in the node's view)"
done_testing
