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
 * task of the job fails with it, on srun's stderr and in slurmd's log. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <slurm/spank.h>

#include "util/util.h"
#include "store/store.h"
#include "job/job.h"
#include "ns/ns.h"
#include "plan/plan.h"
#include "policy/policy.h"

SPANK_PLUGIN(isolation, 1);

#define OPTION_ENV "SPANK__SLURM_SPANK_OPTION_isolation_isolation"

/* Prologs look for jobs that ended without an epilog at most this often. */
#define SWEEP_SECONDS 60

/* Slurm's step id of a job's extern step (PrologFlags=Contain), from slurm.h. */
#define EXTERN_STEP_ID 0xfffffffcU

static int opt_isolation(int val, const char *optarg, int remote);
static int parse_args(int ac, char **av);

/* Registered from slurm_spank_init: sbatch and salloc ignore a static spank_options table. */
static struct spank_option isolation_option = {
    "isolation",
    "PROFILE",
    "File-system isolation profile of the job (private /tmp, /dev/shm and project mounts); "
    "--isolation=list shows the profiles allowed here",
    1,
    0,
    opt_isolation};

/* Per-process state: a slurmstepd serves one step, and its tasks are forked from it. */
static struct {
    char policy_path[4096];
    char requested[128]; /* --isolation, as given */
    /* set once per step by init_post_opt, used by every task */
    char error[2048]; /* non-empty: every task fails with this */
    bool isolate;
    bool allow_unisolated; /* on_error: allow */
    int nsfd;
    struct policy *policy; /* kept only when a task must build the namespace */
    struct plan *plan;
    struct job_state state;
} g = {.policy_path = POLICY_DEFAULT_PATH, .nsfd = -1};

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

/* Every hook starts here: slurm_spank_init does not run before job_prolog and job_epilog, so
 * each hook takes the plugin's arguments and the log sink itself. */
static int configure(int ac, char **av)
{
    log_set_sink(slurm_sink, NULL);
    return parse_args(ac, av);
}

static int parse_args(int ac, char **av)
{
    for (int i = 0; i < ac; i++) {
        if (strncmp(av[i], "policy=", 7) == 0) {
            snprintf(g.policy_path, sizeof(g.policy_path), "%s", av[i] + 7);
        } else {
            log_error("unknown argument \"%s\" in plugstack.conf; the only one is "
                      "policy=/etc/slurm/isolation.yaml",
                      av[i]);
            return -1;
        }
    }
    return 0;
}

/* Root mounts what the policy says: it and its directory must be root's and no one else's to
 * write. Returns true (with a message) if they are not. */
static bool policy_untrusted(struct err *e)
{
    char dir[sizeof(g.policy_path)];
    struct stat st, ds;
    char *slash;

    snprintf(dir, sizeof(dir), "%s", g.policy_path);
    slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    if (stat(g.policy_path, &st) < 0 || stat(slash ? dir : ".", &ds) < 0)
        return false; /* policy_load reports a missing file */
    if (st.st_uid == 0 && !(st.st_mode & 022) && ds.st_uid == 0 && !(ds.st_mode & 022))
        return false;
    errprintf(e,
              "the isolation policy %s is not trusted: it and its directory must be owned by "
              "root and writable by root only (chown root; chmod go-w)",
              g.policy_path);
    return true;
}

/* Load the policy; on failure put its first error, and how to see the rest, into E. */
static struct policy *load_policy(struct err *e)
{
    struct diag_list d;
    struct policy *p;
    char first[900] = "cannot be read";

    if (geteuid() == 0 && policy_untrusted(e))
        return NULL;
    diag_list_init(&d, g.policy_path);
    p = policy_load(g.policy_path, &d);
    if (!p) {
        for (size_t i = 0; i < d.count; i++)
            if (d.v[i].severity == DIAG_ERROR) {
                diag_format(&d, i, first, sizeof(first));
                break;
            }
        errprintf(e, "the isolation policy is invalid: %s%s", first,
                  d.errors > 1 ? " (and more: run isolationctl check)" : "");
    }
    diag_list_free(&d);
    return p;
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
    struct policy *p = load_policy(&e);
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

