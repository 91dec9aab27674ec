#!/bin/bash
# A user's story, without the companion plugin: ssh into a node where their job runs. sshd's
# stack has pam_slurm_adopt (account, join_container off) and pam_isolation mode=join (session):
# the session sees the job's /tmp and /dev/shm, in the job's mount namespace, with the profile's
# environment. Nothing from the environment is trusted: another user's job id forced into the
# PAM environment (pam_env, after pam_slurm_adopt) is refused, as is a job whose pin was taken
# away; a user with no job is refused (unless the policy says ssh: host); a job with profile none
# keeps the node's view.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"
. "$top_srcdir/t/lib/isolation.sh"
. "$top_srcdir/t/lib/sshd.sh"

reason=$(iso_can_run) || skip_all "$reason"
reason=$(sshd_can_run) || skip_all "$reason"
pam=${ISO_PAM:-$top_builddir/.libs/pam_isolation.so}
[ -f "$pam" ] || skip_all "pam_isolation.so is not built ($pam)"

policy="${ISO_STRICT_POLICY/version: 1/version: 1
login: {profile: none, exempt_users: [isoC]\}}
    env: {ISO_PROFILE: strict}"

iso_cluster_start "$policy" --prolog-flags Alloc,Contain || bail_out "cannot start the test cluster"
cluster_add_user isoA isogrpA && cluster_add_user isoB isogrpB && cluster_add_user isoC isogrpC ||
    bail_out "cannot create users"
: >"$CLUSTER_DIR/pam_env.conf"
sshd_start "auth     required pam_deny.so
account  required pam_slurm_adopt.so action_no_jobs=deny join_container=false service=@SERVICE@
session  required pam_env.so readenv=1 conffile=$CLUSTER_DIR/pam_env.conf user_readenv=0
session  required $pam mode=join policy=$ISO_POLICY
password required pam_deny.so" || bail_out "cannot start sshd"
sshd_add_key isoA && sshd_add_key isoB && sshd_add_key isoC || bail_out "cannot make the users' keys"
hostns=$(iso_host_ns)
syslog_why=''
syslog_capture >"$CLUSTER_DIR/syslog.why" || syslog_why=$(cat "$CLUSTER_DIR/syslog.why")
# why_ok REGEX DESCRIPTION: pam_isolation's syslog says REGEX (skips, saying why, without a syslog
# the test can read).
why_ok() {
    if [ -n "$syslog_why" ]; then
        skip "$syslog_why"
    else
        wait_for 10 grep -qE "$1" "$SYSLOG_FILE"
        like "$(cat "$SYSLOG_FILE")" "$1" "$2"
    fi
}
n=$CLUSTER_ID

out=$(ssh_as isoB 'echo in')
unlike "$out" '^in$' "a user with no job on the node is refused (Slurm $(cluster_slurm_version))"

# USER's job that writes into its /tmp and /dev/shm and waits; prints its id.
hold() {
    local user=$1
    shift
    rm -f "/home/$user/"{ns,held,go,back}."$n"
    run_as "$user" sbatch --parsable -n1 -o /dev/null "$@" --wrap "readlink /proc/self/ns/mnt >ns.$n
        echo job >/tmp/job.$n; echo job >/dev/shm/job.$n; touch held.$n
        for i in \$(seq 600); do [ -e go.$n ] && break; sleep 0.1; done
        cat /tmp/ssh.$n >back.$n 2>&1; true"
}
release() { touch "/home/$1/go.$n" && job_wait "$2" 60; }

id=$(hold isoA)
wait_for 60 test -e "/home/isoA/held.$n"
out=$(ssh_as isoA "cat /tmp/job.$n /dev/shm/job.$n; readlink /proc/self/ns/mnt; echo \"P=\$ISO_PROFILE\"; pwd; echo ssh >/tmp/ssh.$n")
is "$(grep -c '^job$' <<<"$out")" 2 "an adopted session sees the job's /tmp and /dev/shm"
is "$(grep '^mnt:' <<<"$out")" "$(cat "/home/isoA/ns.$n")" "...in the job's mount namespace"
ok $([ "$(cat "/home/isoA/ns.$n")" != "$hostns" ]; echo $?) "...which is not the node's"
like "$out" '^P=strict$' "...with the profile's environment"
like "$out" '^/home/isoA$' "...in the user's home"
ok $([ ! -e "/tmp/ssh.$n" ]; echo $?) "...and what it writes to /tmp stays in the job's /tmp"
is "$(release isoA "$id")" COMPLETED "the job completes"
is "$(cat "/home/isoA/back.$n" 2>&1)" ssh "...and saw the session's file"

