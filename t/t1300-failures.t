#!/bin/bash
# What goes wrong, and what the user and the admin see: refused and unknown profiles, a profile
# changed by a step, a broken policy (the job fails, the user is told why, the node stays up, and
# the fixed file works at once), and a slurmd killed during a job (nothing is left after it).

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"
. "$top_srcdir/t/lib/isolation.sh"

reason=$(iso_can_run) || skip_all "$reason"

policy='version: 1
instance_base: @CLUSTER_DIR@/isolation
default_profile: strict
allowed_profiles: [strict, shared-tmp, missing-source]
profiles:
  strict:
    polydirs:
      - {path: /tmp, backing: disk, scope: job}
    env: {ISOLATION_PROFILE: strict}
  shared-tmp:
    inherits: strict
    polydirs:
      - {path: /tmp, backing: disk, scope: user}
    env: {ISOLATION_PROFILE: shared-tmp}
  missing-source:
    inherits: strict
    mounts:
      - {type: bind, source: /nonexistent-isolation-source, target: /mnt}
partitions:
  debug: {allowed_profiles: [strict, shared-tmp, none, missing-source]}
  gpu: {default_profile: shared-tmp, allowed_profiles: [shared-tmp]}'

iso_cluster_start "$policy" || bail_out "cannot start the test cluster"
cluster_add_user isoA isogrpA || bail_out "cannot create users"
hostns=$(iso_host_ns)
as() { run_as isoA "$@" </dev/null 2>&1; }

# --- profiles ---------------------------------------------------------------------------------
out=$(as srun -Q --isolation=list true)
like "$out" 'partition debug: strict \(default\), shared-tmp, missing-source, none' "--isolation=list shows each partition's profiles"
like "$out" 'partition gpu: shared-tmp \(default\)' "...with its default"

before=$(as sbatch --parsable --wrap true)
out=$(as srun -Q --isolation=bogus true)
ok $([ $? -ne 0 ]; echo $?) "an unknown profile is refused"
like "$out" 'unknown isolation profile "bogus"' "...with a message naming it"
like "$out" 'strict' "...and the allowed profiles"
after=$(as sbatch --parsable --wrap true)
is "$after" "$((before + 1))" "...before the job is queued (no job id was used)"

out=$(as srun -Q -p gpu --isolation=none true)
ok $([ $? -ne 0 ]; echo $?) "--isolation=none is refused where the partition does not allow it"
like "$out" 'profile "none" is not allowed in partition "gpu"; allowed: shared-tmp' \
    "...and the user is told what is allowed there"
node_stays_up "a refused profile does not drain the node"
is "$(as srun -Q -p debug --isolation=none readlink /proc/self/ns/mnt)" "$hostns" \
    "--isolation=none runs in the node's namespace where it is allowed"
is "$(as srun -Q -p gpu printenv ISOLATION_PROFILE)" shared-tmp "a partition's default profile applies"
is "$(as srun -Q -p debug printenv ISOLATION_PROFILE)" strict "the global default applies elsewhere"

rm -f /home/isoA/mismatch.out
as sbatch --wait --isolation=strict -o /home/isoA/mismatch.out \
    --wrap 'srun --isolation=shared-tmp true; echo step=$?' >/dev/null
out=$(cat /home/isoA/mismatch.out 2>&1)
like "$out" 'profile belongs to the job' "a step asking for another profile is told the profile belongs to the job"
like "$out" 'step=[1-9]' "...and fails"

# --- a broken policy ---------------------------------------------------------------------------
good=$(cat "$ISO_POLICY")
iso_set_policy "$(printf '%s\n' "$good" | sed 's/^default_profile: strict/default_profile: [strict/')"
out=$(as srun -Q true)
rc=$?
ok $([ $rc -ne 0 ]; echo $?) "with a broken policy the job fails (exit $rc)"
like "$out" 'isolation policy is invalid: .*isolation.yaml:[0-9]+:[0-9]+: ' \
    "the user sees why, with the file, line and column"
