#!/bin/bash
# An admin's story: the fstab_user policy of a login node, on compute nodes. Users in group A and
# in group B see the project tree their groups give them, other users' homes are hidden, the
# sources are invisible, and nothing a user does inside a job undoes it or reaches outside it.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"
. "$top_srcdir/t/lib/isolation.sh"

reason=$(iso_can_run) || skip_all "$reason"
for d in /ccc /run/mount/private /home/spack; do
    [ -e "$d" ] && skip_all "$d already exists on this host; this test creates and removes it"
done

policy='version: 1
instance_base: @CLUSTER_DIR@/isolation
default_profile: projects
allowed_profiles: [projects, homes]
profiles:
  projects:
    polydirs:
      - {path: /tmp, backing: disk, scope: job}
    mounts:
      - {type: tmpfs,   target: /ccc, options: "size=1M,mode=0755"}
      - {type: bind,    source: /run/mount/private/A, target: /ccc/A, options: rw, groups: isogrpA}
      - {type: bind,    source: /run/mount/private/B, target: /ccc/B, options: rw, groups: isogrpB}
      - {type: bind,    source: /run/mount/private/A, target: /ccc/A, options: ro, groups: isogrpB}
      - {type: symlink, source: A, target: /ccc/C, groups: isogrpA}
      - {type: symlink, source: B, target: /ccc/C, groups: isogrpB}
    hide: [/run/mount/private]
  homes:
    inherits: projects
    mounts:
      - {type: tmpfs, target: /home}
      - {type: bind, source: /home/%u, target: /home/%u}
      - {type: bind, source: /home/spack, target: /home/spack, options: ro}'

