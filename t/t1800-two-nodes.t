#!/bin/bash
# Users' story on a two-node cluster (two slurmds on this host, `slurmd -N NAME`): a job that
# spans both nodes gets one namespace and one set of instances per node, under that node's own
# instance base (instance_base names the node: %n). What a task writes on one node is not seen
# on the other, MPI works across both, /dev/shm is sized from each node's share of the job's
# memory, and after the job nothing is left under either base.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"
. "$top_srcdir/t/lib/isolation.sh"

reason=$(iso_can_run) || skip_all "$reason"

policy='version: 1
instance_base: @CLUSTER_DIR@/isolation/%n
default_profile: strict
profiles:
  strict:
    polydirs:
      - {path: /tmp, backing: disk, scope: job}
      - {path: /dev/shm, backing: tmpfs, scope: job, size: 50%}
    env: {TMPDIR: /tmp}'

cluster_add_user isoA isogrpA || bail_out "cannot create users"
iso_cluster_start "$policy" --nodes 2 --prolog-flags Alloc,Contain ||
    bail_out "cannot start a two-node test cluster"
hostns=$(iso_host_ns)
n1=${CLUSTER_NODES[0]} n2=${CLUSTER_NODES[1]}
base1=$CLUSTER_DIR/isolation/$n1 base2=$CLUSTER_DIR/isolation/$n2

# leftovers_on NODE: iso_leftovers for that node's base.
leftovers_on() { (ISO_BASE=$CLUSTER_DIR/isolation/$1 && iso_leftovers); }
no_leftovers() { [ -z "$(leftovers_on "$n1")$(leftovers_on "$n2")" ]; }

ok 0 "two nodes ($n1, $n2) on this host are idle after ${CLUSTER_START_SECONDS} s"

# --- one step over both nodes --------------------------------------------------------------
out=$(run_as isoA srun -Q -N2 -n2 -l sh -c 'echo "$SLURMD_NODENAME $(readlink /proc/self/ns/mnt)"' \
    </dev/null | sort)