like "$out" 'tasks were not started' "...and that the tasks did not start"
node_stays_up "the node is not drained"
like "$(cat "$(cluster_log slurmd)")" 'isolation policy is invalid' "the admin sees it in slurmd's log"
iso_set_policy "$good"
is "$(as srun -Q printenv ISOLATION_PROFILE)" strict "once fixed, the next job works without restarting a daemon"

# --- a policy others may write is not trusted --------------------------------------------------
chmod 0666 "$ISO_POLICY"
out=$(as srun -Q true)
ok $([ $? -ne 0 ]; echo $?) "with a policy anyone may write, jobs do not start"
like "$out" 'is not trusted: .*owned by root and writable by root only' "...and the fix is named"
node_stays_up "...and the node stays up"
chmod 0644 "$ISO_POLICY"

# --- a job that cannot be isolated: deny, then allow ------------------------------------------
out=$(as srun -Q --isolation=missing-source true)
ok $([ $? -ne 0 ]; echo $?) "on_error: deny: a job whose bind source is missing fails"
like "$out" 'cannot isolate the job.*nonexistent-isolation-source' "...and the user is told why"
node_stays_up "...and the node stays up"
iso_set_policy "$(printf '%s\n' "$good" | sed 's/^default_profile: strict/on_error: allow\ndefault_profile: strict/')"
is "$(as srun -Q --isolation=missing-source readlink /proc/self/ns/mnt)" "$hostns" \
    "on_error: allow: the same job runs, unisolated"
like "$(cat "$(cluster_log slurmd)")" 'cannot isolate the job' "...and slurmd's log says why"
iso_set_policy "$good"

# --- a node fault: an unusable instance base drains the node -----------------------------------
chmod 0755 "$ISO_BASE"
out=$(as srun -Q true)
ok $([ $? -ne 0 ]; echo $?) "with an instance base open to others, no job runs on the node"
wait_for 30 eval '[[ "$(cluster_node_state)" == *drain* ]]'
like "$(cluster_node_state)" 'drain' "the node is drained: every job would fail there"
like "$(cat "$(cluster_log slurmd)")" 'must give no access to group and others' \
    "slurmd's log names the fault and the fix"
chmod 0700 "$ISO_BASE"
test_ok "once fixed, the admin resumes the node" cluster_resume_node
is "$(as srun -Q printenv ISOLATION_PROFILE)" strict "and jobs run isolated again"

# --- a slurmd crash ----------------------------------------------------------------------------
if declare -F cluster_restart_slurmd >/dev/null; then
    rm -f /home/isoA/ready
    id=$(as sbatch --parsable -o /dev/null --wrap 'echo x >/tmp/f; echo up >ready; sleep 8; cat /tmp/f')
    wait_for 60 test -s /home/isoA/ready
    kill -KILL "$CLUSTER_SLURMD_PID"
    test_ok "slurmd is killed with SIGKILL during job $id and restarted" cluster_restart_slurmd
    is "$(job_wait "$id" 90)" COMPLETED "the job completes"
    wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
    is "$(iso_leftovers)" "" "after the job, nothing is left under the instance base"

    # A reboot empties /run, records and all, and leaves instances no record names; a record of
    # an earlier boot has a dead pin: slurmd's start sweeps both.
    store=$(iso_store_dir)
    mkdir -p "$ISO_BASE/job/424242/tmp"
    mkdir -p "$ISO_BASE/job/424243/tmp" "$store/job/424243"
    printf 'boot_id=00000000-0000-0000-0000-000000000000\nprofile=strict\n' >"$store/job/424243/state"
    cluster_restart_slurmd
    wait_for 30 eval '[ ! -e "$ISO_BASE/job/424242" ] && [ ! -e "$ISO_BASE/job/424243" ]'
    ok $([ ! -e "$ISO_BASE/job/424242" ]; echo $?) "instances left by an earlier boot are swept at slurmd start"
    ok $([ ! -e "$ISO_BASE/job/424243" ] && [ ! -e "$store/job/424243" ]; echo $?) \
        "...and so is a record of an earlier boot, with its instances"
else
    for i in 1 2 3 4 5; do skip "the harness cannot restart slurmd"; done
fi

test_ok "the node ends idle" cluster_wait_idle 60
done_testing
