/* slurmstepd's side of the plugin: once per step (init_post_opt), then per task. The step
 * reads the prolog's decision and opens the pin; each task enters the namespace (one setns). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slurm/slurm.h>

#include "isolation.h"

/* Slurm's step id of a job's extern step (PrologFlags=Contain), from slurm.h. */
#define EXTERN_STEP_ID 0xfffffffcU

#ifdef PROLOG_FLAG_RUN_IN_JOB
/* slurmstepd's own configuration (a global of Slurm's daemons, of the layout of the slurm.h this
 * plugin was built with: SPANK loads it only into the same major.minor). Weak: absent elsewhere. */
extern slurm_conf_t slurm_conf __attribute__((weak));

/* PrologFlags=RunInJob (24.05+): the prolog runs from the job's extern step, after its
 * init_post_opt, and Slurm calls no plugin's job_prolog or job_epilog at all: the node's Prolog
 * and Epilog scripts must run isolationctl's. */
static bool prolog_runs_in_job(void)
{
    const slurm_conf_t *conf = &slurm_conf;

    if (!conf) /* never seen: slurmstepd exports it on every release tested */
        log_warn("cannot read slurmstepd's configuration: PrologFlags=RunInJob is not detected");
    return conf && (conf->prolog_flags & PROLOG_FLAG_RUN_IN_JOB);
}
#else
static bool prolog_runs_in_job(void)
{
    return false;
}
#endif

#define NO_PROLOG_RUN_IN_JOB                                                                       \
    "no prolog set this job up: with PrologFlags=RunInJob Slurm calls no plugin's job_prolog, so " \
    "the node's Prolog and Epilog must run \"isolationctl prolog\" and \"isolationctl epilog\" "   \
    "(spank-isolation(8))"

static void step_fail(uint32_t job_id, const char *why)
{
    snprintf(iso.error, sizeof(iso.error), "job %" PRIu32 ": %s; the job's tasks were not started",
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

/* slurmd put this slurmstepd in the job's namespace already (the companion plugin, Slurm 23.02+),
 * handing it the job's record in its environment, which only slurmd sets: true if so (the step is
 * then prepared, or failed, from that record). */
static bool step_joined(const struct job_request *r)
{
    const char *job = getenv(JOB_JOINED_ENV), *record = getenv(JOB_RECORD_ENV);
    char id[16];
    struct err e;

    snprintf(id, sizeof(id), "%" PRIu32, r->job_id);
    if (!job || !record || strcmp(job, id) != 0)
        return false;
    if (job_session_open_joined(&iso.js, iso.policy_path, r, record, &e) < 0)
        step_fail(r->job_id, e.text);
    return true; /* the variables stay: the companion's own joins in this process skip by them */
}

/* Without a prolog's record the partition is not trusted here (r.partition NULL), so only
 * profiles allowed everywhere are accepted. */
static void step_prepare(spank_t sp)
{
    struct job_request r = {0};
    uint32_t step = 0;
    struct err e;

    if (plugin_get_job(sp, &r.job_id, &r.uid, &r.gid) < 0)
        return step_fail(0, "cannot identify the job");
    r.profile = iso.requested[0] ? iso.requested : NULL;
    r.mem_bytes = job_mem_bytes(sp);
    r.hold = spank_get_item(sp, S_JOB_STEPID, &step) == ESPANK_SUCCESS && step == EXTERN_STEP_ID;
    if (!r.hold && step_joined(&r))
        return;
    if (prolog_runs_in_job()) {
        if (r.hold)
            return; /* the prolog comes after this: it records the extern step itself */
        r.no_record = NO_PROLOG_RUN_IN_JOB;
    }
    r.node_lookup = plugin_stepd_node; /* only for a base that names the node */
    if (job_session_open(&iso.js, iso.policy_path, &r, &e) < 0)
        step_fail(r.job_id, e.text);
}

/* slurmstepd makes each step's PMIx client directory in SLURM_PMIX_TMPDIR (else mpi.conf's
 * PMIxCliTmpDirBase, else TmpFS, /tmp) before the tasks start, and tells them its path: in the
 * node's /tmp the tasks, inside the job's namespace, would not find it (Open MPI over PMIx 5
 * then fails in MPI_Init). The job's shared directory is at one path in both views. Set here,
 * before slurmstepd reads it. */
static void step_share(spank_t sp)
{
    if (iso.error[0] || !iso.js.share[0])
        return;
    if (spank_setenv(sp, "SLURM_PMIX_TMPDIR", iso.js.share, 1) != ESPANK_SUCCESS)
        log_error("cannot set SLURM_PMIX_TMPDIR in the step's environment");
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
    char *optarg = NULL;

    if (spank_context() != S_CTX_REMOTE || iso.error[0])
        return 0;
    if (!iso.requested[0] &&
        spank_option_getopt(sp, &isolation_option, &optarg) == ESPANK_SUCCESS && optarg)
        snprintf(iso.requested, sizeof(iso.requested), "%s", optarg);
    step_prepare(sp);
    step_share(sp);
    return 0;
}

int slurm_spank_user_init(spank_t sp, int ac, char **av)
{
    if (iso.error[0])
        return 0;
    for (char **v = iso.js.state.env; v && *v; v++) {
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

int slurm_spank_task_init_privileged(spank_t sp, int ac, char **av)
{
    struct err e;

    if (iso.error[0]) {
        log_error("%s", iso.error);
        return -1;
    }
    if (job_session_enter(&iso.js, &e) < 0) {
        if (job_session_allows_unisolated(&iso.js)) {
            log_warn("running the task without isolation (on_error: allow): %s", e.text);
            return 0;
        }
        log_error("cannot isolate the task: %s; the task was not started", e.text);
        return -1;
    }
    return 0;
}

int slurm_spank_exit(spank_t sp, int ac, char **av)
{
    job_session_close(&iso.js);
    return 0;
}
