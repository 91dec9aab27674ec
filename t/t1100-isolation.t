#!/bin/bash
# Users' story: two users run jobs on the same node at the same time. Each job has its own /tmp,
# /var/tmp and /dev/shm, shared by all its tasks and steps and by an MPI program's ranks, and
# nothing of another job or user can be reached. After the jobs, nothing is left on the node.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"
. "$top_srcdir/t/lib/isolation.sh"

reason=$(iso_can_run) || skip_all "$reason"

policy='version: 1
instance_base: @CLUSTER_DIR@/isolation
default_profile: strict
allowed_profiles: [strict, shared-tmp]
profiles:
  strict:
    polydirs:
      - {path: /tmp, backing: disk, scope: job}
      - {path: /var/tmp, backing: disk, scope: job}
      - {path: /dev/shm, backing: tmpfs, scope: job, size: 50%}
    env: {TMPDIR: /tmp}
  shared-tmp:
    inherits: strict
    polydirs:
      - {path: /tmp, backing: disk, scope: user}'

iso_cluster_start "$policy" || bail_out "cannot start the test cluster"
cluster_add_user isoA isogrpA && cluster_add_user isoB isogrpB || bail_out "cannot create users"
hostns=$(iso_host_ns)

# --- one job: every task and step shares the instances ------------------------------------
out=$(run_as isoA srun -Q -n2 -l sh -c 'readlink /proc/self/ns/mnt; echo "TMPDIR=$TMPDIR"' </dev/null | sort)
ns0=$(sed -n 's/^0: \(mnt:.*\)/\1/p' <<<"$out")
ns1=$(sed -n 's/^1: \(mnt:.*\)/\1/p' <<<"$out")
ok $([ -n "$ns0" ] && [ "$ns0" = "$ns1" ]; echo $?) "both tasks of a step are in one mount namespace"
ok $([ "$ns0" != "$hostns" ]; echo $?) "...which is not the node's"
like "$out" '0: TMPDIR=/tmp' "the profile's env reaches the tasks"

rm -f /home/isoA/steps.out
script='echo batch >/tmp/b; echo v >/var/tmp/v; echo s >/dev/shm/s
srun -n2 sh -c "touch /tmp/step1.\$SLURM_PROCID /dev/shm/step1.\$SLURM_PROCID"
srun -n1 sh -c "ls /tmp /var/tmp /dev/shm | tr \"\n\" \" \"; readlink /proc/self/ns/mnt" >steps.out
readlink /proc/self/ns/mnt >>steps.out'
id=$(job_run isoA -n2 --wrap "$script")
ok $? "a batch job with two steps runs (job $id)"
steps=$(cat /home/isoA/steps.out 2>&1)
like "$steps" 'b step1.0 step1.1 ' "the batch script and both steps share /tmp"
like "$steps" ' v ' "...and /var/tmp"
like "$steps" ' s step1.0 step1.1' "...and /dev/shm"
ok $(sed -n '1s/.* mnt:/mnt:/p;2p' /home/isoA/steps.out | uniq | wc -l | grep -qx 1; echo $?) \
    "the batch script and its steps are in the same namespace"
ok $([ ! -e /tmp/b ] && [ ! -e /var/tmp/v ] && [ ! -e /dev/shm/s ]; echo $?) \
    "nothing the job wrote is in the node's own /tmp, /var/tmp or /dev/shm"

# --- two users at once ---------------------------------------------------------------------
rm -f /home/isoA/ready /home/isoA/go
holdA='echo secret >/tmp/secretA; echo secret >/var/tmp/secretA; echo secret >/dev/shm/secretA
chmod 0644 /tmp/secretA; echo $$ >ready
for i in $(seq 300); do [ -e go ] && break; sleep 0.2; done
cat /tmp/secretA'
idA=$(run_as isoA sbatch --parsable -o /home/isoA/holdA.out --wrap "$holdA")
wait_for 60 test -s /home/isoA/ready
pidA=$(cat /home/isoA/ready 2>/dev/null)
ok $([ -n "$pidA" ]; echo $?) "user A's job is running and has written its files (job $idA)"
seen=$(run_as isoB srun -Q -n1 ls -A /tmp /var/tmp /dev/shm </dev/null 2>&1)
unlike "$seen" 'secretA' "user B sees none of A's files in /tmp, /var/tmp, /dev/shm"
seen=$(run_as isoB srun -Q -n1 cat "/proc/$pidA/root/tmp/secretA" </dev/null 2>&1)
like "$seen" 'Permission denied' "user B cannot go through A's task's /proc/PID/root"
seen=$(run_as isoB srun -Q -n1 ls -A "$ISO_BASE" </dev/null 2>&1)
unlike "$seen" '(^|[^a-z])(job|user|\.lock)($|[^a-z])' "user B cannot list the instance base"
test_fails "user B cannot read A's instance from the node either" \
    run_as isoB sh -c "cat $ISO_BASE/job/$idA/tmp/secretA"
