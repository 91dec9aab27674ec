#!/bin/bash
# A user's story: ssh into a node where their job runs. Slurm's pam_slurm_adopt (in sshd's
# account stack, join_container on) adopts the session into the job and, with the companion
# plugin, into the job's namespace: the session sees the job's /tmp and /dev/shm (files the job
# wrote, and the job sees the session's), in the same mount namespace as the job's tasks. A user
# without a job is refused; a job with profile none keeps the node's view; nothing is left.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"
. "$top_srcdir/t/lib/isolation.sh"
. "$top_srcdir/t/lib/sshd.sh"

reason=$(iso_can_run) || skip_all "$reason"
reason=$(sshd_can_run) || skip_all "$reason"
version=$(cluster_slurm_version) || skip_all "cannot read slurmd's version"
iso_companion_can_run >/dev/null || skip_all "$(iso_companion_can_run)"

policy=$ISO_STRICT_POLICY

iso_companion_start "$policy" || bail_out "cannot start the test cluster"
cluster_add_user isoA isogrpA && cluster_add_user isoB isogrpB || bail_out "cannot create users"
# pam_slurm_adopt acts only for the PAM services it is told (service=, default sshd).
sshd_start "auth     required pam_deny.so
account  required pam_slurm_adopt.so action_no_jobs=deny join_container=true service=@SERVICE@
session  required pam_permit.so
password required pam_deny.so" || bail_out "cannot start sshd"
sshd_add_key isoA && sshd_add_key isoB || bail_out "cannot make the users' keys"
hostns=$(iso_host_ns)
n=$CLUSTER_ID

out=$(ssh_as isoB 'echo in')
unlike "$out" '^in$' "a user with no job on the node is refused (Slurm $version, $ISO_COMPANION_TYPE)"
like "$(cat "$SSHD_DIR/sshd.log")" 'Access denied for user isoB by PAM account configuration' \
    "...by the PAM account stack (pam_slurm_adopt)"

# A job that writes into its /tmp and /dev/shm, then waits for the session's file.
hold() {
    run_as isoA sbatch --parsable -n1 -o /dev/null "$@" --wrap "readlink /proc/self/ns/mnt >ns.$n
        echo job >/tmp/job.$n; echo job >/dev/shm/job.$n; touch held.$n
        for i in \$(seq 600); do [ -e go.$n ] && break; sleep 0.1; done
        cat /tmp/ssh.$n >back.$n 2>&1; true"
}
rm -f /home/isoA/{ns,held,go,back}."$n"
id=$(hold)
wait_for 60 test -e "/home/isoA/held.$n"
out=$(ssh_as isoA "cat /tmp/job.$n /dev/shm/job.$n; readlink /proc/self/ns/mnt; echo ssh >/tmp/ssh.$n")
like "$out" '^job$' "ssh into the node with a job running: the session sees the job's /tmp"
is "$(grep -c '^job$' <<<"$out")" 2 "...and its /dev/shm"
is "$(grep '^mnt:' <<<"$out")" "$(cat "/home/isoA/ns.$n")" "...in the job's mount namespace"
ok $([ "$(cat "/home/isoA/ns.$n")" != "$hostns" ]; echo $?) "...which is not the node's"
ok $([ ! -e "/tmp/ssh.$n" ]; echo $?) "...and what it writes to /tmp does not reach the node's /tmp"
touch "/home/isoA/go.$n"
is "$(job_wait "$id" 60)" COMPLETED "the job completes"
is "$(cat "/home/isoA/back.$n" 2>&1)" ssh "...and saw the file the session wrote in its /tmp"

rm -f /home/isoA/{ns,held,go,back}."$n"
id=$(hold --isolation=none)
wait_for 60 test -e "/home/isoA/held.$n"
out=$(ssh_as isoA "readlink /proc/self/ns/mnt")
ok $(grep -qxF "$hostns" <<<"$out"; echo $?) "a job with profile none: the session keeps the node's view ($out)"
touch "/home/isoA/go.$n"
is "$(job_wait "$id" 60)" COMPLETED "...and the job completes"
rm -f "/tmp/job.$n" "/dev/shm/job.$n" "/tmp/ssh.$n"

node_stays_up "the node is not drained"
wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
is "$(iso_leftovers)" "" "after the jobs nothing is left under the instance base"
done_testing
