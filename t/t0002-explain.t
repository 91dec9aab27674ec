#!/bin/bash
# Golden files for isolationctl explain: what each user of the fstab_user example gets, the
# /home-hiding profile, disk polydirs with a size (a quota), JSON, and refusals; and with --login,
# what a login session gets on each host of a login: section with host groups. Each case: its
# arguments, its expected output (stdout then stderr) in t/expected/explain-NAME.out, and its exit
# status on the first line.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"

ctl=${ISOLATIONCTL:-$top_builddir/cmd/isolationctl}
[ -x "$ctl" ] || skip_all "isolationctl is not built"
cd "$top_srcdir" || bail_out "no source tree"

id="--job-id 42 --mem 8G"
cases=(
    "user-in-A|--user alice --uid 1001 --groups alice,A $id"
    "user-in-B|--user bob --uid 1002 --groups bob,B $id"
    "user-in-A-and-B|--user carol --uid 1003 --groups carol,B,A $id"
    "user-in-neither|--user dave --uid 1004 --groups dave $id"
    "hidden-home|--user alice --uid 1001 --groups alice,A --profile homes $id"
    "json|--user bob --uid 1002 --groups bob,B --json $id"
    "partition-default|--user alice --uid 1001 --groups alice --partition debug $id"
    "none-allowed|--user alice --uid 1001 --groups alice --partition debug --profile none $id"
    "refused|--user alice --uid 1001 --groups alice --partition gpu --profile shared-tmp $id"
    "unknown-profile|--user alice --uid 1001 --groups alice --profile nosuch $id"
    "unknown-user|--user nosuchuser-xyz $id"
    "disk-size|--user alice --uid 1001 --groups alice --partition debug --profile quota $id"
    "disk-size-json|--user alice --uid 1001 --groups alice --partition debug --profile quota --json $id"
)
login="--policy t/fixtures/explain-login.yaml --uid 1001"
cases+=(
    "login-host-group|$login --login alice --groups alice,A --host login3"
    "login-no-host-group|$login --login alice --groups alice,A --host login9"
    "login-hostlist-none|$login --login alice --groups alice,A --host transfer02"
    "login-exempt-group|$login --login alice --groups alice,staff --host login6"
    "login-not-exempt-there|$login --login alice --groups alice,staff --host login2"
    "login-exempt-user|$login --login admin --groups admin --host login2"
    "login-root|$login --login root --uid 0 --groups root --host login2"
    "login-no-section|--login alice --uid 1001 --groups alice --host login1"
    "login-with-partition|$login --login alice --groups alice --partition debug"
    "host-without-login|--user alice --uid 1001 --groups alice --host login1"
)

for c in "${cases[@]}"; do
    name=${c%%|*}
    args=${c#*|}
    want=t/expected/explain-$name.out
    # shellcheck disable=SC2086 # the arguments are words
    got=$("$ctl" explain --policy t/fixtures/explain-fstab.yaml $args 2>&1; echo "exit $?")
    got=$(printf '%s\n' "$got" | tail -n1; printf '%s\n' "$got" | sed '$d')
    if [ -n "${REGEN:-}" ]; then
        printf '%s\n' "$got" >"$want"
    fi
    is "$got" "$(cat "$want" 2>/dev/null)" "explain: $name"
done

done_testing
