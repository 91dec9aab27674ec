#!/bin/bash
# An admin's story (issue 7, item 5): a job leaves 8 chains of 16,400 nested directories in its
# /tmp, deeper than any path can name. The epilog removes all of it, nothing is left under the
# instance base, and another user's job starts as usual: no later prolog walks the trees again.
# How long the other user's srun takes is printed for comparison, never judged.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"
. "$top_srcdir/t/lib/isolation.sh"

reason=$(iso_can_run) || skip_all "$reason"
command -v perl >/dev/null || skip_all "perl is needed to make the deep trees quickly"

policy='version: 1
instance_base: @CLUSTER_DIR@/isolation
default_profile: strict
profiles:
  strict:
    polydirs:
      - {path: /tmp, backing: disk, scope: job}'

CHAINS=8 DEPTH=16400

iso_cluster_start "$policy" || bail_out "cannot start the test cluster"
cluster_add_user isoA isogrpA && cluster_add_user isoB isogrpB || bail_out "cannot create users"

# srun_b_ms: isoB runs `srun true`; prints how long it took in milliseconds, or fails.
srun_b_ms() {
    local t0 t1
    t0=$(date +%s%N)
    run_as isoB srun -Q true </dev/null >/dev/null 2>&1 || return 1
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000))
}

before=$(srun_b_ms) || bail_out "isoB's first job failed"

# The job: each chain in a directory of its own under /tmp, made by relative mkdir and chdir.
cat >/home/isoA/deep.sh <<EOF
#!/bin/bash
for c in \$(seq $CHAINS); do
    mkdir /tmp/chain\$c && cd /tmp/chain\$c &&
        perl -e 'for (1..$DEPTH) { mkdir("d") && chdir("d") or die "level \$_: \$!" }' ||
        exit 1
done
ls /tmp | wc -l
EOF
chmod 0755 /home/isoA/deep.sh
rm -f /home/isoA/deep.out
id=$(job_run isoA -o /home/isoA/deep.out /home/isoA/deep.sh)
is "$?" 0 "job $id makes $CHAINS chains of $DEPTH directories in its /tmp"
is "$(cat /home/isoA/deep.out 2>&1)" "$CHAINS" "...which the job sees in its /tmp"

wait_for 120 eval '[ -z "$(iso_leftovers)" ]' ||
    diag "still there after 120 s: $(iso_leftovers | head -3)"
is "$(iso_leftovers)" "" "after the job, nothing is left under the instance base"
failed=$(grep -F "$ISO_BASE/" "$(cluster_log slurmd)" | grep -E 'not entered|cannot remove')
is "$(head -3 <<<"$failed")" "" "slurmd's log reports no failed removal"
node_stays_up "the node is not drained"

after=$(srun_b_ms)
ok $? "another user's job starts fine afterwards"
again=$(srun_b_ms)
ok $? "...and the next one too"
diag "isoB's srun true: ${before} ms before the deep job; ${after} ms and ${again} ms after it"
rm -f /home/isoA/deep.sh /home/isoA/deep.out

test_ok "the node ends idle" cluster_wait_idle 60
done_testing
