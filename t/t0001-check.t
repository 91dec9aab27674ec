#!/bin/bash
# An admin checks a policy with `isolationctl check FILE`: for every fixture, what is printed
# (stderr, exactly; golden files in t/expected/) and the exit status: 0 for the valid
# fixtures, named check-ok-*.yaml (warnings allowed), 1 for every other check-*.yaml.
# The shipped example is checked too; its golden output holds the warnings a host without the
# example's groups (A, B) and paths (/run/mount/private, /ccc) gives.
. "$(dirname "$0")/lib/tap.sh"

ctl=${ISOLATIONCTL:-$top_builddir/cmd/isolationctl}
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

# Warnings about how this host mounts the instance base, each with its mount made in a private
# mount namespace (unshare -m), so the host's mounts are untouched.
if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
    skip "the instance base's mount: needs root and unshare -m"
else
    mkdir "$tmp/m"
    cat >"$tmp/mount.yaml" <<EOF
# The instance base under a mount the test makes; /var/tmp is on disk (twice), /dev/shm not.
version: 1
instance_base: $tmp/m/base
default_profile: p
allowed_profiles: [p, q]
profiles:
  p:
    polydirs:
      - {path: /var/tmp}
      - {path: /dev/shm, backing: tmpfs}
  q:
    polydirs: [{path: /var/tmp, scope: user}]
EOF
    grep -v 'path: /var/tmp' "$tmp/mount.yaml" | sed 's/^  q:$/  q: {}/' >"$tmp/mount-tmpfs.yaml"
    # mounted OPTIONS FILE: check FILE with a tmpfs mounted with OPTIONS on $tmp/m.
    mounted() {
        unshare -m sh -c 'mount -t tmpfs -o "$1" isotest "$2" && exec "$3" check "$4"' \
            sh "$1" "$tmp/m" "$ctl" "$2" >/dev/null
    }
    base="instance_base \"$tmp/m/base\""
    is "$(mounted ro,nosuid,nodev "$tmp/mount.yaml" 2>&1)" \
        "$tmp/mount.yaml:3:16: warning: $base is on a read-only mount on this host (the tmpfs on $tmp/m): the prolog cannot make the jobs' instances there and this node cannot isolate jobs; mount it read-write, or choose an instance_base on a writable local file system" \
        "an instance base on a read-only mount: the prolog cannot work there"
    is "$(mounted noexec "$tmp/mount.yaml" 2>&1)" \
        "$tmp/mount.yaml:9:9: warning: programs and scripts in /var/tmp cannot run in jobs on this host: its instances live in $base, on a noexec mount (the tmpfs on $tmp/m); if that is not intended, remount it without noexec or choose an instance_base on a file system mounted without it" \
        "an instance base on a noexec mount: said once for /var/tmp, at its first entry"
    is "$(mounted noexec "$tmp/mount-tmpfs.yaml" 2>&1)" "" \
        "an instance base on a noexec mount, without disk polydirs: nothing to say"
    is "$(mounted nosuid,nodev "$tmp/mount.yaml" 2>&1)" "" \
        "an instance base on a nosuid,nodev mount: nothing to say"
fi

done_testing
