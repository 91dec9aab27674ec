#!/bin/bash
# The plugin exports only what Slurm's SPANK loader looks up (its name, type and version, and
# slurm_spank_* hooks and variables): the core linked into it stays local, so it cannot clash
# with another plugin's symbols. Where Slurm's spank.h has slurm_spank_init_failure_mode
# (25.05+), the plugin sets it, so that a failing init would fail the job, not drain the node.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/tap.sh"
. "$top_srcdir/t/lib/isolation.sh"

[ -f "$ISO_PLUGIN" ] || skip_all "the plugin is not built ($ISO_PLUGIN)"
command -v nm >/dev/null || skip_all "nm not found (apt-get install binutils)"

syms=$(nm -D --defined-only "$ISO_PLUGIN" | awk '{ print $NF }' | sort)
like "$syms" '^slurm_spank_task_init_privileged$' "the plugin exports its task hook"
is "$(grep -Ev '^(plugin_name|plugin_type|plugin_version|slurm_spank_.*)$' <<<"$syms")" "" \
    "...and nothing but the SPANK loader's symbols"
spank_h=$(echo '#include <slurm/spank.h>' | cpp -H -o /dev/null 2>&1 | awk '/slurm\/spank.h$/ { print $2; exit }')
if [ -n "$spank_h" ] && grep -q 'slurm_spank_init_failure_mode' "$spank_h"; then
    like "$syms" '^slurm_spank_init_failure_mode$' \
        "this Slurm has slurm_spank_init_failure_mode: the plugin sets it (job failure, no drain)"
else
    skip "this Slurm's spank.h has no slurm_spank_init_failure_mode (before 25.05)"
fi

done_testing
