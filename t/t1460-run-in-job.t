#!/bin/bash
# An admin's story on Slurm 24.05 and later: PrologFlags=RunInJob runs the node's Prolog and
# Epilog scripts from the job's extern slurmstepd instead of from slurmd, and then Slurm calls no
# plugin's job_prolog or job_epilog at all. The admin makes Prolog and Epilog run
# `isolationctl prolog` and `isolationctl epilog` (spank-isolation(8)), which do the plugin's
# work with the partition Slurm trusts (the Prolog's environment, from the job's credential).
# Every job then gets its namespace from the prolog: no step builds it on the fallback path
# (which trusts no partition), since slurmd starts no step before the prolog has run. The
# default profile here is allowed in the job's partition only, so a job built on the fallback
# path would fail, saying so. Without those scripts, jobs fail closed, saying what to set, and
# the node stays up.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"
. "$top_srcdir/t/lib/isolation.sh"

reason=$(iso_can_run) || skip_all "$reason"
version=$(cluster_slurm_version) || skip_all "cannot read slurmd's version"
cluster_slurm_at_least 24.05 || skip_all "PrologFlags=RunInJob is Slurm 24.05 or later; this is $version"

policy='version: 1
instance_base: @CLUSTER_DIR@/isolation
default_profile: strict
allowed_profiles: [strict]
profiles:
  strict:
    polydirs:
      - {path: /tmp, backing: disk, scope: job}
      - {path: /dev/shm, backing: tmpfs, scope: job, size: 50%}
    env: {TMPDIR: /tmp}
  debug-only:
    inherits: strict
    env: {ISO_PROFILE: debug-only}
partitions:
  debug: {default_profile: debug-only, allowed_profiles: [debug-only]}'

ctl=${ISOLATIONCTL:-$top_builddir/cmd/isolationctl}
scripts="Prolog=@CLUSTER_DIR@/bin/prolog
Epilog=@CLUSTER_DIR@/bin/epilog"
iso_cluster_start "$policy" --prolog-flags Alloc,Contain,RunInJob --conf-extra "$scripts" \
    --file bin/prolog "#!/bin/sh
exec $ctl prolog --policy @CLUSTER_DIR@/isolation.yaml" \
    --file bin/epilog "#!/bin/sh
exec $ctl epilog --policy=@CLUSTER_DIR@/isolation.yaml 2>>@CLUSTER_DIR@/epilog.err" ||
    bail_out "cannot start the test cluster"
chmod 0755 "$CLUSTER_DIR/bin/prolog" "$CLUSTER_DIR/bin/epilog"
# Writable by all: Slurm 24.05 to 25.11 can run an Epilog as the job's user (isolationctl(1)).
install -m 0666 /dev/null "$CLUSTER_DIR/epilog.err"
cluster_add_user isoA isogrpA || bail_out "cannot create users"
hostns=$(iso_host_ns)
ok $(grep -q '^PrologFlags=Alloc,Contain,RunInJob$' "$SLURM_CONF"; echo $?) \
    "the cluster runs with PrologFlags=Alloc,Contain,RunInJob (Slurm $version)"

out=$(run_as isoA srun -Q -p debug -n2 -l sh -c 'readlink /proc/self/ns/mnt; echo "P=$ISO_PROFILE"' \
    </dev/null 2>&1 | sort)
ns0=$(sed -n 's/^0: \(mnt:.*\)/\1/p' <<<"$out")
ns1=$(sed -n 's/^1: \(mnt:.*\)/\1/p' <<<"$out")
unlike "$out" 'not allowed|error' "srun: no step was built on the fallback path (it trusts no partition)"
like "$out" '0: P=debug-only' "...the job has its partition's default profile, from the prolog"
ok $([ -n "$ns0" ] && [ "$ns0" = "$ns1" ] && [ "$ns0" != "$hostns" ]; echo $?) \
    "...and both tasks share one namespace, not the node's"