    if (access(g.policy_path, R_OK) < 0)
        return 0;
    if (!(p = load_policy(&e)))
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
    if (!optarg || !*optarg || strlen(optarg) >= sizeof(g.requested)) {
        slurm_error("isolation: --isolation needs a profile name (--isolation=list shows them)");
        return -1;
    }
    snprintf(g.requested, sizeof(g.requested), "%s", optarg);
    if (remote)
        return 0;
    if (strcmp(optarg, "list") == 0)
        print_allowed();
    return check_requested(optarg);
}

/* --- identity -------------------------------------------------------------------------------- */

struct identity_buf {
    struct job_identity id;
    char user[256];
    char **names; /* group names, the job's own group first */
    size_t nnames;
};

static void identity_free(struct identity_buf *b)
{
    for (size_t i = 0; i < b->nnames; i++)
        free(b->names[i]);
    free(b->names);
    b->names = NULL;
    b->nnames = 0;
}

/* The user's groups from NSS, grown until they all fit. */
static gid_t *group_ids(const char *user, gid_t gid, int *count)
{
    int n = 64;
    gid_t *gids = NULL;

    for (int tries = 0; tries < 16; tries++) {
        gid_t *grown = realloc(gids, n * sizeof(*grown));
        int want = n;
        if (!grown)
            break;
        gids = grown;
        if (getgrouplist(user, gid, gids, &want) >= 0) {
            *count = want;
            return gids;
        }
        n = want > n ? want : n * 2;
    }
    free(gids);
    return NULL;
}

/* Group filters decide what a job may see, so a group that cannot be named fails the job
 * rather than being dropped (a dropped group could make a "~group" filter match). */
static int add_group(struct identity_buf *b, gid_t gid, struct err *e)
{
    struct group *gr;

    errno = 0;
    if (!(gr = getgrgid(gid)))
        return errprintf(e,
                         "group %lu of user %s cannot be looked up in NSS (%s); the job's group "
                         "filters cannot be decided",
                         (unsigned long)gid, b->user, errno ? strerror(errno) : "no such group");
    if (!(b->names[b->nnames] = strdup(gr->gr_name)))
        return errprintf(e, "out of memory");
    b->nnames++;
    return 0;
}

/* The job's user and groups from NSS: the same answer pam_namespace would get on a login node. */
static int identity_fill(struct identity_buf *b, uid_t uid, gid_t gid, uint32_t job_id,
                         struct err *e)
{
    struct passwd *pw = getpwuid(uid);
    gid_t *gids = NULL;
    int n = 0, rc = -1;

    memset(b, 0, sizeof(*b));
    if (!pw)
        return errprintf(e, "uid %lu is unknown to NSS on this node", (unsigned long)uid);
    snprintf(b->user, sizeof(b->user), "%s", pw->pw_name);
    if (!(gids = group_ids(b->user, gid, &n)) || !(b->names = calloc(n + 1, sizeof(char *)))) {
        errprintf(e, "cannot get the groups of user %s from NSS", b->user);
        goto out;
    }
    if (add_group(b, gid, e) < 0)
        goto out;
    for (int i = 0; i < n; i++) {
        bool seen = gids[i] == gid;
        for (int j = 0; j < i && !seen; j++)
            seen = gids[j] == gids[i];
        if (!seen && add_group(b, gids[i], e) < 0)
            goto out;
    }
    b->id.user = b->user;
    b->id.uid = uid;
    b->id.gid = gid;
    b->id.group = b->names[0];
    b->id.groups = (const char *const *)b->names;
    b->id.ngroups = b->nnames;
    b->id.job_id = job_id;
    b->id.node_mem_bytes = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    rc = 0;
out:
    free(gids);
    return rc;
}

/* --- job prolog and epilog (root, in slurmd's namespace) ------------------------------------- */

static int get_job(spank_t sp, uint32_t *job_id, uid_t *uid, gid_t *gid)
{
    if (spank_get_item(sp, S_JOB_ID, job_id) != ESPANK_SUCCESS ||
        spank_get_item(sp, S_JOB_UID, uid) != ESPANK_SUCCESS ||
        spank_get_item(sp, S_JOB_GID, gid) != ESPANK_SUCCESS) {
        log_error("cannot get the job's id, uid and gid from Slurm");
        return -1;
    }
    return 0;
}

