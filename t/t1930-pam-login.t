#!/bin/bash
# An admin's story on a login node: every ssh login gets the policy's login: profile through
# pam_isolation mode=login, as pam_namespace would give it, from the same policy as the jobs:
# users in different groups see a private /tmp, their own group's project mounts and not the
# hidden tree; a second session of a user shares the first one's namespace (sessions: shared) and
# so its instances; when the last session ends the namespace and its per-session instances go;
# a user the host group of this host exempts keeps the node's view (a group naming other hosts
# changes nothing here); a session whose sshd is killed (no close runs) leaves its namespace
# behind, and the next login removes it.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"
. "$top_srcdir/t/lib/isolation.sh"
. "$top_srcdir/t/lib/sshd.sh"

reason=$(iso_can_run) || skip_all "$reason"
reason=$(sshd_can_run) || skip_all "$reason"
pam=${ISO_PAM:-$top_builddir/.libs/pam_isolation.so}
[ -f "$pam" ] || skip_all "pam_isolation.so is not built ($pam)"

host=$(hostname)
host=${host%%.*}
case $host in *[!A-Za-z0-9_-]* | '') skip_all "this host's name \"$host\" cannot be written in a hostlist" ;; esac
policy='version: 1
instance_base: @CLUSTER_DIR@/isolation
default_profile: strict
allowed_profiles: [strict]
login:
  profile: login
  host_groups:
    - {hosts: "elsewhere[1-4]", profile: none}
    - {hosts: "'"$host"'", exempt_users: [isoC]}
profiles:
  strict:
    polydirs:
      - {path: /tmp, backing: disk, scope: job}
  login:
    polydirs:
      - {path: /tmp, backing: disk, scope: job}
      - {path: /var/tmp, backing: disk, scope: user}
    mounts:
      - {type: tmpfs, target: @CLUSTER_DIR@/ccc, options: "size=1M,mode=0755"}
      - {type: bind, source: @CLUSTER_DIR@/private/A, target: @CLUSTER_DIR@/ccc/A, options: rw, groups: isogrpA}
      - {type: bind, source: @CLUSTER_DIR@/private/B, target: @CLUSTER_DIR@/ccc/B, options: rw, groups: isogrpB}
    hide: [@CLUSTER_DIR@/private]
    env: {ISO_PROFILE: login}'

iso_cluster_start "$policy" || bail_out "cannot start the test cluster"
cluster_add_user isoA isogrpA && cluster_add_user isoB isogrpB && cluster_add_user isoC isogrpC ||
    bail_out "cannot create users"
mkdir -m 0755 "$CLUSTER_DIR/ccc" "$CLUSTER_DIR/private" &&
    mkdir -m 0777 "$CLUSTER_DIR/private/A" "$CLUSTER_DIR/private/B" ||
    bail_out "cannot make the project directories"
sshd_start "auth     required pam_deny.so
account  required pam_permit.so
session  required $pam mode=login policy=$ISO_POLICY
password required pam_deny.so" || bail_out "cannot start sshd"
for u in isoA isoB isoC; do sshd_add_key "$u" || bail_out "cannot make $u's key"; done
hostns=$(iso_host_ns)
syslog_capture >/dev/null || true
n=$CLUSTER_ID
dir=$CLUSTER_DIR
login_jobs() { ls "$ISO_BASE/job" 2>/dev/null; }

