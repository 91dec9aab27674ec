/* The companion plugin (spank-isolation(8), COMPANION): job_container/isolation up to Slurm 25.05
 * (JobContainerType), namespace/isolation from 25.11 (NamespaceType). It owns no policy. Where
 * Slurm itself acts for a job (sbcast's writer, a task before the plugin's task hook, the task
 * epilog, pam_slurm_adopt through the extern step, and from 23.02 slurmd before it execs each
 * step's slurmstepd), Slurm asks its container plugin to join the job: this one enters the
 * namespace the SPANK plugin's prolog made and pinned, found from the records alone, or leaves
 * the process in the node's view when the job has none (profile none, or isolation failed: the
 * SPANK plugin then fails the job's tasks itself).
 *
 * Slurm loads it only when plugin_version is its own version exactly: it is built for one Slurm
 * release, and configure refuses the releases the project has not been tested with. Slurm's
 * plugin interfaces are not in libslurm-dev: the entry points below follow each release's
 * src/interfaces (or src/slurmd/common) as tested; slurmstepd's step record is never looked
 * into. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>
#include <slurm/slurm_version.h>
#include <slurm/spank.h> /* slurm_error() and the others: Slurm's log */

#include "job/job.h"
#include "util/util.h"

#if SLURM_VERSION_NUMBER >= SLURM_VERSION_NUM(25, 11, 0)
#define COMPANION_TYPE "namespace/isolation"
#else
#define COMPANION_TYPE "job_container/isolation"
#endif

const char plugin_name[] = "spank-isolation companion: Slurm joins the job's namespace";
const char plugin_type[] = COMPANION_TYPE;
const uint32_t plugin_version = SLURM_VERSION_NUMBER;

typedef struct stepd_step_rec stepd_step_rec_t; /* slurmstepd's; never looked into */

static void slurm_sink(enum log_level level, const char *msg, void *arg)
{
    (void)arg;
    switch (level) {
    case LOG_LEVEL_ERROR:
        slurm_error("%s: %s", plugin_type, msg);
        break;
    case LOG_LEVEL_WARN:
    case LOG_LEVEL_INFO:
        slurm_info("%s: %s", plugin_type, msg);
        break;
    case LOG_LEVEL_DEBUG:
        slurm_debug("%s: %s", plugin_type, msg);
        break;
    }
}

int init(void)
{
    log_set_sink(slurm_sink, NULL);
    return SLURM_SUCCESS;
}

void fini(void)
{
}

/* slurmd's child about to exec a step's slurmstepd (STEP): slurmstepd will be in the job's
 * namespace, where the SPANK plugin cannot reach the job's record, so it gets it from its
 * environment (job.h's JOB_RECORD_ENV; only slurmd sets slurmstepd's environment). */
static int hand_record(uint32_t job_id, const struct job_state *st)
{
    char id[16], *text = job_state_format(st);
    int rc = 0;

    snprintf(id, sizeof(id), "%" PRIu32, job_id);
    if (!text || setenv(JOB_JOINED_ENV, id, 1) < 0 || setenv(JOB_RECORD_ENV, text, 1) < 0) {
        log_error("job %" PRIu32 ": cannot hand its record to the step: %s", job_id,
                  strerror(errno));
        rc = -1;
    }
    free(text);
    return rc;
}

/* Whether this process is a slurmstepd that slurmd put in job JOB_ID's namespace (hand_record):
 * its own processes are there already, and the store cannot be reached from there. */
static bool joined_already(uint32_t job_id)
{
    const char *job = getenv(JOB_JOINED_ENV);
    char id[16];

    snprintf(id, sizeof(id), "%" PRIu32, job_id);
    return job && strcmp(job, id) == 0;
}

/* A job found without a namespace to enter: whether Slurm may act for it in the node's view.
 * Not isolated (profile none), or no record (a job older than the plugin): yes. Its isolation
 * failed: in slurmstepd yes, so that the SPANK plugin fails the job's tasks and says why; in
 * slurmd (sbcast's writer) no. Anything else (another user's record, a namespace that is gone, a
 * base that cannot be checked): no. */
static int without_namespace(uint32_t job_id, enum job_ns why, const struct err *e)
{
    bool stepd = strcmp(program_invocation_short_name, "slurmstepd") == 0;

    if (why == JOB_NS_NONE || why == JOB_NS_NO_RECORD || (why == JOB_NS_FAILED && stepd)) {
        log_msg(LOG_LEVEL_INFO, "%s: Slurm acts for it in the node's view", e->text);
        return SLURM_SUCCESS;
    }
    log_error("cannot join job %" PRIu32 ": %s", job_id, e->text);
    return SLURM_ERROR;
}

/* Enter job JOB_ID's namespace, for a process Slurm runs as UID for the job (STEP: the process
 * that execs a step's slurmstepd). Slurm's own calls with uid 0 (on 22.05, the prolog's and
 * epilog's processes, which must stay in the node's view to make and remove the job's instances)
 * join nothing. */
static int join(uint32_t job_id, uid_t uid, bool step)
{
    struct job_state st = {0};
    enum job_ns why;
    struct err e;
    int fd, rc = SLURM_SUCCESS;

    if (uid == 0 || (!step && joined_already(job_id)))
        return SLURM_SUCCESS;
    if ((fd = job_namespace_open(job_id, uid, step ? &st : NULL, &why, &e)) < 0)
        return without_namespace(job_id, why, &e);
    if (step && hand_record(job_id, &st) < 0)
        rc = SLURM_ERROR;
    job_state_clear(&st);
    if (rc == SLURM_SUCCESS && setns(fd, CLONE_NEWNS) < 0) {
        log_error("cannot join job %" PRIu32 "'s namespace: %s", job_id, strerror(errno));
        rc = SLURM_ERROR;
    }
    close(fd);
    return rc;
}