rm -f "/home/isoA/rij.$CLUSTER_ID"
script='echo b >/tmp/b; srun -n2 sh -c "ls /tmp; readlink /proc/self/ns/mnt"; readlink /proc/self/ns/mnt'
id=$(job_run isoA -p debug -n2 -o "rij.$CLUSTER_ID" --wrap "$script")
ok $? "a batch job with a step runs (job $id)"
steps=$(cat "/home/isoA/rij.$CLUSTER_ID" 2>&1)
unlike "$steps" 'not allowed|error' "...with no step built on the fallback path"
ok $([ "$(grep -c '^b$' <<<"$steps")" = 2 ] &&
    [ "$(grep '^mnt:' <<<"$steps" | sort -u | wc -l)" = 1 ]; echo $?) \
    "...and the batch script and its step share /tmp and one namespace"

out=$(run_as isoA salloc -Q -p debug -n1 srun -Q sh -c 'echo "P=$ISO_PROFILE"' </dev/null 2>&1)
like "$out" '^P=debug-only$' "salloc ... srun: the step runs in the prolog's namespace"

# The prolog records the job's extern step as what keeps the job alive (between two steps of an
# allocation no process may be in its namespace; a sweep must not take the job for ended).
rm -f "/home/isoA/held.$CLUSTER_ID" "/home/isoA/go.$CLUSTER_ID"
id=$(run_as isoA sbatch --parsable -p debug -n1 -o /dev/null --wrap "touch held.$CLUSTER_ID
    for i in \$(seq 600); do [ -e go.$CLUSTER_ID ] && break; sleep 0.1; done")
wait_for 60 test -e "/home/isoA/held.$CLUSTER_ID"
holder=$(cat "$(iso_store_dir)/job/$id/holder" 2>&1)
title=$(tr '\0' ' ' <"/proc/${holder%% *}/cmdline" 2>&1)
like "$title" "^slurmstepd: \[$id\.extern\]" \
    "the prolog recorded the job's extern step as what keeps it alive ($holder: $title)"
touch "/home/isoA/go.$CLUSTER_ID"
is "$(job_wait "$id" 60)" COMPLETED "...and the job completes"

wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
# Slurm 24.05 to 25.11 may run an Epilog as the job's user, now and then (the extern step's X11
# shutdown): the epilog then leaves the job to the sweep, saying so.
if [ -n "$(iso_leftovers)" ] && grep -q "Slurm ran the Epilog as the job's user" \
    "$CLUSTER_DIR/epilog.err"; then
    diag "Slurm ran an Epilog as the job's user: $(grep -m1 'Slurm ran' "$CLUSTER_DIR/epilog.err")"
    "$ctl" sweep --policy "$CLUSTER_DIR/isolation.yaml"
fi
is "$(iso_leftovers)" "" "after the jobs the Epilog (or the sweep, after an Epilog run as the user) left nothing under the instance base"
node_stays_up "the node is not drained"
cluster_stop

# --- RunInJob without the scripts ---------------------------------------------------------------
iso_cluster_start "$policy" --prolog-flags Alloc,Contain,RunInJob ||
    bail_out "cannot start the test cluster"
cluster_add_user isoA isogrpA || bail_out "cannot create users"
out=$(run_as isoA srun -Q -p debug -n1 echo ran </dev/null 2>&1)
ok $([ $? -ne 0 ]; echo $?) "without the Prolog script, a job fails closed"
unlike "$out" '^ran$' "...and runs nothing"
like "$out" 'PrologFlags=RunInJob.*"isolationctl prolog" and "isolationctl epilog"' \
    "...saying what the node's Prolog and Epilog must run"
like "$(cat "$(cluster_log slurmd)")" 'no prolog set this job up' "...in slurmd's log too"
wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
is "$(iso_leftovers)" "" "...and leaves nothing under the instance base"
node_stays_up "...and the node is not drained"
done_testing
