#!/bin/bash
# An admin's story: the plugin is added to a node while a job runs there. No prolog ran for that
# job, so the first tasks of its next step build its namespace; they race, and must all end up in
# one namespace. After slurmd is restarted with the plugin, the job's epilog cleans up.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"
. "$top_srcdir/t/lib/isolation.sh"

reason=$(iso_can_run) || skip_all "$reason"

policy='version: 1
instance_base: @CLUSTER_DIR@/isolation
default_profile: strict
profiles:
  strict:
    polydirs:
      - {path: /tmp, backing: disk, scope: job}
      - {path: /dev/shm, backing: tmpfs, scope: job, size: 50%}'

plugin=$(iso_plugin_copy) || bail_out "cannot copy the plugin"
cluster_start --plugstack @CLUSTER_DIR@/plugstack.conf --file plugstack.conf "" \
    --file isolation.yaml "$policy" || bail_out "cannot start the test cluster"
cluster_on_stop rm -f "$plugin"
cluster_on_stop iso_store_cleanup
ISO_POLICY=$CLUSTER_DIR/isolation.yaml
ISO_BASE=$CLUSTER_DIR/isolation
cluster_add_user isoA isogrpA || bail_out "cannot create users"
hostns=$(iso_host_ns)

rm -f "/home/isoA/late.$CLUSTER_ID"
id=$(run_as isoA sbatch --parsable -n4 --overcommit -o /dev/null \
    --wrap "touch /tmp/late.$CLUSTER_ID; sleep 60")
wait_for 30 eval '[ "$(job_state '"$id"')" = RUNNING ]'
is "$(job_state "$id")" RUNNING "a job runs on the node without the plugin (job $id)"

echo "required $plugin policy=$ISO_POLICY" >"$CLUSTER_DIR/plugstack.conf"
test_ok "the admin adds the plugin and restarts slurmd" cluster_restart_slurmd

out=$(run_as isoA srun -Q --jobid="$id" --overlap -n4 --overcommit readlink /proc/self/ns/mnt </dev/null 2>&1)
is "$(sort -u <<<"$out" | wc -l)" 1 "the 4 racing tasks of the next step all enter one namespace"
like "$out" '^mnt:' "...a real one: $(head -n1 <<<"$out")"
unlike "$out" "$hostns" "...not the node's"
again=$(run_as isoA srun -Q --jobid="$id" --overlap -n1 readlink /proc/self/ns/mnt </dev/null 2>&1)
is "$again" "$(head -n1 <<<"$out")" "a later step enters the same namespace"
is "$(run_as isoA srun -Q --jobid="$id" --overlap -n1 ls /tmp </dev/null 2>&1)" "" \
    "the job's /tmp is private from then on (the batch script's file was made before)"
ok $([ -e "/tmp/late.$CLUSTER_ID" ]; echo $?) "the batch script, started unisolated, kept the node's /tmp"
rm -f "/tmp/late.$CLUSTER_ID"

scancel "$id"
is "$(job_wait "$id" 60)" CANCELLED "the job is cancelled"
wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
is "$(iso_leftovers)" "" "its epilog removed what its tasks built"
test_ok "the node is idle" cluster_wait_idle 60
done_testing