# The host directories this test makes, removed (in reverse order) when the cluster stops.
created=()
make_host_dir() {
    local d
    for d in "$@"; do
        [ -e "$d" ] && continue
        mkdir "$d" || bail_out "cannot create $d"
        created+=("$d")
    done
}
cleanup_host() {
    local i
    for ((i = ${#created[@]} - 1; i >= 0; i--)); do
        rm -rf --one-file-system "${created[i]}"
    done
}
iso_cluster_start "$policy" || bail_out "cannot start the test cluster"
cluster_on_stop cleanup_host
cluster_add_user isoA isogrpA && cluster_add_user isoB isogrpB || bail_out "cannot create users"

# The host side: the mount root, the private sources (world-writable, so that only the mounts
# decide who writes), and a shared software tree.
make_host_dir /ccc /run/mount /run/mount/private /run/mount/private/A /run/mount/private/B /home/spack
chmod 0777 /run/mount/private/A /run/mount/private/B
echo a >/run/mount/private/A/file
echo tool >/home/spack/tool

as() { local u=$1; shift; run_as "$u" srun -Q -n1 "$@" </dev/null 2>&1; }

# --- the fstab_user example ---------------------------------------------------------------
out=$(as isoA sh -c 'touch /ccc/A/by-A && echo A-writes; readlink /ccc/C; ls /ccc')
like "$out" 'A-writes' "a user in A writes to /ccc/A"
like "$out" '(^|\n)A($|\n)' "for a user in A, /ccc/C points to A"
ok $(grep -qx B <<<"$(as isoA ls /ccc)"; [ $? -ne 0 ]; echo $?) "a user in A has no /ccc/B"
out=$(as isoB sh -c 'touch /ccc/A/by-B; touch /ccc/B/by-B && echo B-writes; readlink /ccc/C')
like "$out" 'Read-only file system' "a user in B writing to /ccc/A gets EROFS"
like "$out" 'B-writes' "a user in B writes to /ccc/B"
like "$out" '(^|\n)B($|\n)' "for a user in B, /ccc/C points to B"
is "$(as isoA ls -A /run/mount/private)" "" "nobody sees /run/mount/private (A)"
is "$(as isoB ls -A /run/mount/private)" "" "nobody sees /run/mount/private (B)"
ok $([ -e /run/mount/private/A/by-A ] && [ ! -e /run/mount/private/A/by-B ]; echo $?) \
    "A's write landed in the source; B's did not"

# --- hiding /home ---------------------------------------------------------------------------
is "$(as isoA --isolation=homes ls /home | tr '\n' ' ')" "isoA spack " \
    "with /home hidden, a user sees their own home and /home/spack only"
out=$(as isoA --isolation=homes sh -c 'pwd; touch /home/spack/x')
like "$out" '^/home/isoA$' "the job starts in the user's own home, bound into the hiding tmpfs"
like "$out" 'Read-only file system' "/home/spack is read-only"
like "$(as isoA --isolation=homes cat /home/spack/tool)" '^tool$' "the shared tree is readable"

# --- escapes ----------------------------------------------------------------------------------
if run_as isoA unshare -Urm true 2>/dev/null; then
    out=$(as isoB sh -c '
        unshare -Urm sh -c "umount /ccc/A" && echo UMOUNTED-A
        unshare -Urm sh -c "mount -o remount,bind,rw /ccc/A && touch /ccc/A/escaped" && echo REMOUNTED
        unshare -Urm sh -c "umount -l /run/mount/private && ls /run/mount/private/A" && echo UNHIDDEN
        touch /ccc/A/escaped 2>/dev/null && echo WROTE
        true')
        unlike "$out" 'UMOUNTED-A' "unshare -Urm cannot unmount a read-only bind"
    unlike "$out" 'REMOUNTED' "unshare -Urm cannot remount a read-only bind read-write"
    unlike "$out" 'UNHIDDEN' "unshare -Urm cannot uncover a hidden path"
    unlike "$out" 'WROTE' "the bind is still read-only afterwards"
    ok $([ ! -e /run/mount/private/A/escaped ]; echo $?) "nothing was written to the source"
else
    for i in 1 2 3 4 5; do skip "unprivileged user namespaces are disabled here: nothing to escape with"; done
fi

# --- symlinks left in /tmp ---------------------------------------------------------------------
echo intact >"$CLUSTER_DIR/victim"
mkdir -p "$CLUSTER_DIR/victimdir" && echo intact >"$CLUSTER_DIR/victimdir/file"
chmod 0644 "$CLUSTER_DIR/victim"
id=$(job_run isoA --wrap "ln -s $CLUSTER_DIR/victim /tmp/link; ln -s $CLUSTER_DIR/victimdir /tmp/dlink;
mkdir -p /tmp/deep/a/b/c; ln -s / /tmp/deep/a/root; ln -s /tmp/loop /tmp/loop")
ok $? "a job leaves symlinks to root-owned files and directories in /tmp (job $id)"
wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
is "$(cat "$CLUSTER_DIR/victim")" intact "after the job, the symlinked file is intact"
is "$(cat "$CLUSTER_DIR/victimdir/file" 2>&1)" intact "...and so is the symlinked directory"
is "$(iso_leftovers)" "" "...and the job's instance is gone"

# --- another user's pre-created directories ----------------------------------------------------
run_as isoB sh -c 'mkdir -p /tmp/isoA /var/tmp/isoA /dev/shm/isoA; echo mine >/tmp/isoA/f'
test_fails "another user cannot create anything in the instance base" \
    run_as isoB mkdir "$ISO_BASE/job/999999"
out=$(as isoA sh -c 'ls -A /tmp; echo ok-ran')
like "$out" 'ok-ran' "a job runs despite directories pre-created by another user"
unlike "$out" 'isoA' "...and does not see them"
is "$(stat -c %U /tmp/isoA 2>&1) $(cat /tmp/isoA/f 2>&1)" "isoB mine" "the other user's files are untouched"
rm -rf /tmp/isoA /var/tmp/isoA /dev/shm/isoA

wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
is "$(iso_leftovers)" "" "nothing is left under the instance base"
test_ok "the node is idle" cluster_wait_idle 60
done_testing
