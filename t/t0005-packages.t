#!/bin/bash
# The packages describe the release the build is: the Debian package and the RPM spec carry
# configure's version, the spec parses, and each requires the Slurm it is built against.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
cd "$top_srcdir" || bail_out "no source tree"

version=$(sed -n 's/^AC_INIT(\[spank-isolation\], \[\([^]]*\)\].*/\1/p' configure.ac)
like "$version" '^[0-9]+\.[0-9]+\.[0-9]+$' "configure.ac has a version ($version)"
if command -v dpkg-parsechangelog >/dev/null; then
    is "$(dpkg-parsechangelog -l debian/changelog -S Version)" "$version" \
        "debian/changelog is at configure's version"
else
    skip "dpkg-parsechangelog not found (apt-get install dpkg-dev)"
fi
like "$(grep '^override_dh_gencontrol' -A1 debian/rules)" \
    'slurm-wlm-basic-plugins \(>= \$\(SLURM_MM\)\), slurm-wlm-basic-plugins \(<< \$\(SLURM_NEXT\)\)' \
    "the Debian package requires the Slurm major.minor it was built against"
if command -v rpmspec >/dev/null; then
    spec=$(rpmspec -P spank-isolation.spec 2>"${TMPDIR:-/tmp}/rpmspec.$$")
    rc=$?
    errs=$(cat "${TMPDIR:-/tmp}/rpmspec.$$")
    rm -f "${TMPDIR:-/tmp}/rpmspec.$$"
    is "$rc:$errs" "0:" "rpmspec parses the spec, with no warning"
    like "$spec" "^Version: +$version\$" "the spec is at configure's version"
    like "$spec" '^Requires: +slurm >= [0-9]+\.[0-9]+$' "the RPM requires the Slurm it was built against"
    like "$spec" '^Requires: +slurm < [0-9]+\.[0-9]+$' "...and no later major.minor"
else
    for _ in 1 2 3 4; do skip "rpmspec not found (apt-get install rpm)"; done
fi

done_testing
