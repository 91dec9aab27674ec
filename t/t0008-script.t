#!/bin/bash
# isolationctl prolog|epilog, the node's Prolog and Epilog under PrologFlags=RunInJob, run by hand
# in a private mount namespace: they refuse what is not Slurm's environment, the prolog sets a job
# up (its partition from SLURM_JOB_PARTITION, its profile from the --isolation option's
# SPANK_ variable) and records the decision, a policy error never fails it (a failed Prolog
# drains the node), and the epilog removes what the prolog made.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"

ctl=${ISOLATIONCTL:-$top_builddir/cmd/isolationctl}
[ -x "$ctl" ] || skip_all "isolationctl is not built"
[ "$(id -u)" = 0 ] || skip_all "the prolog runs as root"
unshare -m --propagation private true 2>/dev/null || skip_all "cannot make a mount namespace"
getent passwd nobody >/dev/null || skip_all "no user nobody"

# The base must be under directories only root may write (not /tmp or /var/tmp).
top=/var/lib/spank-isolation-tests
(umask 022 && mkdir -p "$top") && dir=$(mktemp -d "$top/t0008.XXXXXX") ||
    bail_out "no directory in $top"
trap 'rm -rf "$dir"' EXIT
chmod 0755 "$dir"
cat >"$dir/policy.yaml" <<POLICY
version: 1
instance_base: $dir/base
default_profile: tmp
allowed_profiles: [tmp, other]
profiles:
  tmp:
    polydirs:
      - {path: /tmp, backing: disk, scope: job}
  other:
    inherits: tmp
    env: {P: other}
partitions:
  gpu: {allowed_profiles: [tmp]}
POLICY
chmod 0644 "$dir/policy.yaml"

# Each case runs in a mount namespace of its own, with a private run directory.
in_ns() {
    unshare -m --propagation private sh -c 'mount -t tmpfs -o mode=0755 run /run && "$@"' sh "$@"
}
uid=$(id -u nobody)
slurm_env="SLURM_JOB_ID=77 SLURM_JOB_UID=$uid SLURMD_NODENAME=n1"

out=$("$ctl" prolog --policy "$dir/policy.yaml" 2>&1)
is "$?" 1 "outside Slurm's environment the prolog refuses"
like "$out" 'SLURM_JOB_ID and SLURM_JOB_UID are not set' "...saying why"
out=$("$ctl" prolog extra 2>&1)
is "$?" 2 "an unknown argument is a usage error"

# shellcheck disable=SC2086 # the environment is words
out=$(in_ns sh -c "env $slurm_env SLURM_JOB_PARTITION=debug '$ctl' prolog --policy '$dir/policy.yaml'
    cat /run/spank-isolation/store/*/job/77/state; ls $dir/base/job" 2>&1)
like "$out" '^profile=tmp$' "the prolog sets the job up and records its profile"
like "$out" '^77' "...and makes its instances under the base"

# shellcheck disable=SC2086
out=$(in_ns sh -c "env $slurm_env SLURM_JOB_PARTITION=debug \
    SPANK__SLURM_SPANK_OPTION_isolation_isolation=other '$ctl' prolog --policy '$dir/policy.yaml' &&
    cat /run/spank-isolation/store/*/job/77/state" 2>&1)
like "$out" '^profile=other$' "--isolation, from its SPANK_ variable, picks the profile"

# shellcheck disable=SC2086
out=$(in_ns sh -c "env $slurm_env SLURM_JOB_PARTITION=gpu \
    SPANK__SLURM_SPANK_OPTION_isolation_isolation=other '$ctl' prolog --policy '$dir/policy.yaml'
    echo rc=\$?; cat /run/spank-isolation/store/*/job/77/state" 2>&1)
like "$out" 'rc=0' "a profile the partition does not allow: the prolog still succeeds"
like "$out" 'not allowed' "...and records the refusal for the job's tasks"

# shellcheck disable=SC2086
out=$(in_ns sh -c "env $slurm_env '$ctl' prolog --policy '$dir/policy.yaml' &&
    env $slurm_env '$ctl' epilog --policy '$dir/policy.yaml' && echo rc=\$?
    ls -A $dir/base/job; ls -A /run/spank-isolation/store/*/job" 2>&1)
like "$out" 'rc=0' "the epilog succeeds"
unlike "$out" '^77$' "...and removes the job's instances and record"

# Slurm 24.05 to 25.11 can run the Epilog as the job's user (the extern step's X11 shutdown): the
# epilog then succeeds (a failed Epilog drains the node) and leaves the job to the sweep. Its
# runner is a slurmstepd process (a shell by that name here).
cp /bin/sh "$dir/slurmstepd" && chmod 0755 "$dir/slurmstepd"
as_user="setpriv --reuid=$uid --regid=$(id -g nobody) --clear-groups"
store_jobs="ls -A /run/spank-isolation/store/*/job"
# shellcheck disable=SC2086
out=$(in_ns sh -c "env $slurm_env '$dir/slurmstepd' -c \"'$ctl' prolog --policy '$dir/policy.yaml'; exit \\\$?\"
    env $slurm_env '$dir/slurmstepd' -c \"$as_user '$ctl' epilog --policy '$dir/policy.yaml'; exit \\\$?\"
    echo rc=\$?; $store_jobs; echo swept; '$ctl' sweep --policy '$dir/policy.yaml'; echo rc=\$?
    $store_jobs; ls -A $dir/base/job" 2>&1)
like "$out" 'rc=0' "the Epilog run by slurmstepd as the job's user succeeds"
like "$out" "Slurm ran the Epilog as the job's user \\(uid $uid\\).*isolationctl sweep" \
    "...saying why it removes nothing, and what will"
like "$(sed -n '/^rc=0$/,/^swept$/p' <<<"$out")" '^77$' "...and the job's record stays for the sweep"
is "$(sed -n '/^swept$/,$p' <<<"$out" | grep -c '^77$\|^rc=0$')" 1 \
    "isolationctl sweep removes the ended job's record and instances"
# shellcheck disable=SC2086
out=$(in_ns env $slurm_env $as_user "$ctl" epilog --policy "$dir/policy.yaml" 2>&1)
is "$?" 1 "an Epilog of the job's user's that slurmstepd did not run fails"
like "$out" "must run as root, as Slurm's Epilog \\(real uid $uid" "...saying why"
# shellcheck disable=SC2086
out=$(in_ns env $slurm_env "$dir/slurmstepd" -c "$as_user '$ctl' prolog; exit \$?" 2>&1)
is "$?" 1 "so does a Prolog run as the job's user"
out=$(in_ns $as_user "$ctl" sweep --policy "$dir/policy.yaml" 2>&1)
is "$?" 1 "isolationctl sweep refuses to run as a user"
"$ctl" sweep extra >/dev/null 2>&1
is "$?" 2 "...and takes no other argument"

# shellcheck disable=SC2086
out=$(in_ns env $slurm_env "$ctl" prolog --policy "$dir/nosuch.yaml" 2>&1)
is "$?" 0 "a missing policy never fails the prolog (it would drain the node)"
like "$out" 'nosuch.yaml' "...and it says which policy"
done_testing
