# A small TAP library for the shell tests in t/ (sourced, bash).
# ok/not ok lines are read by automake's tap-driver.sh.
set -u
TAP_N=0
TAP_FAILED=0
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

# ok COND_EXIT_STATUS DESCRIPTION: usage `cmd; ok $? "what"` or `test_ok "what" cmd args`.
ok() {
    local rc=$1
    shift
    TAP_N=$((TAP_N + 1))
    if [ -n "${TAP_TODO:-}" ]; then
        # A known gap: its failure is expected (XFAIL); a pass (XPASS) fails the suite, so that the
        # TODO is removed the day the gap is closed.
        [ "$rc" -eq 0 ] && echo "ok $TAP_N - $* # TODO $TAP_TODO" || echo "not ok $TAP_N - $* # TODO $TAP_TODO"
    elif [ "$rc" -eq 0 ]; then
        echo "ok $TAP_N - $*"
    else
        echo "not ok $TAP_N - $*"
        TAP_FAILED=$((TAP_FAILED + 1))
    fi
    return 0
}

# todo REASON: the checks that follow are a known gap (TAP TODO), until `todo ""`.
todo() { TAP_TODO=$1; }

# test_ok DESCRIPTION CMD...: passes if CMD exits 0.
test_ok() {
    local what=$1
    shift
    "$@"
    ok $? "$what"
}

# test_fails DESCRIPTION CMD...: passes if CMD exits non-zero.
test_fails() {
    local what=$1
    shift
    if "$@"; then ok 1 "$what"; else ok 0 "$what"; fi
}

# is GOT WANT DESCRIPTION: exact string comparison, with a diff on failure.
is() {
    if [ "$1" = "$2" ]; then
        ok 0 "$3"
    else
        ok 1 "$3"
        diag "got:"
        printf '%s\n' "$1" | sed 's/^/#   /'
        diag "want:"
        printf '%s\n' "$2" | sed 's/^/#   /'
    fi
}

# like GOT REGEX DESCRIPTION: extended-regex match.
like() {
    if printf '%s' "$1" | grep -Eq -- "$2"; then
        ok 0 "$3"
    else
        ok 1 "$3"
        diag "got: $1"
        diag "want match: $2"
    fi
}

# unlike GOT REGEX DESCRIPTION: passes if GOT does not match.
unlike() {
    if printf '%s' "$1" | grep -Eq -- "$2"; then
        ok 1 "$3"
        diag "got: $1"
        diag "want no match: $2"
    else
        ok 0 "$3"
    fi
}

diag() { echo "# $*"; }

skip() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N # SKIP $*"; }

# skip_all REASON: the whole file cannot run here; says why.
skip_all() {
    echo "1..0 # SKIP $*"
    exit 0
}

bail_out() {
    echo "Bail out! $*"
    exit 1
}

done_testing() {
    echo "1..$TAP_N"
    [ "$TAP_FAILED" -eq 0 ]
}
