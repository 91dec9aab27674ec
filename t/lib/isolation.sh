# Helpers for end-to-end tests of the plugin (sourced after tap.sh and cluster.sh).
#
#   iso_cluster_start POLICY [cluster_start options...]
#       starts the test cluster with the plugin from the build tree and POLICY (YAML text; write
#       @CLUSTER_DIR@ for the cluster's directory) as its policy. Sets ISO_POLICY (the policy
#       file) and ISO_BASE (the instance base, @CLUSTER_DIR@/isolation unless POLICY says else).
#   iso_set_policy POLICY     replaces the policy file (the plugin rereads it at each job)
#   iso_leftovers             prints what is left of jobs under ISO_BASE (instances, pins, mounts)
#   iso_can_run               like cluster_can_run, and the plugin must be built

ISO_PLUGIN=$top_builddir/.libs/isolation.so

iso_can_run() {
    cluster_can_run || return 1
    [ -f "$ISO_PLUGIN" ] || { echo "the plugin is not built ($ISO_PLUGIN)"; return 1; }
}

iso_set_policy() {
    printf '%s\n' "${1//@CLUSTER_DIR@/$CLUSTER_DIR}" >"$ISO_POLICY.new" &&
        chmod 0644 "$ISO_POLICY.new" && mv -f "$ISO_POLICY.new" "$ISO_POLICY"
}

# Jobs load the plugin too (an srun inside a batch script), and they see a private /tmp: run a
# copy kept outside every polydir, wherever the build tree is.
iso_plugin_copy() {
    local base=${CLUSTER_BASE:-/var/lib/spank-isolation-tests} copy
    mkdir -p -m 0755 "$base" && copy=$(mktemp --suffix=.so "$base/isolation.XXXXXX") &&
        cp "$ISO_PLUGIN" "$copy" && chmod 0644 "$copy" && echo "$copy"
}

iso_cluster_start() {
    local policy=$1 plugin
    shift
    plugin=$(iso_plugin_copy) || { diag "cannot copy the plugin"; return 1; }
    cluster_on_stop rm -f "$plugin"
    cluster_start \
        --file plugstack.conf "required $plugin policy=@CLUSTER_DIR@/isolation.yaml" \
        --plugstack @CLUSTER_DIR@/plugstack.conf \
        --file isolation.yaml "$policy" "$@" || return 1
    ISO_POLICY=$CLUSTER_DIR/isolation.yaml
    ISO_BASE=$(sed -n 's/^instance_base: *\([^ #]*\).*/\1/p' "$ISO_POLICY")
    : "${ISO_BASE:=/var/spool/slurm/isolation}"
}

# Job directories, user instances and mounts under the base other than the base itself.
iso_leftovers() {
    [ -d "$ISO_BASE" ] || return 0
    (cd "$ISO_BASE" && ls -A job user trash 2>/dev/null | grep -v -e "^job:$" -e "^user:$" -e "^trash:$" -e "^$")
    awk -v d="$ISO_BASE" '{ if (index($5, d "/") == 1) print "mounted: " $5 }' /proc/self/mountinfo
}

# The mount namespace of this test process, to compare with what tasks see.
iso_host_ns() { readlink /proc/self/ns/mnt; }
