#!/bin/bash
# An admin moves a login node's pam_namespace setup to the plugin with isolationctl import:
# namespace.conf, namespace.d/*.conf and CEA's fstab_user in, a policy out, and on stderr every
# line that could not be converted, as FILE:LINE: message. Golden files: for each case the exit
# status, stderr, stdout and the policy written with -o, in t/expected/import-NAME.out (REGEN=1
# rewrites them). Then the policies go through isolationctl check (no error) and the CEA one
# through isolationctl explain, which must show what fstab_user gave each group.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"

ctl=${ISOLATIONCTL:-$top_builddir/cmd/isolationctl}
[ -x "$ctl" ] || skip_all "isolationctl is not built"
expected=$top_srcdir/t/expected
cd "$top_srcdir/t/fixtures" || bail_out "no fixtures"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t0009.XXXXXX") || bail_out "mktemp failed"
trap 'rm -rf "$tmp"' EXIT

# files NAME: options naming import-NAME's files; a file it lacks is an empty one, so that the
# host's own /etc/security and /etc/fstab_user never count.
files() {
    local d=import-$1 conf=import-empty/namespace.conf nsd=import-empty/namespace.d
    local fstab=import-empty/fstab_user
    [ -e "$d/namespace.conf" ] && conf=$d/namespace.conf
    [ -e "$d/namespace.d" ] && nsd=$d/namespace.d
    [ -e "$d/fstab_user" ] && fstab=$d/fstab_user
    echo "--namespace-conf $conf --namespace-d $nsd --fstab-user $fstab"
}

# golden NAME ARGS...: import ARGS -o a file; compare everything with import-NAME.out.
golden() {
    local name=$1 want=$expected/import-$1.out got rc
    shift
    rm -f "$tmp/out.yaml"
    "$ctl" import "$@" -o "$tmp/out.yaml" >"$tmp/stdout" 2>"$tmp/stderr"
    rc=$?
    got=$(
        echo "exit $rc"
        echo "--- stderr"
        cat "$tmp/stderr"
        echo "--- stdout"
        cat "$tmp/stdout"
        echo "--- policy"
        [ -e "$tmp/out.yaml" ] && cat "$tmp/out.yaml"
    )
    [ -n "${REGEN:-}" ] && printf '%s\n' "$got" >"$want"
    printf '%s\n' "$got" >"$tmp/import-$name.got"
    is "$got" "$(cat "$want" 2>/dev/null)" "import: $name"
    [ -e "$tmp/out.yaml" ] && cp "$tmp/out.yaml" "$tmp/$name.yaml"
    return 0
}

# The converted cases (exit 0 or 1, a policy written) and the usage errors (exit 2, none).
for name in cea comments create users methods paths init order fstab noanchor empty notes; do
    # shellcheck disable=SC2046 # the options are words
    golden "$name" $(files "$name")
done
# shellcheck disable=SC2046
{
    golden usage-option --bogus
    golden usage-argument import-cea/namespace.conf
    golden usage-help --help
    golden missing-conf $(files cea) --namespace-conf import-none/namespace.conf
    golden missing-d $(files cea) --namespace-d import-none/namespace.d
    golden missing-fstab $(files cea) --fstab-user import-none/fstab_user
    golden conf-is-dir $(files cea) --namespace-conf import-cea
}

# Each trap of pam_namespace's parser, said in so many words (the golden files hold the rest),
# on what this run printed.
err() { sed -n '/^--- stderr$/,/^--- stdout$/p' "$tmp/import-$1.got"; }
pol() { sed -n '/^--- policy$/,$p' "$tmp/import-$1.got"; }
like "$(err comments)" 'namespace.conf:3: pam_namespace refuses this line \(no instance prefix\)' \
    "'#' inside quotes still starts a comment"
like "$(err comments)" 'namespace.conf:4: root is exempt from /var/tmp' "the user list stops at '#'"
unlike "$(err comments)" 'adm' "a user after '#' is not read"
like "$(pol comments)" 'path: "/data dir"' "a quoted field keeps its blank, and the YAML quotes it"
like "$(pol comments)" 'size: 64M' "mntopts stops at '#' too"
like "$(err create)" 'create=755: .* mode 01363 \(strtoul reads "755" as a decimal' "create=755 is decimal"
like "$(err create)" 'create=0755,root,root: .* mode 0755;' "create=0755 is octal"
like "$(err create)" 'create=0x1ed,root: .* mode 0755;' "create=0x1ed is hexadecimal"
like "$(err create)" 'createx=0700: pam_namespace creates /data5 when it is missing;' \
    "flags match by prefix: createx is create, without a mode"
