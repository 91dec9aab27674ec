#!/bin/bash
# One user cannot make every job on the node fail by filling a disk: with the instance base on a
# btrfs with quotas, a profile whose /tmp is `backing: disk, size: 10M` gives each job a /tmp
# that stops at 10 MiB ("Disk quota exceeded"); while one job holds its /tmp full, another
# user's job starts and writes its own. Nothing is left under the base afterwards, no subvolume
# and no qgroup. With quotas off, a job asking for a size fails closed and says how to fix it.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"
. "$top_srcdir/t/lib/isolation.sh"

reason=$(iso_can_run) || skip_all "$reason"
command -v mkfs.btrfs >/dev/null && command -v btrfs >/dev/null ||
    skip_all "btrfs-progs is not installed (scripts/deps installs it)"

policy='version: 1
instance_base: @BASE@
default_profile: sized
profiles:
  sized:
    polydirs:
      - {path: /tmp, backing: disk, scope: job, size: 10M}
    env: {ISOLATION_PROFILE: sized}'

iso_cluster_start "${policy//@BASE@/@CLUSTER_DIR@/isolation}" ||
    bail_out "cannot start the test cluster"

# The instance base on a btrfs of its own, made after the start so no daemon has seen the path.
mnt=$CLUSTER_DIR/btrfs
img=$CLUSTER_DIR/btrfs.img
btrfs_stop() {
    umount -l "$mnt" 2>/dev/null
    local loop
    for loop in $(losetup -j "$img" -O NAME -n 2>/dev/null); do losetup -d "$loop"; done
    rm -f "$img"
}
cluster_on_stop btrfs_stop
mkdir -p -m 0755 "$mnt" && truncate -s 256M "$img" && mkfs.btrfs -q -f "$img" >/dev/null 2>&1 ||
    skip_all "cannot make a btrfs file system here"
mount -o loop "$img" "$mnt" 2>/dev/null || skip_all "this kernel cannot mount a loop btrfs"
btrfs quota enable "$mnt" || bail_out "btrfs quota enable failed"
iso_set_policy "${policy//@BASE@/$mnt/isolation}"
ISO_BASE=$mnt/isolation

cluster_add_user isoA isogrpA || bail_out "cannot create users"
cluster_add_user isoB isogrpB || bail_out "cannot create users"

subvolumes() { btrfs subvolume list "$mnt" 2>/dev/null; }
qgroups() { btrfs qgroup show --raw "$mnt" 2>/dev/null | awk '$1 ~ /^0\// && $1 != "0/5"'; }

is "$("${ISOLATIONCTL:-$top_builddir/cmd/isolationctl}" check "$ISO_POLICY" 2>&1)" "" \
    "isolationctl check has nothing to say: the base can enforce the size"

# --- one job fills its /tmp; another user's job still runs ------------------------------------
rm -f /home/isoA/full /home/isoA/go /home/isoA/a.out
a=$(run_as isoA sbatch --parsable -o /home/isoA/a.out --wrap '
    dd if=/dev/zero of=/tmp/fill bs=1M count=400 2>&1; echo "dd=$?"
    echo "size=$(stat -c %s /tmp/fill)"
    echo full >/home/isoA/full
    for i in $(seq 1200); do [ -e /home/isoA/go ] && break; sleep 0.1; done')
test_ok "a job of isoA fills its /tmp" wait_for 60 test -s /home/isoA/full
out=$(cat /home/isoA/a.out)
like "$out" 'Disk quota exceeded' "dd stops with \"Disk quota exceeded\""
like "$out" 'dd=[1-9]' "...and fails"
size=$(sed -n 's/^size=//p' <<<"$out")
ok $([ "${size:-0}" -ge $((8 << 20)) ] && [ "${size:-0}" -le $((11 << 20)) ]; echo $?) \
    "...at about 10 MiB ($size bytes), in a file system of 256 MiB"

out=$(run_as isoB srun -Q sh -c 'dd if=/dev/zero of=/tmp/f bs=1M count=5 2>/dev/null; stat -c %s /tmp/f' 2>&1)
is "$out" 5242880 "meanwhile a job of isoB starts and writes 5 MiB in its own /tmp"
touch /home/isoA/go
is "$(job_wait "$a" 90)" COMPLETED "isoA's job ends"

wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
is "$(iso_leftovers)" "" "after both jobs, nothing is left under the instance base"
is "$(subvolumes)" "" "...no subvolume"
btrfs subvolume sync "$mnt" >/dev/null 2>&1
wait_for 30 eval '[ -z "$(qgroups)" ]'
is "$(qgroups)" "" "...and no qgroup (the removed subvolumes' went with them)"

# --- quotas off: the job fails closed and the fix is named ------------------------------------
btrfs quota disable "$mnt"
out=$(run_as isoA srun -Q true 2>&1)
ok $([ $? -ne 0 ]; echo $?) "with btrfs quotas off, a job asking for a disk size does not run"
like "$out" 'btrfs quota enable' "...and the user is told the fix"
like "$(cat "$(cluster_log slurmd)")" 'cannot be enforced.*btrfs quota enable' \
    "...and so is the admin, in slurmd's log"
node_stays_up "...and the node stays up"
like "$("${ISOLATIONCTL:-$top_builddir/cmd/isolationctl}" check "$ISO_POLICY" 2>&1)" \
    'warning: the size of /tmp cannot be enforced on this host.*btrfs quota enable' \
    "isolationctl check warns, naming the fix"
wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
is "$(iso_leftovers)$(subvolumes)" "" "the failed job left nothing behind"

test_ok "the node ends idle" cluster_wait_idle 60
done_testing
