#!/bin/bash
# The test cluster itself, without the plugin: an admin brings up a private Slurm on localhost,
# a user runs srun, sbatch, salloc and an MPI job on it, and after the teardown nothing is left:
# no daemon, no job process, no mount, no test user.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"

reason=$(cluster_can_run) || skip_all "$reason"

# A job left running, for cluster_stop to cancel.
leave_a_job() {
    local id
    id=$(run_as isoA sbatch --parsable --wrap 'sleep 300') &&
        wait_for 20 eval '[ "$(job_state '"$id"')" = RUNNING ]'
}

# Mounts left under the private directory (a tmpfs with a bind mount inside), for cluster_stop.
leave_mounts() {
    mkdir "$CLUSTER_DIR/mnt" && mount -t tmpfs tmpfs "$CLUSTER_DIR/mnt" &&
        mkdir "$CLUSTER_DIR/mnt/sub" && mount --bind "$CLUSTER_DIR/bin" "$CLUSTER_DIR/mnt/sub"
}

# The live (not zombie) processes of a uid, read from /proc.
uid_processes() {
    local f key val rest state uid
    for f in /proc/[0-9]*/status; do
        state='' uid=
        {
            while read -r key val rest; do
                case $key in
                State:) state=$val ;;
                Uid:) uid=$val && break ;;
                esac
            done <"$f"
        } 2>/dev/null
        [ "$uid" != "$1" ] || [ "$state" = Z ] || echo "${f//[^0-9]/}"
    done
}

test_ok "a test user in a test group, before the cluster starts" cluster_add_user isoA isogrpA
cluster_start --conf-extra 'PartitionName=private Nodes=ALL AllowGroups=isogrpB State=UP' ||
    bail_out "cannot start the test cluster"
ok 0 "the cluster starts (node $CLUSTER_NODE idle after ${CLUSTER_START_SECONDS} s)"
test_ok "another one once it runs" cluster_add_user isoB isogrpB
like "$(run_as isoA id -Gn)" '(^| )isogrpA( |$)' "run_as runs commands as the user, in their groups"
test_ok "a partition for a group joined after the start admits its members" \
    run_as isoB srun -Q -p private true </dev/null
test_fails "and no one else" run_as isoA srun -Q -p private true </dev/null 2>/dev/null

host=$(hostname)
is "$(run_as isoA srun -Q -n2 hostname </dev/null)" "$host
$host" "srun -n2 hostname prints two lines"

# Other tests running now may share isoA's home: file names carry the cluster's id.
out=whoami.$CLUSTER_ID
id=$(run_as isoA sbatch --parsable --wait --wrap "id -un > $out")
ok $? "sbatch --wait --wrap succeeds (job $id)"
is "$(cat "/home/isoA/$out" 2>&1)" isoA "the batch job ran as the user, in their home"
is "$(job_wait "$id" 60)" COMPLETED "job_wait reports the job COMPLETED"
test_ok "the node is idle after the job" cluster_wait_idle 60
id=$(job_run isoA --wrap 'exit 3')
is "$? $(job_state "$id")" "3 FAILED" "job_run returns the job's exit status"

is "$(run_as isoA salloc -Q -n1 srun -Q hostname </dev/null 2>/dev/null)" "$host" \
    "salloc ... srun runs a step"
test_ok "a job in the gpu partition, with --mem" \
    run_as isoA srun -Q -p gpu -n1 --mem=100M true </dev/null

if reason=$(cluster_can_mpi); then
    prog=$(cluster_mpi_program)
    out=$(run_as isoA srun -Q --mpi=pmix -n2 "$prog" </dev/null 2>&1)
    is "$out" "ranks=2 sum=3" "an MPI allreduce over 2 tasks with --mpi=pmix, and no warning"
    out=$(run_as isoA env OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader \
        srun -Q --mpi=pmix -n2 "$prog" </dev/null 2>&1)
    is "$out" "ranks=2 sum=3" "the same over the shared-memory transport only (btl vader)"
else
    skip "$reason"
    skip "$reason"
fi

test_ok "srun -n32 --overcommit true" run_as isoA srun -Q -n32 --overcommit true </dev/null
test_ok "the node is idle again" cluster_wait_idle 60

test_ok "a running job left behind" leave_a_job
if unshare -m true 2>/dev/null; then
    test_ok "mounts left behind" leave_mounts
else
    skip "cannot mount here (no CAP_SYS_ADMIN)"
fi
dir=$CLUSTER_DIR
daemons=$(cluster_pids)
uid=$(id -u isoA)
t0=${EPOCHREALTIME/[.,]/}
cluster_stop
diag "cluster_stop took $(((${EPOCHREALTIME/[.,]/} - t0) / 1000)) ms"
alive=
for pid in $daemons; do
    kill -0 "$pid" 2>/dev/null && alive="$alive $pid"
done
is "$alive" "" "no daemon left ($daemons)"
is "$(mounts_under "$dir")" "" "nothing mounted under $dir"
test_fails "the private directory is gone" test -e "$dir"
if compgen -G "$CLUSTER_BASE/accounts/user.isoA/*" >/dev/null; then
    skip "user isoA is still used by another test running now"
    skip "user isoA is still used by another test running now"
else
    test_fails "user isoA is removed" getent passwd isoA
    # Zombies do not count: an init that is slow to reap them is not our business.
    is "$(uid_processes "$uid")" "" "no process of isoA's uid $uid is left"
fi
cluster_stop
ok $? "cluster_stop again does nothing"

done_testing
