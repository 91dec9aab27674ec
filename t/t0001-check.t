#!/bin/bash
# An admin checks a policy with `isolationctl check FILE`: for every fixture, what is printed
# (stderr, exactly; golden files in t/expected/) and the exit status: 0 for the valid
# fixtures, named check-ok-*.yaml (warnings allowed), 1 for every other check-*.yaml.
# The shipped example is checked too; its golden output holds the warnings a host without the
# example's groups (A, B) and paths (/run/mount/private, /ccc) gives.
. "$(dirname "$0")/lib/tap.sh"

ctl=$top_builddir/cmd/isolationctl
[ -x "$ctl" ] || skip_all "cmd/isolationctl is not built"
cd "$top_srcdir" || bail_out "cannot cd to $top_srcdir"
"$ctl" check t/fixtures/check-ok-minimal.yaml >/dev/null 2>&1
[ $? -eq 2 ] && skip_all "isolationctl check is not implemented yet (it exits with a usage error)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/t0001.XXXXXX") || bail_out "mktemp failed"
trap 'rm -rf "$tmp"' EXIT

# golden FILE STATUS EXPECTED: check FILE; stderr must be EXPECTED's text, the exit STATUS.
golden() {
    local file=$1 want=$2 expected=$3 rc
    "$ctl" check "$file" >/dev/null 2>"$tmp/stderr"
    rc=$?
    if diff -u "$expected" "$tmp/stderr" >"$tmp/diff"; then
        ok 0 "$file: diagnostics as in $expected"
    else
        ok 1 "$file: diagnostics as in $expected"
        sed 's/^/#   /' "$tmp/diff"
    fi
    is "$rc" "$want" "$file: exit status $want"
}

for file in t/fixtures/check-*.yaml; do
    name=$(basename "$file" .yaml)
    case $name in
    check-ok-*) want=0 ;;
    *) want=1 ;;
    esac
    if [ ! -f "t/expected/$name.out" ]; then
        ok 1 "$file has a golden file t/expected/$name.out"
        continue
    fi
    golden "$file" "$want" "t/expected/$name.out"
done
golden etc/isolation.yaml.example 0 t/expected/check-example.out

# Problems with the file as a whole are reported without a position.
printf '%s\n' 't/fixtures/no-such-policy.yaml: cannot open the policy: No such file or directory' \
    >"$tmp/want-missing"
golden t/fixtures/no-such-policy.yaml 1 "$tmp/want-missing"
printf '%s\n' 't/fixtures: the policy is not a regular file' >"$tmp/want-dir"
golden t/fixtures 1 "$tmp/want-dir"
mkdir "$tmp/big" && head -c 1048577 /dev/zero | tr '\0' '#' >"$tmp/big/big.yaml"
printf '%s\n' 'big.yaml: the policy is 1048577 bytes, more than the 1 MiB limit (1048576 bytes); is this the right file?' \
    >"$tmp/want-big"
cd "$tmp/big" && golden big.yaml 1 "$tmp/want-big"
cd "$top_srcdir" || bail_out "cannot cd back to $top_srcdir"

done_testing