/* The extern step answers pam_slurm_adopt with a namespace fd; slurmstepd never closes it, so
 * it is opened once per extern step (its requests may come on several threads). 0: the job is
 * not isolated (the session stays in the node's view); -1 otherwise, a job with no record
 * included (under RunInJob its prolog may still be running): pam_slurm_adopt then fails the
 * adoption, which refuses the session with its action_adopt_failure=deny. */
static int ns_fd = -1;
static pthread_mutex_t ns_lock = PTHREAD_MUTEX_INITIALIZER;

static int external_fd(uint32_t job_id)
{
    enum job_ns why;
    struct err e;
    int fd;

    pthread_mutex_lock(&ns_lock);
    if (ns_fd < 0)
        ns_fd = job_namespace_open(job_id, 0, NULL, &why, &e);
    else
        why = JOB_NS_OPEN;
    fd = ns_fd;
    pthread_mutex_unlock(&ns_lock);
    if (why == JOB_NS_OPEN)
        return fd;
    if (why == JOB_NS_NONE) {
        log_msg(LOG_LEVEL_INFO, "%s: an adopted session stays in the node's view", e.text);
        return 0;
    }
    log_error("an adopted session cannot join job %" PRIu32 ": %s", job_id, e.text);
    return -1;
}

#if SLURM_VERSION_NUMBER >= SLURM_VERSION_NUM(25, 11, 0)
/* Slurm 25.11+: namespace/ plugins (src/interfaces/namespace.c). */
int namespace_p_join(slurm_step_id_t *step_id, uid_t uid, bool step_create)
{
    /* step_create: slurmd, before it execs a step's slurmstepd, which then runs whole in the
     * job's namespace (its output files, its PMIx directory); else a process of slurmstepd's. */
    return join(step_id->job_id, uid, step_create);
}

int namespace_p_join_external(slurm_step_id_t *step_id, list_t *fd_map)
{
    static ns_fd_map_t entry;
    int fd = external_fd(step_id->job_id);

    /* Never negative here: pam_slurm_adopt 26.05 then frees its list twice. So on 26.05 a
     * session that cannot be joined stays in the node's view (slurmd's log says why). */
    if (fd <= 0)
        return 0;
    entry.type = CLONE_NEWNS;
    entry.fd = fd;
    slurm_list_append(fd_map, &entry);
    return 1;
}

int namespace_p_restore(char *dir_name, bool recover)
{
    return SLURM_SUCCESS;
}

int namespace_p_stepd_create(stepd_step_rec_t *step)
{
    return SLURM_SUCCESS;
}

int namespace_p_stepd_delete(void *step)
{
    return SLURM_SUCCESS;
}

int namespace_p_send_stepd(int fd)
{
    return SLURM_SUCCESS;
}

int namespace_p_recv_stepd(int fd)
{
    return SLURM_SUCCESS;
}

bool namespace_p_can_bpf(stepd_step_rec_t *step)
{
    return true;
}

int namespace_p_setup_bpf_token(stepd_step_rec_t *step)
{
    return SLURM_SUCCESS;
}

#elif SLURM_VERSION_NUMBER >= SLURM_VERSION_NUM(23, 2, 0)
/* Slurm 23.02 to 25.05: job_container/ plugins (src/interfaces/job_container.c, 24.11). */
int container_p_join(slurm_step_id_t *step_id, uid_t uid, bool step_create)
{
    /* See namespace_p_join; 24.11 gives step_create calls a scrambled step id, its job id holds. */
    return join(step_id->job_id, uid, step_create);
}

int container_p_join_external(uint32_t job_id)
{
    return external_fd(job_id);
}

int container_p_restore(char *dir_name, bool recover)
{
    return SLURM_SUCCESS;
}

int container_p_stepd_create(uint32_t job_id, stepd_step_rec_t *step)
{
    return SLURM_SUCCESS;
}

int container_p_stepd_delete(uint32_t job_id)
{
    return SLURM_SUCCESS;
}

int container_p_send_stepd(int fd)
{
    return SLURM_SUCCESS; /* nothing to send: recv_stepd reads nothing */
}

int container_p_recv_stepd(int fd)
{
    return SLURM_SUCCESS;
}

#else
/* Slurm 22.05: src/slurmd/common/job_container_plugin.c. */
int container_p_create(uint32_t job_id, uid_t uid)
{
    return SLURM_SUCCESS;
}

int container_p_add_cont(uint32_t job_id, uint64_t cont_id)
{
    return SLURM_SUCCESS;
}

int container_p_join(uint32_t job_id, uid_t uid)
{
    return join(job_id, uid, false); /* 22.05 joins no slurmstepd: output files stay outside */
}

int container_p_join_external(uint32_t job_id)
{
    return external_fd(job_id);
}

int container_p_delete(uint32_t job_id)
{
    return SLURM_SUCCESS;
}

int container_p_restore(char *dir_name, bool recover)
{
    return SLURM_SUCCESS;
}

void container_p_reconfig(void)
{
}

int container_p_stepd_create(uint32_t job_id, uid_t uid)
{
    return SLURM_SUCCESS;
}

int container_p_stepd_delete(uint32_t job_id)
{
    return SLURM_SUCCESS;
}
#endif
