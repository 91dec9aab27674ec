/* spank-isolation: one private mount namespace per job on each node (spank-isolation(8)).
 *
 * Contexts:
 *   srun/sbatch/salloc  --isolation=PROFILE is checked against the policy when it is readable.
 *   slurmd              at start, instances left by an earlier boot are swept.
 *   job prolog (root)   the job's profile is resolved from trusted data, its instances made,
 *                       its namespace built and pinned, the decision recorded.
 *   slurmstepd          once per step: the decision is read and the pin opened; per task,
 *                       task_init_privileged enters the namespace (one setns).
 *   job epilog (root)   unpin and remove the job's instances.
 *
 * A policy error never fails the prolog (that would drain the node): it is recorded, and every
 * task of the job fails with it, on srun's stderr and in slurmd's log.
 *
 * This file is the dispatcher: the option, the plugin's arguments, the log sink, and the submit
 * side; prolog.c has slurmd's hooks, task.c slurmstepd's. The work is in common/job. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolation.h"

SPANK_PLUGIN(isolation, 1);

#if HAVE_DECL_ESPANK_JOB_FAILURE
/* Slurm 25.05+: should slurm_spank_init ever fail, the job fails and the node is not drained (it
 * never does: errors are kept for the tasks to report, as a policy error never drains a node). */
int slurm_spank_init_failure_mode = ESPANK_JOB_FAILURE;
#endif

static int opt_isolation(int val, const char *optarg, int remote);
static int parse_args(int ac, char **av);

/* Registered from slurm_spank_init: sbatch and salloc ignore a static spank_options table. */
struct spank_option isolation_option = {
    "isolation",
    "PROFILE",
    "File-system isolation profile of the job (private /tmp, /dev/shm and project mounts); "
    "--isolation=list shows the profiles allowed here",
    1,
    0,
    opt_isolation};

struct plugin_state iso = {.policy_path = POLICY_DEFAULT_PATH, .js = {.nsfd = -1}};

static void slurm_sink(enum log_level level, const char *msg, void *arg)
{
    switch (level) {
    case LOG_LEVEL_ERROR:
        slurm_error("isolation: %s", msg);
        break;
    case LOG_LEVEL_WARN:
        slurm_info("isolation: warning: %s", msg);
        break;
    case LOG_LEVEL_INFO:
        slurm_verbose("isolation: %s", msg);
        break;
    case LOG_LEVEL_DEBUG:
        slurm_debug("isolation: %s", msg);
        break;
    }
}

int plugin_configure(int ac, char **av)
{
    log_set_sink(slurm_sink, NULL);
    return parse_args(ac, av);
}

static int parse_args(int ac, char **av)
{
    for (int i = 0; i < ac; i++) {
        if (strncmp(av[i], "policy=", 7) == 0) {
            snprintf(iso.policy_path, sizeof(iso.policy_path), "%s", av[i] + 7);
        } else {
            log_error("unknown argument \"%s\" in plugstack.conf; the only one is "
                      "policy=/etc/slurm/isolation.yaml",
                      av[i]);
            return -1;
        }
    }
    return 0;
}

/* --- the submit side: srun, sbatch, salloc --------------------------------------------------- */

static void print_partition(const struct policy *p, const char *label, const char *part)
{
    char list[1024], def[256];
    const char *name;
    struct err e;

    profile_allowed_list(p, part, list, sizeof(list));
    def[0] = '\0';
    if (profile_resolve(p, part, NULL, &name, &e) == 0)
        snprintf(def, sizeof(def), "%s", name);
    printf("  %s: ", label);
    /* The default first, marked; then the others in policy order. */
    bool first = true;
    if (def[0]) {
        printf("%s (default)", def);
        first = false;
    }
    for (char *tok = strtok(list, ", "); tok; tok = strtok(NULL, ", ")) {
        if (strcmp(tok, def) == 0)
            continue;
        printf("%s%s", first ? "" : ", ", tok);
        first = false;
    }
    printf("\n");
}

/* --isolation=list: the choices of the current partition, or of every partition. */
static void print_allowed(void)
{
    struct err e;
    struct policy *p = job_policy_load(iso.policy_path, &e);
    const char *part = getenv("SLURM_JOB_PARTITION");
    char label[300];

    if (!p) {
        fprintf(stderr, "isolation: %s\n", e.text);
        exit(1);
    }
    printf("Isolation profiles (--isolation=NAME):\n");
    if (part) {
        snprintf(label, sizeof(label), "partition %s", part);
        print_partition(p, label, part);
    } else {
        for (size_t i = 0; i < p->npartitions; i++) {
            snprintf(label, sizeof(label), "partition %s", p->partitions[i].name);
            print_partition(p, label, p->partitions[i].name);
        }
        print_partition(p, p->npartitions ? "other partitions" : "all partitions", "");
    }
    policy_free(p);
    exit(0);
}

/* Refuse an unknown or disallowed profile before the job is queued, when the policy is readable
 * here. The partition is known only inside an allocation; the prolog checks again on the node. */
static int check_requested(const char *name)
{
    struct err e;
    const char *resolved, *part = getenv("SLURM_JOB_PARTITION");
    struct policy *p;
    bool anywhere = false;

    if (access(iso.policy_path, R_OK) < 0)
        return 0;
    if (!(p = job_policy_load(iso.policy_path, &e)))
        return 0; /* the node reports a broken policy; do not block submission on it */
    if (part) {
        anywhere = profile_resolve(p, part, name, &resolved, &e) == 0;
    } else {
        anywhere = profile_resolve(p, "", name, &resolved, &e) == 0;
        for (size_t i = 0; !anywhere && i < p->npartitions; i++)
            anywhere = profile_resolve(p, p->partitions[i].name, name, &resolved, &e) == 0;
        if (!anywhere)
            profile_resolve(p, "", name, &resolved, &e);
    }
    policy_free(p);
    if (!anywhere) {
        slurm_error("isolation: %s", e.text);
        return -1;
    }
    return 0;
}

static int opt_isolation(int val, const char *optarg, int remote)
{
    if (!optarg || !*optarg || strlen(optarg) >= sizeof(iso.requested)) {
        slurm_error("isolation: --isolation needs a profile name (--isolation=list shows them)");
        return -1;
    }
    snprintf(iso.requested, sizeof(iso.requested), "%s", optarg);
    if (remote)
        return 0;
    if (strcmp(optarg, "list") == 0)
        print_allowed();
    return check_requested(optarg);
}

int plugin_get_job(spank_t sp, uint32_t *job_id, uid_t *uid, gid_t *gid)
{
    if (spank_get_item(sp, S_JOB_ID, job_id) != ESPANK_SUCCESS ||
        spank_get_item(sp, S_JOB_UID, uid) != ESPANK_SUCCESS ||
        spank_get_item(sp, S_JOB_GID, gid) != ESPANK_SUCCESS) {
        log_error("cannot get the job's id, uid and gid from Slurm");
        return -1;
    }
    return 0;
}

int slurm_spank_init(spank_t sp, int ac, char **av)
{
    spank_context_t ctx = spank_context();

    if (plugin_configure(ac, av) < 0 && ctx == S_CTX_REMOTE)
        snprintf(iso.error, sizeof(iso.error),
                 "the plugin's arguments in plugstack.conf are wrong");
    if ((ctx == S_CTX_LOCAL || ctx == S_CTX_ALLOCATOR || ctx == S_CTX_REMOTE) &&
        spank_option_register(sp, &isolation_option) != ESPANK_SUCCESS)
        log_error("cannot register the --isolation option");
    if (ctx == S_CTX_SLURMD)
        slurmd_start();
    return 0;
}