touch /home/isoA/go
is "$(job_wait "$idA" 60)" COMPLETED "user A's job completes"
is "$(cat /home/isoA/holdA.out 2>&1)" secret "A's file was there for A all along"

# --- scope: job against scope: user ---------------------------------------------------------
rm -f /home/isoA/go /home/isoA/ready
hold='echo mine >/tmp/marker.$SLURM_JOB_ID; echo $$ >ready
for i in $(seq 300); do [ -e go ] && break; sleep 0.2; done'
id1=$(run_as isoA sbatch --parsable -o /dev/null --wrap "$hold")
wait_for 60 test -s /home/isoA/ready
other=$(run_as isoA srun -Q -n1 ls /tmp </dev/null)
unlike "$other" "marker" "scope: job: two jobs of one user get different /tmp instances"
touch /home/isoA/go
job_wait "$id1" 60 >/dev/null
rm -f /home/isoA/go /home/isoA/ready
id2=$(run_as isoA sbatch --parsable -o /dev/null --isolation=shared-tmp --wrap "$hold")
wait_for 60 test -s /home/isoA/ready
other=$(run_as isoA srun -Q -n1 --isolation=shared-tmp ls /tmp </dev/null)
like "$other" "marker.$id2" "scope: user: two jobs of one user share one /tmp instance"
touch /home/isoA/go
job_wait "$id2" 60 >/dev/null

# --- MPI --------------------------------------------------------------------------------------
if reason=$(cluster_can_mpi); then
    prog=$(cluster_mpi_program)
    mpi=$(run_as isoA srun -Q --mpi=pmix -n2 "$prog" </dev/null 2>&1)
    like "$mpi" 'sum=3' "an Open MPI allreduce over 2 ranks gives the right sum under isolation"
    unlike "$mpi" 'shared memory|system call failed' "...with no shared-memory warning"
    # slurmstepd makes the step's PMIx client directory before the tasks enter the namespace: in
    # the job's shared directory, which they see at the same path, not in the node's /tmp.
    share="$CLUSTER_DIR/isolation/job/[0-9]+/slurm-pmix"
    pmix=$(run_as isoA srun -Q --mpi=pmix -n1 sh -c 'echo "dir=$SLURM_PMIX_TMPDIR"
        ls -d "$SLURM_PMIX_TMPDIR"/spmix_appdir_* /tmp/spmix_appdir_* 2>/dev/null; true' </dev/null 2>&1)
    like "$pmix" "dir=$share\$" "the step's SLURM_PMIX_TMPDIR is the job's shared directory"
    like "$pmix" "^$share/spmix_appdir_$(id -u isoA)_[0-9]+\.0\$" \
        "...where slurmstepd made the step's PMIx client directory, reached inside the namespace"
    unlike "$pmix" '^/tmp/spmix_appdir' "...and none is in the job's /tmp"
else
    for _ in 1 2 3 4 5; do skip "MPI: $reason"; done
fi

# --- sizes --------------------------------------------------------------------------------------
is "$(run_as isoA srun -Q --mem=200M df -k --output=size /dev/shm </dev/null | tail -n1 | tr -d ' ')" \
    102400 "/dev/shm of size 50% is half the job's memory (200M), not the node's"

# --- many tasks -------------------------------------------------------------------------------
many=$(run_as isoA srun -Q -n32 --overcommit readlink /proc/self/ns/mnt </dev/null | sort | uniq -c)
like "$many" '^ *32 mnt:' "32 tasks of one step all enter the same namespace"

# --- nothing left -----------------------------------------------------------------------------
wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
left=$(iso_leftovers)
is "$left" "" "after the jobs, no instance, pin or mount is left under the instance base"
test_ok "the node is idle" cluster_wait_idle 60

done_testing