/* Plan for the job from trusted data: the partition comes from slurmd's prolog environment. */
static int prolog_plan(struct policy *p, uint32_t job_id, uid_t uid, gid_t gid, struct plan **plan,
                       struct err *e)
{
    struct identity_buf ib;
    const char *profile;
    const char *part = getenv("SLURM_JOB_PARTITION");
    const char *req = getenv(OPTION_ENV);
    int rc;

    if (identity_fill(&ib, uid, gid, job_id, e) < 0) {
        identity_free(&ib);
        return -1;
    }
    rc = profile_resolve(p, part ? part : "", req, &profile, e);
    if (rc == 0)
        rc = plan_build(p, profile, &ib.id, plan, e);
    identity_free(&ib);
    return rc;
}

int slurm_spank_job_prolog(spank_t sp, int ac, char **av)
{
    struct instance_store *s = NULL;
    struct plan *plan = NULL;
    struct policy *p;
    struct err e;
    uint32_t job_id;
    uid_t uid;
    gid_t gid;
    int rc = 0;

    if (configure(ac, av) < 0 || get_job(sp, &job_id, &uid, &gid) < 0)
        return 0;
    if (!(p = load_policy(&e))) {
        /* Every task of the job reports it; the node stays up. */
        log_error("job %" PRIu32 ": %s", job_id, e.text);
        return 0;
    }
    if (!(s = instance_store_open(p->instance_base, true, &e))) {
        log_error("job %" PRIu32 ": %s; this node cannot isolate jobs", job_id, e.text);
        rc = p->on_error == ON_ERROR_ALLOW ? 0 : -1;
        goto out;
    }
    if (instance_sweep_due(s, SWEEP_SECONDS) && instance_sweep(s, true, &e) < 0)
        log_error("sweeping stale instances: %s", e.text);
    /* A prolog runs once per job: what is already there was left by an earlier job that had
     * this id (a crash, a controller that lost its state), and must not reach this one. */
    if (instance_job_exists(s, job_id)) {
        log_warn("job %" PRIu32 ": removing what an earlier job with this id left", job_id);
        if (instance_job_discard(s, job_id, &e) < 0)
            log_error("job %" PRIu32 ": %s", job_id, e.text);
    }
    if (prolog_plan(p, job_id, uid, gid, &plan, &e) < 0) {
        job_record(s, job_id, uid, gid, NULL, e.text, NULL);
    } else if (!plan->isolate) {
        job_record(s, job_id, uid, gid, plan->profile, NULL, plan);
    } else if (job_setup(s, job_id, plan, uid, gid, &e) < 0) {
        int errnum = errno;
        log_error("job %" PRIu32 ": cannot isolate the job: %s", job_id, e.text);
        if (p->on_error == ON_ERROR_ALLOW) {
            job_record(s, job_id, uid, gid, plan->profile, NULL, plan);
        } else {
            char why[sizeof(e.text)];
            snprintf(why, sizeof(why), "cannot isolate the job: %.990s", e.text);
            instance_job_remove(s, job_id, NULL);
            job_record(s, job_id, uid, gid, plan->profile, why, NULL);
            rc = job_is_node_fault(errnum) ? -1 : 0;
        }
    }
out:
    plan_free(plan);
    instance_store_close(s);
    policy_free(p);
    return rc;
}

/* Clean up under the policy's base and under every base a prolog recorded: a policy that broke,
 * stopped being trusted or moved its base since the job started must not leave the job's files
 * behind. Each base must still pass the store's checks before anything in it is touched. */
int slurm_spank_job_epilog(spank_t sp, int ac, char **av)
{
    struct policy *p;
    struct err e;
    uint32_t job_id;
    uid_t uid;
    gid_t gid;

    if (configure(ac, av) < 0 || get_job(sp, &job_id, &uid, &gid) < 0)
        return 0;
    if (!(p = load_policy(&e)))
        log_error("job %" PRIu32 ": %s; cleaning up under the recorded instance bases", job_id,
                  e.text);
    instance_job_cleanup(p ? p->instance_base : NULL, job_id);
    policy_free(p);
    return 0;
}

/* --- slurmstepd: once per step, then per task ------------------------------------------------ */

