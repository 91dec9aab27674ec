#!/bin/bash
# An admin's story: Slurm's own namespace plugin is left on next to spank-isolation
# (job_container/tmpfs up to 25.05, NamespaceType=namespace/tmpfs from 25.11). The two must not
# half-work, with Slurm's files (output, PMIx) in one namespace and the tasks in another: when
# Slurm has put a task in a namespace of its own, the plugin refuses the task with a message that
# says what to change, the node is not drained, and nothing is left.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/cluster.sh"
. "$top_srcdir/t/lib/isolation.sh"

reason=$(iso_can_run) || skip_all "$reason"
version=$(cluster_slurm_version) || skip_all "cannot read slurmd's version"
if cluster_slurm_at_least 25.11; then
    key=NamespaceType plugin=namespace/tmpfs
else
    key=JobContainerType plugin=job_container/tmpfs
fi
compgen -G "/usr/lib/*/slurm-wlm/${plugin/\//_}.so" >/dev/null ||
    skip_all "Slurm's $plugin is not installed"

policy='version: 1
instance_base: @CLUSTER_DIR@/isolation
default_profile: strict
profiles:
  strict:
    polydirs:
      - {path: /tmp, backing: disk, scope: job}'

iso_cluster_start "$policy" --prolog-flags Alloc,Contain --conf-extra "$key=$plugin" \
    --file job_container.conf $'AutoBasePath=true\nBasePath=@CLUSTER_DIR@/jc' ||
    bail_out "cannot start the test cluster"
cluster_add_user isoA isogrpA || bail_out "cannot create users"
ok $(grep -q "^$key=$plugin\$" "$SLURM_CONF"; echo $?) "the cluster runs Slurm's $plugin too (Slurm $version)"

# With Slurm's plugin the node may take a while to be ready for a job ("Nodes ... are still not
# ready"): ask again, bounded, until Slurm answers with the job itself.
for _ in $(seq 12); do
    out=$(run_as isoA srun -Q sh -c 'echo ran' </dev/null 2>&1)
    rc=$?
    grep -q 'still not ready' <<<"$out" || break
    sleep 5
done
# 22.05 and 24.11 (job_container/tmpfs) and 26.05 (namespace/tmpfs) all put the task in their
# namespace before the plugin's task hook: the task is refused. Slurm's plugin can also fail by
# itself before any task (seen once on 26.05: "ns base mount failed"): then nothing is proven.
why=$(grep -m1 -E '_spawn_job_container: .*(create|fail)' "$(cluster_log slurmd)")
if ! grep -q "another namespace plugin" <<<"$out" && [ -n "$why" ]; then
    for _ in 1 2 3; do skip "Slurm's $plugin failed by itself here: ${why##*] }"; done
else
    unlike "$out" '^ran$' "Slurm $version put the task in a namespace of its own: it does not run"
    ok $([ "$rc" -ne 0 ]; echo $?) "...srun fails"
    like "$out" "another namespace plugin of Slurm's \(NamespaceType, or JobContainerType\) is active too" \
        "...saying which setting to take out, on the user's terminal"
fi
node_stays_up "the node is not drained"
wait_for 30 eval '[ -z "$(iso_leftovers)" ]'
is "$(iso_leftovers)" "" "nothing is left under the instance base"
done_testing
