#!/bin/bash
# An admin's story on Slurm 24.05 and later: PrologFlags=RunInJob runs the prolog (and the
# plugin's job_prolog) from the job's extern slurmstepd, after that step's own init_post_opt,
# instead of from slurmd. Every job must still get its namespace from the prolog, with the
# partition Slurm trusts: no step may build it on the fallback path (which trusts no partition)
# while the prolog is still coming. The default profile here is allowed in the job's partition
# only, so a job built on the fallback path fails, saying so.

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

iso_cluster_start "$policy" --prolog-flags Alloc,Contain,RunInJob ||
    bail_out "cannot start the test cluster"
cluster_add_user isoA isogrpA || bail_out "cannot create users"
hostns=$(iso_host_ns)
ok $(grep -q '^PrologFlags=Alloc,Contain,RunInJob$' "$SLURM_CONF"; echo $?) \
    "the cluster runs with PrologFlags=Alloc,Contain,RunInJob (Slurm $version)"

# Known gap (issue #8): under RunInJob, Slurm 24.11 and 26.05 call no SPANK job_prolog at all
# (nor job_epilog): the extern slurmstepd runs the Prolog script only. Jobs then fail closed,
# the node stays up, and nothing is left behind (checked below, outside the TODO).
todo "Slurm $version calls no SPANK job_prolog under PrologFlags=RunInJob"
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
todo ""

wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
is "$(iso_leftovers)" "" "after the jobs nothing is left under the instance base"
node_stays_up "the node is not drained"
done_testing