static void step_fail(uint32_t job_id, const char *why)
{
    snprintf(g.error, sizeof(g.error), "job %" PRIu32 ": %s; the job's tasks were not started",
             job_id, why);
}

/* The job's memory on this node, in bytes; 0 when Slurm does not track memory. */
static uint64_t job_mem_bytes(spank_t sp)
{
    uint64_t mb = 0;

    if (spank_get_item(sp, S_JOB_ALLOC_MEM, &mb) != ESPANK_SUCCESS)
        return 0;
    return mb * 1024 * 1024;
}

/* No prolog ran for this job (the plugin was added while it ran): plan from what the step
 * knows. The partition is not trusted here, so only profiles allowed everywhere are accepted. */
static void step_prepare_fallback(spank_t sp, uint32_t job_id, uid_t uid, gid_t gid)
{
    struct identity_buf ib;
    const char *profile;
    struct err e;
    int rc = identity_fill(&ib, uid, gid, job_id, &e);

    ib.id.mem_bytes = job_mem_bytes(sp);
    if (rc < 0 ||
        profile_resolve(g.policy, NULL, g.requested[0] ? g.requested : NULL, &profile, &e) < 0 ||
        plan_build(g.policy, profile, &ib.id, &g.plan, &e) < 0) {
        step_fail(job_id, e.text);
    } else {
        g.isolate = g.plan->isolate;
        g.state.env = job_env_strings(g.plan);
    }
    identity_free(&ib);
}

/* The prolog does not know the job's memory, so it sized "N%" tmpfs instances from the node's;
 * the job's first step sets them from the job's (resize.h: the rule for scope: user). */
static void step_resize_tmpfs(spank_t sp, struct instance_store *s, uint32_t job_id)
{
    struct err e;

    if (job_resize_tmpfs(s, job_id, g.state.uid, g.nsfd, g.state.resize, job_mem_bytes(sp), &e) < 0)
        log_warn("%s", e.text);
}

static void step_fail_profile(uint32_t job_id)
{
    char why[512];

    snprintf(why, sizeof(why),
             "this step asks for isolation profile \"%s\" but the job runs "
             "with \"%s\": the profile belongs to the job; submit a new job to change it",
             g.requested, g.state.profile);
    step_fail(job_id, why);
}

/* A record this job did not make (a reused job id whose prolog Slurm skipped, or whose epilog
 * never ran) is removed; the job's extern step then records itself as what keeps the job
 * alive. */
static void step_check_record(spank_t sp, struct instance_store *s, uint32_t job_id, uid_t uid)
{
    uint32_t step = 0;
    struct err e;
    int rc = instance_job_drop_stale(s, job_id, uid, &e);

    if (rc < 0)
        log_error("job %" PRIu32 ": %s", job_id, e.text);
    else if (rc > 0)
        log_warn("job %" PRIu32 ": removed what an earlier job with this id left", job_id);
    if (spank_get_item(sp, S_JOB_STEPID, &step) == ESPANK_SUCCESS && step == EXTERN_STEP_ID &&
        instance_job_exists(s, job_id) && instance_job_hold(s, job_id, &e) < 0)
        log_error("%s", e.text);
}

static void step_prepare(spank_t sp)
{
    struct instance_store *s = NULL;
    struct err e;
    uint32_t job_id;
    uid_t uid;
    gid_t gid;

    if (get_job(sp, &job_id, &uid, &gid) < 0)
        return step_fail(0, "cannot identify the job");
    if (!(g.policy = load_policy(&e)))
        return step_fail(job_id, e.text);
    g.allow_unisolated = g.policy->on_error == ON_ERROR_ALLOW;
    if ((s = instance_store_open(g.policy->instance_base, false, &e)))
        step_check_record(sp, s, job_id, uid);
    if (!s || instance_state_read(s, job_id, &g.state, &e) < 0) {
        step_prepare_fallback(sp, job_id, uid, gid);
        instance_store_close(s);
        return;
    }
    if (g.state.error[0])
        step_fail(job_id, g.state.error);
    else if (g.state.uid != uid)
        step_fail(job_id, "its recorded isolation belongs to another user (a reused job id?)");
    else if (g.requested[0] && strcmp(g.requested, g.state.profile) != 0)
        step_fail_profile(job_id);
    else if ((g.isolate = g.state.isolated))
        g.nsfd = instance_pin_open(s, job_id, &e);
    if (g.nsfd >= 0)
        step_resize_tmpfs(sp, s, job_id);
    if (g.isolate && g.nsfd < 0)
        step_prepare_fallback(sp, job_id, uid, gid);
    instance_store_close(s);
}

