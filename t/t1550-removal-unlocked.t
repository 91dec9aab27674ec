#!/bin/bash
# An admin's story (issue 7, item 4): a job leaves 400,000 files in its /tmp. While its epilog
# deletes them, another user's job ends, and its epilog removes its own instances at once: the
# epilog holds the node-wide store lock only to move a job into the store's trash, not while it
# deletes. Nothing is timed: the other job's instances must be gone while the big job's files are
# still in the trash.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"
. "$top_srcdir/t/lib/isolation.sh"

reason=$(iso_can_run) || skip_all "$reason"
command -v perl >/dev/null || skip_all "perl is needed to make the files quickly"

policy='version: 1
instance_base: @CLUSTER_DIR@/isolation
default_profile: strict
profiles:
  strict:
    polydirs:
      - {path: /tmp, backing: disk, scope: job}'

iso_cluster_start "$policy" || bail_out "cannot start the test cluster"
cluster_add_user isoA isogrpA && cluster_add_user isoB isogrpB || bail_out "cannot create users"

# trash_holds JOBID: the job's directory is in the trash, being deleted.
trash_holds() { compgen -G "$ISO_BASE/trash/$1.*" >/dev/null; }
ready=ready.$CLUSTER_ID go=go.$CLUSTER_ID done=done.$CLUSTER_ID
rm -f "/home/isoB/$ready" "/home/isoB/$go" "/home/isoB/$done"

other=$(run_as isoB sbatch --parsable -o /dev/null \
    --wrap "touch /tmp/mine; echo up >$ready; while [ ! -e $go ]; do sleep 0.1; done; echo ok >$done")
wait_for 60 test -s "/home/isoB/$ready"
ok $? "another user's job runs (job $other)"
big=$(run_as isoA sbatch --parsable -o /dev/null --wrap \
    'perl -e "for \$d (0..399) { mkdir \"/tmp/d\$d\" or die; for \$f (0..999) { open(F, \">/tmp/d\$d/f\$f\") or die; close F } }"')
ok $? "a job that leaves 400,000 files in its /tmp is submitted (job $big)"
wait_for 300 trash_holds "$big"
ok $? "once it has ended, its epilog has moved it into the trash and is deleting it"
touch "/home/isoB/$go"
wait_for 60 eval '[ ! -e "$ISO_BASE/job/$other" ]'
ok $? "meanwhile the other job ends and its epilog takes its instances away"
busy=$(trash_holds "$big" && echo yes)
is "$busy" yes "...while the big job's files are still being deleted: it did not wait for them"
# The other job ran to its end (its state may be forgotten by now: the cluster keeps ended jobs
# 5 s); the big one is still completing while its epilog deletes its files.
is "$(cat "/home/isoB/$done" 2>&1)" ok "the other job ran to its end"
is "$(job_wait "$big" 300)" COMPLETED "the big job completes"
wait_for 300 eval '[ -z "$(iso_leftovers)" ]'
is "$(iso_leftovers)" "" "in the end nothing is left under the instance base"
test_ok "the node ends idle" cluster_wait_idle 60
done_testing
