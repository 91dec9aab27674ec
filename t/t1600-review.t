#!/bin/bash
# Three findings of a review, as an admin and a user would meet them:
#  - a hidden path in a directory users may write could be renamed (mv hidden h2) and uncovered:
#    such a policy is refused (the job fails, saying why and what to fix), while a hide under
#    root-only directories holds, and mv inside the job uncovers nothing;
#  - a scope: user /dev/shm sized 50% follows the jobs' memory, not the node's;
#  - a file name with a newline reaches slurmd's log escaped, on one line (the policy loader
#    refuses control bytes in the policy's own paths; users name files in their instances).

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"
. "$top_srcdir/t/lib/isolation.sh"

reason=$(iso_can_run) || skip_all "$reason"

policy='version: 1
instance_base: @CLUSTER_DIR@/isolation
default_profile: closed
allowed_profiles: [closed, open, user-shm]
profiles:
  closed:
    polydirs:
      - {path: /tmp, backing: disk, scope: job}
    hide: [@CLUSTER_DIR@/closed/secret]
  open:
    inherits: closed
    hide: [@CLUSTER_DIR@/open/secret]
  user-shm:
    polydirs:
      - {path: /dev/shm, backing: tmpfs, scope: user, size: 50%}'

iso_cluster_start "$policy" || bail_out "cannot start the test cluster"
cluster_add_user isoA isogrpA || bail_out "cannot create users"
as() { run_as isoA "$@" </dev/null 2>&1; }

# The host side: a root-only directory and one the user may write, each holding a secret.
mkdir -m 0755 "$CLUSTER_DIR/closed" "$CLUSTER_DIR/open" &&
    mkdir -m 0755 "$CLUSTER_DIR/closed/secret" "$CLUSTER_DIR/open/secret" &&
    echo secret >"$CLUSTER_DIR/closed/secret/file" && echo secret >"$CLUSTER_DIR/open/secret/file" &&
    chown isoA "$CLUSTER_DIR/open" || bail_out "cannot create the host directories"

# --- a hide under a directory the user may write ----------------------------------------------
out=$(as srun -Q --isolation=open cat "$CLUSTER_DIR/open/secret/file")
ok $([ $? -ne 0 ]; echo $?) "a hide in a directory the user owns: the job is refused"
unlike "$out" '^secret' "...and reads nothing"
like "$out" "hide \(policy line [0-9]+\): $CLUSTER_DIR/open/secret: directory $CLUSTER_DIR/open \(owner uid [0-9]+, mode 0755\) may be written by users other than root" \
    "...and the user is told which directory and why"
like "$out" "chown root and chmod go-w $CLUSTER_DIR/open" "...and the fix is named"
node_stays_up "...and the node stays up"
like "$(cat "$(cluster_log slurmd)")" "cannot isolate the job: hide \(policy line" "slurmd's log says why"
chmod 1777 "$CLUSTER_DIR/open" && chown root "$CLUSTER_DIR/open"
out=$(as srun -Q --isolation=open true)
like "$out" "directory $CLUSTER_DIR/open \(owner uid 0, mode 1777\).*move the path under directories only root may write" \
    "a sticky world-writable directory (like /tmp) is refused too"
rmdir "$CLUSTER_DIR/open/secret" 2>/dev/null || rm -rf "$CLUSTER_DIR/open/secret"
like "$(as srun -Q --isolation=open true)" "may be written by users other than root" \
    "...even while the hidden path does not exist (a user could make it)"

# --- a hide under root-only directories ------------------------------------------------------------
out=$(as srun -Q sh -c "ls -A $CLUSTER_DIR/closed/secret; echo listed")
like "$out" 'listed' "a hide under root-only directories: the job runs"
unlike "$out" 'file' "...and the hidden directory is empty"
out=$(as srun -Q sh -c "mv $CLUSTER_DIR/closed/secret $CLUSTER_DIR/closed/h2 && echo MOVED; cat $CLUSTER_DIR/closed/h2/file $CLUSTER_DIR/closed/secret/file")
unlike "$out" 'MOVED|^secret' "mv in the job uncovers nothing"
is "$(cat "$CLUSTER_DIR/closed/secret/file")" secret "...and the host's tree is in its place"

# --- a scope: user /dev/shm sized in percent ------------------------------------------------------
shm() { as srun -Q --isolation=user-shm "$@" df -k --output=size /dev/shm | tail -n1 | tr -d ' '; }
is "$(shm --mem=100M)" 51200 "a scope: user 50% /dev/shm is half the job's memory (100M), not the node's"
rm -f /home/isoA/ready /home/isoA/go
id=$(run_as isoA sbatch --parsable -o /dev/null --mem=200M --isolation=user-shm \
    --wrap 'touch ready; for i in $(seq 600); do [ -e go ] && break; sleep 0.1; done')
wait_for 60 test -e /home/isoA/ready
is "$(shm --mem=100M)" 102400 "with a 200M job of the user running, the shared instance keeps 100M (the largest share)"
touch /home/isoA/go
is "$(job_wait "$id" 60)" COMPLETED "the 200M job completes"

# --- a newline in a file name ---------------------------------------------------------------------
# The user names a file with a newline in the job's /tmp; the admin makes it immutable on the host,
# so the epilog cannot remove it and logs its name.
if command -v chattr >/dev/null 2>&1; then
    rm -f /home/isoA/ready /home/isoA/go
    id=$(run_as isoA sbatch --parsable -o /dev/null \
        --wrap 'touch "/tmp/evil
forged: line"; touch ready; for i in $(seq 600); do [ -e go ] && break; sleep 0.1; done')
    wait_for 60 test -e /home/isoA/ready
    evil=$(find "$ISO_BASE/job/$id/tmp" -maxdepth 1 -name 'evil*' -print -quit)
    if [ -n "$evil" ] && chattr +i "$evil" 2>/dev/null; then
        touch /home/isoA/go
        job_wait "$id" 60 >/dev/null
        wait_for 30 grep -q "job $id: cannot remove" "$(cluster_log slurmd)"
        log=$(cat "$(cluster_log slurmd)")
        like "$log" "job $id: cannot remove.*evil\\\\x0aforged: line" \
            "the epilog's error names the user's file with the newline escaped"
        unlike "$log" '(^|\n)forged: line' "...on one line: the user forged no log line"
        # The epilog moved the job into the trash before it tried to remove it.
        evil=$(find "$ISO_BASE/job" "$ISO_BASE/trash" -xdev -name 'evil*' -print -quit)
        chattr -i "$evil"
        rm -rf --one-file-system "$ISO_BASE/job/$id" "$ISO_BASE/trash/$id".*
    else
        touch /home/isoA/go
        job_wait "$id" 60 >/dev/null
        skip "chattr +i does not work on the instance base's file system"
        skip "chattr +i does not work on the instance base's file system"
    fi
else
    skip "chattr not found (e2fsprogs)"
    skip "chattr not found (e2fsprogs)"
fi

wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
is "$(iso_leftovers)" "" "nothing is left under the instance base"
test_ok "the node ends idle" cluster_wait_idle 60
done_testing