int slurm_spank_init(spank_t sp, int ac, char **av)
{
    spank_context_t ctx = spank_context();

    if (configure(ac, av) < 0 && ctx == S_CTX_REMOTE)
        snprintf(g.error, sizeof(g.error), "the plugin's arguments in plugstack.conf are wrong");
    if ((ctx == S_CTX_LOCAL || ctx == S_CTX_ALLOCATOR || ctx == S_CTX_REMOTE) &&
        spank_option_register(sp, &isolation_option) != ESPANK_SUCCESS)
        log_error("cannot register the --isolation option");
    if (ctx == S_CTX_SLURMD) {
        /* Instances left by a reboot; never fail here, or slurmd would not start. */
        struct err e;
        struct policy *p = load_policy(&e);
        struct instance_store *s = p ? instance_store_open(p->instance_base, true, &e) : NULL;
        if (!s || instance_sweep(s, true, &e) < 0)
            log_error("at slurmd start: %s", e.text);
        instance_store_close(s);
        policy_free(p);
    }
    return 0;
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
    char *optarg = NULL;

    if (spank_context() != S_CTX_REMOTE || g.error[0])
        return 0;
    if (!g.requested[0] && spank_option_getopt(sp, &isolation_option, &optarg) == ESPANK_SUCCESS &&
        optarg)
        snprintf(g.requested, sizeof(g.requested), "%s", optarg);
    step_prepare(sp);
    return 0;
}

int slurm_spank_user_init(spank_t sp, int ac, char **av)
{
    if (g.error[0])
        return 0;
    for (char **v = g.state.env; v && *v; v++) {
        char *eq = strchr(*v, '=');
        if (!eq)
            continue;
        *eq = '\0';
        if (spank_setenv(sp, *v, eq + 1, 1) != ESPANK_SUCCESS)
            log_error("cannot set %s in the job's environment", *v);
        *eq = '=';
    }
    return 0;
}

/* The first task of a job without a prolog builds its namespace; the store lock makes the
 * others wait and then find the pin. */
static int task_build_fallback(spank_t sp, struct err *e)
{
    struct instance_store *s = instance_store_open(g.policy->instance_base, true, e);
    uint32_t job_id;
    uid_t uid;
    gid_t gid;
    int rc = -1;

    if (s && get_job(sp, &job_id, &uid, &gid) == 0 &&
        job_setup(s, job_id, g.plan, uid, gid, e) == 0)
        rc = g.nsfd = instance_pin_open(s, job_id, e);
    instance_store_close(s);
    return rc < 0 ? -1 : 0;
}

int slurm_spank_task_init_privileged(spank_t sp, int ac, char **av)
{
    struct err e;

    if (g.error[0]) {
        log_error("%s", g.error);
        return -1;
    }
    if (!g.isolate)
        return 0;
    if ((g.nsfd < 0 && task_build_fallback(sp, &e) < 0) || nsjob_enter(g.nsfd, &e) < 0) {
        if (g.allow_unisolated) {
            log_warn("running the task without isolation (on_error: allow): %s", e.text);
            return 0;
        }
        log_error("cannot isolate the task: %s; the task was not started", e.text);
        return -1;
    }
    close(g.nsfd);
    g.nsfd = -1;
    return 0;
}

/* Slurm 22.05 loads a plugin into slurmd only if it has a slurmd callback; this one makes
 * slurm_spank_init run at slurmd start, where the sweep is. */
int slurm_spank_slurmd_exit(spank_t sp, int ac, char **av)
{
    return 0;
}

int slurm_spank_exit(spank_t sp, int ac, char **av)
{
    if (g.nsfd >= 0)
        close(g.nsfd);
    g.nsfd = -1;
    job_state_clear(&g.state);
    plan_free(g.plan);
    policy_free(g.policy);
    g.plan = NULL;
    g.policy = NULL;
    return 0;
}
