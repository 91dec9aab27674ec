/* slurmd's side of the plugin: the job prolog and epilog (root, in slurmd's namespace) and
 * slurmd's start. */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>

#include "isolation.h"

#define OPTION_ENV "SPANK__SLURM_SPANK_OPTION_isolation_isolation"

void slurmd_start(void)
{
    /* Instances left by a reboot; never fail here, or slurmd would not start. */
    struct err e;
    char cmdline[8192];
    struct policy *p =
        job_policy_load_node(iso.policy_path, plugin_slurmd_node(cmdline, sizeof(cmdline)), &e);
    struct instance_store *s = p ? instance_store_open(p->instance_base, true, &e) : NULL;

    if (!s || instance_sweep(s, true, &e) < 0)
        log_error("at slurmd start: %s", e.text);
    instance_store_close(s);
    policy_free(p);
}

/* The job's profile is resolved from trusted data: the partition comes from slurmd's prolog
 * environment. A policy error never fails the prolog (that would drain the node): every task of
 * the job reports it. */
int slurm_spank_job_prolog(spank_t sp, int ac, char **av)
{
    struct job_request r = {0};
    const char *part = getenv("SLURM_JOB_PARTITION");
    struct policy *p;
    struct err e;
    int rc;

    if (plugin_configure(ac, av) < 0 || plugin_get_job(sp, &r.job_id, &r.uid, &r.gid) < 0)
        return 0;
    r.node = getenv("SLURMD_NODENAME");
    if (!(p = job_policy_load_node(iso.policy_path, r.node, &e))) {
        log_error("job %" PRIu32 ": %s", r.job_id, e.text);
        return 0;
    }
    r.partition = part ? part : "";
    r.profile = getenv(OPTION_ENV);
    rc = job_begin(p, &r);
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

    if (plugin_configure(ac, av) < 0 || plugin_get_job(sp, &job_id, &uid, &gid) < 0)
        return 0;
    if (!(p = job_policy_load_node(iso.policy_path, getenv("SLURMD_NODENAME"), &e)))
        log_error("job %" PRIu32 ": %s; cleaning up under the recorded instance bases", job_id,
                  e.text);
    job_cleanup(p, job_id);
    policy_free(p);
    return 0;
}

/* Slurm 22.05 loads a plugin into slurmd only if it has a slurmd callback; this one makes
 * slurm_spank_init run at slurmd start, where the sweep is. */
int slurm_spank_slurmd_exit(spank_t sp, int ac, char **av)
{
    return 0;
}