out=$(ssh_as isoA "echo a >/tmp/a.$n; ls $dir/ccc; echo private=[\$(ls -A $dir/private)]
    readlink /proc/self/ns/mnt; echo P=\$ISO_PROFILE")
like "$out" '^A$' "isoA's login sees its group's project mount"
unlike "$out" '^B$' "...and not the other group's"
like "$out" '^private=\[\]$' "...and the hidden tree is empty"
like "$out" '^P=login$' "...with the login profile's environment"
ok $(! grep -qxF "$hostns" <<<"$out" && grep -q '^mnt:' <<<"$out"; echo $?) \
    "...in a namespace of its own, not the node's"
ok $([ ! -e "/tmp/a.$n" ]; echo $?) "...and its /tmp is private: the node's has no a.$n"
wait_for 30 eval '[ -z "$(login_jobs)" ]'
is "$(login_jobs)" "" "after the logout the session's namespace and /tmp instance are gone"

out=$(ssh_as isoB "ls /tmp; ls $dir/ccc")
like "$out" '^B$' "isoB's login sees its group's project mount"
unlike "$out" "^a\\.$n\$|^A\$" "...and neither isoA's /tmp file nor isoA's group's mount"

# Two sessions of isoA at once share one namespace.
rm -f "/home/isoA/held.$n" "/home/isoA/go.$n"
ssh_as isoA "echo s1 >/tmp/s1.$n; echo u >/var/tmp/u.$n; readlink /proc/self/ns/mnt >ns.$n
    touch held.$n; for i in \$(seq 600); do [ -e go.$n ] && break; sleep 0.1; done" >/dev/null &
first=$!
wait_for 60 test -e "/home/isoA/held.$n"
out=$(ssh_as isoA "cat /tmp/s1.$n /var/tmp/u.$n; readlink /proc/self/ns/mnt")
like "$out" '^s1$' "a second session of isoA's sees the first one's /tmp"
like "$out" '^u$' "...and its /var/tmp (scope: user)"
is "$(grep '^mnt:' <<<"$out")" "$(cat "/home/isoA/ns.$n")" "...in the same namespace"
ok $([ -n "$(login_jobs)" ]; echo $?) "the first session still open: its namespace is kept"
touch "/home/isoA/go.$n"
wait "$first"
wait_for 30 eval '[ -z "$(login_jobs)" ]'
is "$(login_jobs)" "" "when the last session ends, the namespace and its per-session instances go"

out=$(ssh_as isoC "readlink /proc/self/ns/mnt; ls -A $dir/private")
ok $(grep -qxF "$hostns" <<<"$out"; echo $?) \
    "a user this host's host group exempts (login: itself exempts no one) keeps the node's view"
like "$out" '^A$' "...and sees the node's tree"

# A session whose sshd dies runs no close: its namespace stays (nothing is left in it), until the
# next login, of any user, removes it.
descendants() {
    local p
    for p in $(ps -o pid= --ppid "$1"); do
        echo "$p"
        descendants "$p"
    done
}
in_ns() {
    local f
    for f in /proc/[0-9]*/ns/mnt; do
        [ "$(readlink "$f" 2>/dev/null)" = "$1" ] && { f=${f#/proc/}; echo "${f%%/*}"; }
    done
}
all_gone() {
    local p
    for p; do kill -0 "$p" 2>/dev/null && return 1; done
    return 0
}
idA=$((0x80000000 | $(id -u isoA)))
rm -f "/home/isoA/ns.$n"
ssh_as isoA "readlink /proc/self/ns/mnt >ns.$n.new && mv ns.$n.new ns.$n; sleep 600" >/dev/null &
client=$!
wait_for 60 test -s "/home/isoA/ns.$n" || diag "isoA's session did not start"
ns=$(cat "/home/isoA/ns.$n" 2>/dev/null)
# The session's sshd processes (below our sshd), and whatever else is in its namespace.
pids=$( (descendants "$SSHD_PID"; [ -n "$ns" ] && in_ns "$ns") | sort -u)
ok $([ -n "$ns" ] && [ -n "$pids" ]; echo $?) "isoA's session runs: its sshd and shell are found"
# shellcheck disable=SC2086 # pids are words
kill -KILL $pids 2>/dev/null
# shellcheck disable=SC2086
wait_for 30 all_gone $pids || diag "processes left: $pids"
wait "$client" 2>/dev/null
ok $([ -z "$ns" ] || [ -z "$(in_ns "$ns")" ]; echo $?) "...then killed: no process is left in its namespace"
ok $([ -e "$ISO_BASE/job/$idA" ]; echo $?) "...which, without a close, stays, with its /tmp instance"
out=$(ssh_as isoB "echo in")
like "$out" '^in$' "the next login (isoB's) works"
wait_for 30 eval '[ ! -e "$ISO_BASE/job/$idA" ]'
ok $([ ! -e "$ISO_BASE/job/$idA" ]; echo $?) "...and has removed what isoA's killed session left"
if [ -n "${SYSLOG_FILE:-}" ]; then
    wait_for 10 grep -q "removing job $idA .*no process is left in its namespace" "$SYSLOG_FILE"
    like "$(cat "$SYSLOG_FILE")" "removing job $idA .*no process is left in its namespace" \
        "...and says so in syslog"
else
    skip "no stand-in syslog here (this machine has its own)"
fi
wait_for 30 eval '[ -z "$(login_jobs)" ]'
is "$(login_jobs)" "" "after isoB's logout no login namespace is left"

wait_for 30 eval '[ -z "$(mounts_under "$ISO_BASE/job")" ]'
is "$(mounts_under "$ISO_BASE/job")" "" "nothing is left mounted after the logouts"
done_testing
