#!/bin/bash
# Nothing outlives its job: a job id that Slurm hands out again never brings an earlier job's
# files with it, for the same user or another; a job whose epilog never ran (its slurmstepd
# killed, the controller's state lost) is removed by the next prolog sweep or at slurmd's start,
# and a running job's instances are never touched by either.

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
      - {path: /dev/shm, backing: tmpfs, scope: job, size: 16M}'

# The extern step (PrologFlags=Contain) is what tells the node that a job still runs.
iso_cluster_start "$policy" --prolog-flags Alloc,Contain || bail_out "cannot start the test cluster"
cluster_add_user isoA isogrpA || bail_out "cannot create users"
cluster_add_user isoB isogrpB || bail_out "cannot create users"
as() {
    local user=$1
    shift
    run_as "$user" "$@" </dev/null 2>&1
}
ready=ready.$CLUSTER_ID

store=$(iso_store_dir)

# crash_one USER: a job of USER that writes /tmp/old-job and /dev/shm/old-job, then is lost with
# no epilog (job_lost: slurmd down, the job killed, the controller's state wiped, slurmd back);
# sets old to its id. A process of the test's own stays in the job's namespace until slurmd is
# back, so that slurmd's start does not sweep the job at once: what is left is what a node has
# after such a crash while slurmd runs on, on every release. (Not in $(...): the restarted
# daemons' pids must reach this shell.)
crash_one() {
    rm -f "/home/$1/$ready"
    local id keeper
    id=$(run_as "$1" sbatch --parsable -o /dev/null \
        --wrap "echo old >/tmp/old-job; echo old >/dev/shm/old-job; echo up >$ready; sleep 300") ||
        return 1
    wait_for 60 test -s "/home/$1/$ready" || { diag "job $id did not start"; return 1; }
    nsenter --mount="$store/job/$id/ns" sleep 600 &
    keeper=$!
    job_lost "$id"
    local rc=$?
    kill "$keeper" && wait "$keeper" 2>/dev/null
    [ "$rc" -eq 0 ] || return 1
    old=$id
}

# --- a reused job id, same user -------------------------------------------------------------
cluster_restart_slurmctld --forget || bail_out "cannot restart slurmctld"
crash_one isoA || bail_out "cannot crash a job"
ok $([ -d "$ISO_BASE/job/$old" ] && [ -d "$store/job/$old" ]; echo $?) \
    "a crashed job's instances and record are left on the node (job $old)"
out=$(as isoA srun -Q sh -c 'echo "job=$SLURM_JOB_ID"; ls -A /tmp /dev/shm')
like "$out" "job=$old" "with the controller's state lost, the next job gets the same id"
unlike "$out" 'old-job' "...and the same user's new job does not see the old job's files"
unlike "$out" 'error' "...and runs without an error"
ok $([ -z "$(cd "$ISO_BASE/trash" && ls -A)" ]; echo $?) "what the old job left is removed"

# --- a reused job id, another user -----------------------------------------------------------
cluster_restart_slurmctld --forget || bail_out "cannot restart slurmctld"
crash_one isoA || bail_out "cannot crash a job"
out=$(as isoB srun -Q sh -c 'echo "job=$SLURM_JOB_ID"; ls -A /tmp /dev/shm; stat -c %U /tmp')
rc=$?
like "$out" "job=$old" "another user's job gets the same id"
is "$rc" 0 "...and runs"
unlike "$out" 'old-job' "...without the old job's files"
like "$out" 'isoB' "...in a /tmp of its own"

# --- a job whose epilog never ran ------------------------------------------------------------
cluster_restart_slurmctld --forget || bail_out "cannot restart slurmctld"
job_run isoB --wrap true >/dev/null # ids after a --forget start at the same one: skip it
crash_one isoA || bail_out "cannot crash a job"
rm -f "/home/isoB/$ready"
live=$(run_as isoB sbatch --parsable -o /dev/null --wrap "echo mine >/tmp/live; echo up >$ready; sleep 300")
wait_for 60 test -s "/home/isoB/$ready"
ok $([ -d "$ISO_BASE/job/$old" ] && [ "$live" != "$old" ]; echo $?) \
    "job $old ended without an epilog; job $live runs"
touch -d '2 minutes ago' "$store/.swept"
test_ok "a prolog more than a minute after the last sweep" run_as isoB srun -Q true </dev/null
wait_for 30 eval '[ ! -e "$ISO_BASE/job/$old" ] && [ ! -e "$store/job/$old" ]'
ok $([ ! -e "$ISO_BASE/job/$old" ] && [ ! -e "$store/job/$old" ]; echo $?) \
    "...removes the ended job's instances and record"
is "$(as isoB srun -Q --jobid="$live" --overlap cat /tmp/live)" mine "...and keeps the running job's"
# Ids start again after the next --forget: this job must be gone by then, not an orphan that
# the controller kills while a new job has its id (seen on 24.11).
scancel "$live"
job_wait "$live" 60 >/dev/null

crash_one isoA || bail_out "cannot crash a job"
ok $([ -d "$ISO_BASE/job/$old" ]; echo $?) "another job ends without an epilog ($old)"
# A controller that forgets kills the jobs it finds on the node: start the running one after it.
touch "$store/.swept" # so that this job's prolog does not sweep first
rm -f "/home/isoB/$ready"
live=$(run_as isoB sbatch --parsable -o /dev/null --wrap "echo mine >/tmp/live; echo up >$ready; sleep 300")
wait_for 60 test -s "/home/isoB/$ready"
ok $([ -d "$ISO_BASE/job/$old" ] && [ -d "$ISO_BASE/job/$live" ]; echo $?) \
    "job $old ended without an epilog; job $live runs"
test_ok "slurmd restarts" cluster_restart_slurmd
wait_for 30 eval '[ ! -e "$ISO_BASE/job/$old" ] && [ ! -e "$store/job/$old" ]'
ok $([ ! -e "$ISO_BASE/job/$old" ] && [ ! -e "$store/job/$old" ]; echo $?) \
    "slurmd's start removes the ended job's instances and record"
ok $([ -d "$ISO_BASE/job/$live" ] && [ -e "$store/job/$live/ns" ]; echo $?) \
    "...and keeps those of the job still running, pin included"
is "$(as isoB srun -Q --jobid="$live" --overlap cat /tmp/live)" mine "...whose files are intact"
grep -q 'it has ended, but no epilog removed them' "$(cluster_log slurmd)"
ok $? "slurmd's log says what was removed and why"

scancel "$live"
is "$(job_wait "$live" 60)" CANCELLED "the running job ends"
wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
is "$(iso_leftovers)" "" "in the end nothing is left under the instance base"
test_ok "the node ends idle" cluster_wait_idle 60
done_testing