# isoB's job id forced into isoA's session (pam_env runs after pam_slurm_adopt).
idB=$(hold isoB)
idA=$(hold isoA)
wait_for 60 eval "test -e /home/isoB/held.$n && test -e /home/isoA/held.$n"
echo "SLURM_JOB_ID DEFAULT=$idB OVERRIDE=$idB" >"$CLUSTER_DIR/pam_env.conf"
out=$(ssh_as isoA "cat /tmp/job.$n; echo in")
unlike "$out" '^in$' "another user's job id forced into the PAM environment: the session is refused"
why_ok "user isoA: job $idB: its isolation belongs to uid [0-9]+, not $(id -u isoA); the session is refused" \
    "...saying why in syslog"
echo "SLURM_JOB_ID DEFAULT=999999 OVERRIDE=999999" >"$CLUSTER_DIR/pam_env.conf"
out=$(ssh_as isoA "readlink /proc/self/ns/mnt; echo in")
unlike "$out" '^in$' "a job id with no namespace here, while the user has an isolated job: refused"
: >"$CLUSTER_DIR/pam_env.conf"

# The pin taken away under a running job: the session fails closed.
pin="$(iso_store_dir)/job/$idA/ns"
umount -l "$pin" # the job's extern step holds it open
out=$(ssh_as isoA "echo in")
unlike "$out" '^in$' "a job whose namespace pin is gone: the session is refused"
why_ok "user isoA: job $idA: its namespace cannot be opened: .*; the session is refused" \
    "...saying why in syslog"
release isoA "$idA" >/dev/null
release isoB "$idB" >/dev/null

id=$(hold isoA --isolation=none)
wait_for 60 test -e "/home/isoA/held.$n"
out=$(ssh_as isoA "readlink /proc/self/ns/mnt")
ok $(grep -qxF "$hostns" <<<"$out"; echo $?) "a job with profile none: the session keeps the node's view ($out)"
is "$(release isoA "$id")" COMPLETED "...and the job completes"
rm -f "/tmp/job.$n" "/dev/shm/job.$n" "/tmp/ssh.$n"

# A job whose isolation failed (its profile hides a path its user may rename): its tasks are
# refused, and so is an ssh session into it, rather than let into the node's view.
iso_broken_setup isoA || bail_out "cannot make the broken profile's directory"
rm -f "/home/isoA/held.$n" "/home/isoA/go.$n"
run_as isoA salloc -Q -n1 --isolation=broken sh -c "touch held.$n
    for i in \$(seq 600); do [ -e go.$n ] && break; sleep 0.1; done" >/dev/null 2>&1 &
salloc_pid=$!
wait_for 60 test -e "/home/isoA/held.$n"
out=$(ssh_as isoA 'echo in')
unlike "$out" '^in$' "a job whose isolation failed: the session is refused, not given the node's view"
why_ok "user isoA: job [0-9]+: its isolation failed: .*; the session is refused" "...saying why in syslog"
touch "/home/isoA/go.$n"
wait "$salloc_pid"

# A user the policy exempts (login: exempt_users) keeps the node's view in a job's node too.
idC=$(hold isoC)
wait_for 60 test -e "/home/isoC/held.$n"
out=$(ssh_as isoC "readlink /proc/self/ns/mnt; ls /tmp/job.$n 2>&1")
ok $(grep -qxF "$hostns" <<<"$out"; echo $?) "an exempt user's session keeps the node's view ($(head -n1 <<<"$out"))"
is "$(release isoC "$idC")" COMPLETED "...and the exempt user's job completes"

# A user with no job, let through by pam_slurm_adopt: the policy's ssh: decides.
sed -i 's/action_no_jobs=deny/action_no_jobs=ignore/; /pam_slurm_adopt/a account  required pam_permit.so' \
    "/etc/pam.d/$SSHD_SERVICE"
out=$(ssh_as isoB 'echo in')
unlike "$out" '^in$' "a user with no job that pam_slurm_adopt lets through: refused (ssh: deny, the default)"
why_ok "user isoB: uid [0-9]+ has no isolated job on this node; the session is refused \(ssh: deny\)" \
    "...saying why in syslog"
iso_set_policy "${policy/version: 1/version: 1
ssh: host}"
out=$(ssh_as isoB 'readlink /proc/self/ns/mnt')
ok $(grep -qxF "$hostns" <<<"$out"; echo $?) "...and with ssh: host, the session runs in the node's view ($out)"

node_stays_up "the node is not drained"
wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
is "$(iso_leftovers)" "" "after the jobs nothing is left under the instance base"
done_testing