like "$(err users)" 'namespace.conf:2: root,adm are exempt from /tmp' "the user list names exempt users"
like "$(err users)" 'namespace.conf:3: only alice,bob get a private /var/tmp' "a leading ~ inverts it"
like "$(err users)" 'namespace.conf:4: note: the user list "~" names nobody' "a lone ~ names nobody"
unlike "$(pol users)" '/dev/shm' "a polydir for nobody is not in the policy"
like "$(err users)" 'namespace.conf:6: root is exempt from /work' "empty names in the list are skipped"
like "$(err methods)" 'namespace.conf:2: method level makes instances per SELinux level' "level"
like "$(err methods)" 'namespace.conf:3: method context with shared' "context:shared"
like "$(err methods)" 'namespace.conf:7: pam_namespace refuses this line \(unknown method "sandbox"\)' \
    "an unknown method"
like "$(pol methods)" 'path: /z  # import-methods/namespace.conf:9' "empty ':' pieces are skipped"
like "$(pol methods)" 'size: 1G' "a tmpfs size in hexadecimal, as memparse reads it"
like "$(pol methods)" 'size: 3G' "the last mntopts= wins"
like "$(err paths)" 'namespace.conf:3: pam_namespace refuses this line \(paths must start' \
    "a relative instance prefix is refused"
like "$(err paths)" 'namespace.conf:5: pam_namespace refuses this line \(paths may not contain' \
    "'..' anywhere in the polydir is refused"
like "$(err paths)" 'namespace.conf:8: polydir "\$HOME"' "\$HOME polydirs"
like "$(err paths)" 'namespace.conf:10: instance prefix "\$HOME/.inst/"' "\$HOME in the instance prefix"
like "$(pol paths)" 'path: /shm' "the tmpfs method needs no absolute instance prefix"
like "$(err init)" 'namespace.conf:1: import-init/namespace.init runs when /tmp is set up' "namespace.init"
unlike "$(err init)" 'namespace.conf:2:' "noinit: no init script"
like "$(err init)" 'namespace.conf:3: import-init/namespace.init runs when /dev/shm' \
    "iscript without a path runs namespace.init"

is "$(head -n1 "$tmp/import-notes.got")" "exit 0" "notes alone (what pam_namespace ignores) leave the exit status 0"
like "$(err notes)" 'namespace.conf:2: note: unknown option "bogus" ignored' "an unknown flag is a note"

# namespace.d is read after namespace.conf, by file name in strcmp order, *.conf only.
order=$(pol order | sed -n 's/^ *- path: \([^ ]*\).*/\1/p' | tr '\n' ' ')
is "$order" "/tmp /c /b /a " "namespace.d: 10-c, 20-tmp, B-upper, a-lower (strcmp), no hidden file"

# Without -o the policy goes to standard output.
"$ctl" import $(files cea) >"$tmp/stdout" 2>/dev/null
is "$(cat "$tmp/stdout")" "$(cat "$tmp/cea.yaml")" "without -o, the same policy on stdout"
out=$("$ctl" import $(files cea) -o /nonexistent-dir/policy.yaml 2>&1)
is "$?" 2 "an output file that cannot be written: exit 2"
like "$out" 'cannot write /nonexistent-dir/policy.yaml: No such file' "and it says so"

# A default file that does not exist is skipped (here: /etc/fstab_user, if this host has none).
if [ -e /etc/fstab_user ]; then
    skip "this host has an /etc/fstab_user"
else
    "$ctl" import --namespace-conf import-cea/namespace.conf --namespace-d import-empty/namespace.d \
        -o "$tmp/default.yaml" 2>/dev/null
    rc=$?
    unlike "$(cat "$tmp/default.yaml")" 'fstab_user' "a missing default fstab_user is skipped (exit $rc)"
fi

# Every policy written passes isolationctl check: warnings only (paths and groups of other nodes).
errors() { grep -v ': warning: ' "$1"; }
"$ctl" check check-polydirs.yaml 2>"$tmp/bad"
like "$(errors "$tmp/bad")" . "the error filter sees the errors of a bad policy"
cd "$tmp" || bail_out "no $tmp"
for f in *.yaml; do
    case $f in out.yaml | default.yaml) continue ;; esac
    "$ctl" check "$f" 2>"$tmp/check.err"
    rc=$?
    is "$(errors "$tmp/check.err")" "" "check $f: no error"
    is "$rc" 0 "check $f: exit 0"
done

# explain on the CEA policy: each group's users get what ccc.setup made from fstab_user.
users=(
    "A|--user alice --uid 1001 --groups alice,A"
    "B|--user bob --uid 1002 --groups bob,B"
    "A-and-B|--user carol --uid 1003 --groups carol,B,A"
    "neither|--user dave --uid 1004 --groups dave"
    "guest-in-A|--user erin --uid 1005 --groups erin,guest,A"
)
for u in "${users[@]}"; do
    name=${u%%|*}
    want=$expected/import-cea-explain-$name.out
    # shellcheck disable=SC2086
    got=$("$ctl" explain --policy cea.yaml ${u#*|} --job-id 42 --mem 8G 2>&1; echo "exit $?")
    [ -n "${REGEN:-}" ] && printf '%s\n' "$got" >"$want"
    is "$got" "$(cat "$want" 2>/dev/null)" "explain the imported policy: user in $name"
done

done_testing
