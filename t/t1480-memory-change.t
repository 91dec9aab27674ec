#!/bin/bash
# A user's story on Slurm 26.05 and later, which lets an admin lower a running job's memory
# (scontrol update MinMemoryNode=; only a reduction, for a running job): a /dev/shm sized 50%
# follows the job's memory at its next step, so a job cannot keep shared memory it no longer
# has (Slurm wants the job's extern step for it: PrologFlags=Contain). The batch script sees
# the same instance shrink; files already there stay. A reduction below what the instance holds
# leaves the size as it was and says so in slurmd's log.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"
. "$top_srcdir/t/lib/isolation.sh"

reason=$(iso_can_run) || skip_all "$reason"
version=$(cluster_slurm_version) || skip_all "cannot read slurmd's version"
cluster_slurm_at_least 26.05 ||
    skip_all "lowering a running job's memory is Slurm 26.05 or later; this is $version"

policy='version: 1
instance_base: @CLUSTER_DIR@/isolation
default_profile: shm
allowed_profiles: [shm]
profiles:
  shm:
    polydirs:
      - {path: /dev/shm, backing: tmpfs, scope: job, size: 50%}'

iso_cluster_start "$policy" --prolog-flags Alloc,Contain || bail_out "cannot start the test cluster"
cluster_add_user isoA isogrpA || bail_out "cannot create users"

# A step of the running job. Slurm revokes the job's credentials when its memory changes, and
# refuses a step whose credential was made in that same second ("Invalid job credential"): such
# a step is tried again, for a bounded while, until Slurm takes it.
step() {
    local out rc i
    for i in $(seq 40); do
        out=$(run_as isoA srun -Q --jobid="$id" --overlap -n1 --mem=0 "$@" </dev/null 2>&1)
        rc=$?
        case $out in *"Invalid job credential"*) sleep 0.5 ;; *) break ;; esac
    done
    printf '%s\n' "$out"
    return $rc
}
# The size of the job's /dev/shm in KiB, as a new step sees it.
shm() { step df -k --output=size /dev/shm | tail -n1 | tr -d ' '; }
# The job's memory per node, as the controller has it (e.g. 200M).
mem_of() { job_field "$1" MinMemoryNode; }

hold='touch held.@ID@; for i in $(seq 1200); do [ -e go.@ID@ ] && break; sleep 0.1; done
df -k --output=size /dev/shm | tail -n1 | tr -d " " >size.@ID@'
script=${hold//@ID@/$CLUSTER_ID}
rm -f /home/isoA/{held,go,size}."$CLUSTER_ID"
id=$(run_as isoA sbatch --parsable -o /dev/null -n1 --mem=200M --wrap "$script")
ok $? "a batch job with --mem=200M is submitted (job $id)"
wait_for 60 test -e "/home/isoA/held.$CLUSTER_ID"
is "$(shm)" 102400 "its first step sees /dev/shm at half its memory: 100M"

out=$(scontrol update jobid="$id" MinMemoryNode=100 2>&1)
ok $? "the admin lowers the running job's memory to 100M${out:+ ($out)}"
wait_for 30 eval '[ "$(mem_of "$id")" = 100M ]'
is "$(mem_of "$id")" 100M "...and the controller says so"
is "$(shm)" 51200 "the job's next step sees /dev/shm at half its new memory: 50M"

# Fill 30M, then lower the memory to 40M: a 20M /dev/shm cannot hold it, so the size stays.
out=$(step dd if=/dev/zero of=/dev/shm/fill bs=1M count=30 status=none)
ok $? "a step writes 30M into /dev/shm${out:+ ($out)}"
scontrol update jobid="$id" MinMemoryNode=40 >/dev/null 2>&1
wait_for 30 eval '[ "$(mem_of "$id")" = 40M ]'
is "$(shm)" 51200 "lowered to 40M below what /dev/shm holds: it keeps 50M"
like "$(cat "$(cluster_log slurmd)")" "/dev/shm keeps its size" "...and slurmd's log says why"
out=$(step ls -s /dev/shm/fill)
like "$out" '^30720 ' "...and the job's file is whole"

touch "/home/isoA/go.$CLUSTER_ID"
is "$(job_wait "$id" 60)" COMPLETED "the job completes"
is "$(cat "/home/isoA/size.$CLUSTER_ID" 2>&1)" 51200 "...and its batch script saw the same, resized instance"

wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
is "$(iso_leftovers)" "" "after the job nothing is left under the instance base"
node_stays_up "the node is not drained"
done_testing
