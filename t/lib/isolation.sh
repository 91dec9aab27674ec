# Helpers for end-to-end tests of the plugin (sourced after tap.sh and cluster.sh).
#
#   iso_cluster_start POLICY [cluster_start options...]
#       starts the test cluster with the plugin from the build tree and POLICY (YAML text; write
#       @CLUSTER_DIR@ for the cluster's directory) as its policy. Sets ISO_POLICY (the policy
#       file) and ISO_BASE (the instance base, @CLUSTER_DIR@/isolation unless POLICY says else).
#   iso_companion_can_run     why not, and false, when the companion plugin is not built for this
#                             Slurm; sets ISO_COMPANION_KEY (JobContainerType or NamespaceType) and
#                             ISO_COMPANION_TYPE (job_container/isolation or namespace/isolation)
#   iso_companion_start POLICY [cluster_start options...]
#       iso_cluster_start with the companion plugin too (Slurm finds a copy of it first in
#       PluginDir), and PrologFlags=Alloc,Contain
#   ISO_STRICT_POLICY         a policy most stories use: profile strict (the default; a job's own
#                             /tmp on disk, /dev/shm a tmpfs of half its memory), none, and broken,
#                             which fails every job (it hides a path in @CLUSTER_DIR@/open, which
#                             iso_broken_setup makes writable by users); append "    env: {...}"
#                             to give strict an environment
#   iso_broken_setup USER     makes @CLUSTER_DIR@/open USER's, so that profile broken fails
#   iso_set_policy POLICY     replaces the policy file (the plugin rereads it at each job)
#   iso_leftovers             prints what is left of jobs under ISO_BASE (instances, mounts) and
#                             in its records (iso_store_dir: records, pins, user references)
#   iso_store_cleanup         unmounts and removes the records of ISO_BASE and of every base
#                             under CLUSTER_DIR (iso_cluster_start registers it for cluster_stop)
#   iso_store_dir [BASE]      the directory of BASE's (default ISO_BASE) root-only records:
#                             ISO_RUNDIR/store/ followed by BASE escaped as instance_name() does
#   iso_can_run               like cluster_can_run, and the plugin must be built

ISO_PLUGIN=${ISO_PLUGIN:-$top_builddir/.libs/isolation.so} # scripts/test --installed: the package's
ISO_RUNDIR=/run/spank-isolation # INSTANCE_RUNDIR: the plugin's run directory
ISO_STRICT_POLICY='version: 1
instance_base: @CLUSTER_DIR@/isolation
default_profile: strict
allowed_profiles: [strict, none, broken]
profiles:
  broken:
    hide: [@CLUSTER_DIR@/open/secret]
  strict:
    polydirs:
      - {path: /tmp, backing: disk, scope: job}
      - {path: /dev/shm, backing: tmpfs, scope: job, size: 50%}'

# The escaping of the store's instance_name(): leading slashes dropped, '/' -> '-',
# letters, digits, '_' and a '.' not first kept, any other byte -> \xNN.
iso_escape() {
    local LC_ALL=C path=$1 out="" c i
    while [ "${path#/}" != "$path" ]; do path=${path#/}; done
    for ((i = 0; i < ${#path}; i++)); do
        c=${path:i:1}
        case $c in
        /) out+=- ;;
        [A-Za-z0-9_]) out+=$c ;;
        .) if [ "$i" -gt 0 ]; then out+=.; else out+=$(printf '\\x%02x' "'$c"); fi ;;
        *) out+=$(printf '\\x%02x' "'$c") ;;
        esac
    done
    printf '%s\n' "$out"
}

iso_store_dir() { echo "$ISO_RUNDIR/store/$(iso_escape "${1:-$ISO_BASE}")"; }