line0=$(sed -n 's/^0: //p' <<<"$out") line1=$(sed -n 's/^1: //p' <<<"$out")
is "${line0%% *} ${line1%% *}" "$n1 $n2" "srun -N2 -n2 runs one task on each node"
ns0=${line0#* } ns1=${line1#* }
ok $([ -n "$ns0" ] && [ -n "$ns1" ] && [ "$ns0" != "$ns1" ]; echo $?) \
    "the two nodes' tasks are in two different mount namespaces"
ok $([ "$ns0" != "$hostns" ] && [ "$ns1" != "$hostns" ]; echo $?) "...neither of them the host's"

# --- a job's files stay on their node ------------------------------------------------------
res=two-nodes.$CLUSTER_ID
rm -f "/home/isoA/$res" "/home/isoA/go.$CLUSTER_ID" "/home/isoA/ready.$CLUSTER_ID"
script="srun -N2 -n2 sh -c 'echo \$SLURMD_NODENAME >/tmp/from.\$SLURMD_NODENAME'
srun -N2 -n2 -l sh -c 'echo \$SLURMD_NODENAME: \$(ls /tmp | tr \"\\n\" \" \")' | sort >$res
touch ready.$CLUSTER_ID
for i in \$(seq 300); do [ -e go.$CLUSTER_ID ] && break; sleep 0.2; done"
id=$(run_as isoA sbatch --parsable -N2 -n2 -o /dev/null --wrap "$script")
ok $? "a two-node batch job is submitted (job $id)"
wait_for 60 test -e "/home/isoA/ready.$CLUSTER_ID" || diag "job $id: $(job_state "$id")"
seen=$(cat "/home/isoA/$res" 2>&1)
like "$seen" "^0: $n1: from\\.$n1\$" "a later step on $n1 sees what $n1's task wrote, and only that"
like "$seen" "^1: $n2: from\\.$n2\$" "...and on $n2, what $n2's task wrote"
ok $([ -d "$base1/job/$id" ] && [ -d "$base2/job/$id" ]; echo $?) \
    "each node has the job's instances under its own base ($n1, $n2)"
ok $([ ! -e "$CLUSTER_DIR/isolation/$CLUSTER_HOST" ]; echo $?) \
    "...and no node used the host's name ($CLUSTER_HOST) for its base"
ok $([ -d "$(iso_store_dir "$base1")/job/$id" ] && [ -d "$(iso_store_dir "$base2")/job/$id" ]
echo $?) "...and its own records"
touch "/home/isoA/go.$CLUSTER_ID"
is "$(job_wait "$id" 60)" COMPLETED "the job completes"
rm -f "/home/isoA/$res" "/home/isoA/go.$CLUSTER_ID" "/home/isoA/ready.$CLUSTER_ID"
wait_for 30 no_leftovers
is "$(leftovers_on "$n1")" "" "after the job, nothing of it is left under $n1's base"
is "$(leftovers_on "$n2")" "" "...nor under $n2's"

# --- the job's environment does not choose the base ------------------------------------------
# Until the tasks start, the job's SLURMD_NODENAME is the user's: it must not pick a base.
out=$(run_as isoA env SLURMD_NODENAME=elsewhere srun -Q -N2 -n2 -l sh -c 'ls /tmp | wc -l' \
    </dev/null 2>&1)
like "$out" '^0: 0$' "a user's SLURMD_NODENAME changes nothing: the job runs isolated"
ok $([ ! -e "$CLUSTER_DIR/isolation/elsewhere" ]; echo $?) "...under the nodes' own bases"

# --- sizes from each node's share --------------------------------------------------------------
out=$(run_as isoA srun -Q -N2 -n3 --mem-per-cpu=100M -l sh -c \
    'echo "$SLURMD_NODENAME $(df -k --output=size /dev/shm | tail -n1 | tr -d " ")"' </dev/null | sort -u)
like "$out" "^0: $n1 102400\$" "/dev/shm on $n1 (2 tasks of 100M each) is half of its 200M"
like "$out" "^2: $n2 51200\$" "...and on $n2 (1 task) half of its 100M"

# --- MPI across both nodes ---------------------------------------------------------------------
if reason=$(cluster_can_mpi); then
    prog=$(cluster_mpi_program)
    mpi=$(run_as isoA srun -Q --mpi=pmix -N2 -n4 "$prog" </dev/null 2>&1)
    like "$mpi" 'ranks=4 sum=10' "an Open MPI allreduce over 4 ranks on 2 nodes works under isolation"
    unlike "$mpi" 'shared memory|system call failed' "...with no shared-memory warning"
else
    skip "MPI: $reason"
    skip "MPI: $reason"
fi

# --- slurmd's start ---------------------------------------------------------------------------
# Instances no record names (a reboot emptied /run) are swept when slurmd starts: each slurmd
# finds its own node's base from its command line (-N NAME).
mkdir -p "$base1/job/424242/tmp" "$base2/job/424243/tmp"
test_ok "both slurmds restart" cluster_restart_slurmd
wait_for 30 eval '[ ! -e "$base1/job/424242" ] && [ ! -e "$base2/job/424243" ]'
ok $([ ! -e "$base1/job/424242" ]; echo $?) "$n1's slurmd sweeps its own base at its start"
ok $([ ! -e "$base2/job/424243" ]; echo $?) "...and $n2's, its own"
test_ok "both nodes are back" cluster_wait_idle 60

# --- nothing left ------------------------------------------------------------------------------
wait_for 30 no_leftovers
is "$(leftovers_on "$n1")" "" "after every job, no instance, pin or mount is left under $n1's base"
is "$(leftovers_on "$n2")" "" "...nor under $n2's"
test_ok "both nodes are idle" cluster_wait_idle 60

done_testing