# The records of the cluster's bases live outside the cluster's directory: unmount and remove
# them when it stops (those of ISO_BASE and of every base under CLUSTER_DIR).
iso_store_cleanup() {
    local dir prefix
    prefix="$ISO_RUNDIR/store/$(iso_escape "$CLUSTER_DIR")-"
    for dir in ${ISO_BASE:+"$(iso_store_dir)"} "$prefix"*; do
        [ -d "$dir" ] || continue
        # A lazy unmount detaches the pins below it too.
        for _ in 1 2 3 4; do
            mountpoint -q "$dir" || break
            umount -l "$dir" 2>/dev/null
        done
        rm -rf --one-file-system "$dir"
    done
}

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
    cluster_on_stop iso_store_cleanup
    cluster_start \
        --file plugstack.conf "required $plugin policy=@CLUSTER_DIR@/isolation.yaml" \
        --plugstack @CLUSTER_DIR@/plugstack.conf \
        --file isolation.yaml "$policy" "$@" || return 1
    ISO_POLICY=$CLUSTER_DIR/isolation.yaml
    ISO_BASE=$(sed -n 's/^instance_base: *\([^ #]*\).*/\1/p' "$ISO_POLICY")
    : "${ISO_BASE:=/var/spool/slurm/isolation}"
}

iso_broken_setup() {
    mkdir -p -m 0755 "$CLUSTER_DIR/open/secret" && chown "$1" "$CLUSTER_DIR/open"
}

iso_companion_can_run() {
    local so dir
    if cluster_slurm_at_least 25.11; then
        ISO_COMPANION_KEY=NamespaceType ISO_COMPANION_TYPE=namespace/isolation
    else
        ISO_COMPANION_KEY=JobContainerType ISO_COMPANION_TYPE=job_container/isolation
    fi
    so=${ISO_COMPANION_TYPE/\//_}.so
    ISO_COMPANION=${ISO_COMPANION:-$top_builddir/.libs/$so}
    [ -f "$ISO_COMPANION" ] || { echo "the companion plugin is not built ($ISO_COMPANION)"; return 1; }
    dir=$(dirname "$(compgen -G "/usr/lib/*/slurm-wlm/select_cons_tres.so" | head -n1)")
    [ -d "$dir" ] || { echo "cannot find Slurm's plugin directory"; return 1; }
    ISO_SLURM_PLUGINDIR=$dir
}

iso_companion_start() {
    local policy=$1 base plugins so=${ISO_COMPANION_TYPE/\//_}.so
    shift
    base=${CLUSTER_BASE:-/var/lib/spank-isolation-tests}
    mkdir -p -m 0755 "$base" && plugins=$(mktemp -d "$base/companion.XXXXXX") &&
        chmod 0755 "$plugins" && cp "$ISO_COMPANION" "$plugins/$so" && chmod 0644 "$plugins/$so" ||
        { diag "cannot copy the companion plugin"; return 1; }
    cluster_on_stop rm -rf "$plugins"
    iso_cluster_start "$policy" --prolog-flags Alloc,Contain \
        --conf-extra "PluginDir=$plugins:$ISO_SLURM_PLUGINDIR
$ISO_COMPANION_KEY=$ISO_COMPANION_TYPE" "$@"
}

# Job and user instances, the trash and mounts under the base other than the base itself; job
# records and user references in its store, and mounts there (pins).
iso_leftovers() {
    local store
    store=$(iso_store_dir)
    if [ -d "$ISO_BASE" ]; then
        (cd "$ISO_BASE" && ls -A job user trash 2>/dev/null | grep -v -e "^job:$" -e "^user:$" -e "^trash:$" -e "^$")
        awk -v d="$ISO_BASE" '{ if (index($5, d "/") == 1) print "mounted: " $5 }' /proc/self/mountinfo
    fi
    if [ -d "$store" ]; then
        (cd "$store" && ls -A job user 2>/dev/null | grep -v -e "^job:$" -e "^user:$" -e "^$" |
            sed 's/^/record: /')
        # mountinfo spells a backslash \134 (and awk -v reads escapes: double it).
        awk -v d="${store//\\/\\\\134}" '{ if (index($5, d "/") == 1) print "mounted: " $5 }' \
            /proc/self/mountinfo
    fi
}

# The mount namespace of this test process, to compare with what tasks see.
iso_host_ns() { readlink /proc/self/ns/mnt; }
