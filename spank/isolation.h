/* What the plugin's files share: the per-process state and the helpers every hook uses. The
 * work itself is in common/job (job/job.h); these files only speak SPANK. */
#ifndef ISO_SPANK_ISOLATION_H
#define ISO_SPANK_ISOLATION_H

#include <stdint.h>
#include <sys/types.h>

#include <slurm/spank.h>

#include "job/job.h"

/* Per-process state: a slurmstepd serves one step, and its tasks are forked from it. */
struct plugin_state {
    char policy_path[4096];
    char requested[128]; /* --isolation, as given */
    /* set once per step by init_post_opt, used by every task */
    char error[2048]; /* non-empty: every task fails with this */
    struct job_session js;
};

extern struct plugin_state iso;

/* The --isolation option (isolation.c). */
extern struct spank_option isolation_option;

/* Every hook starts here: slurm_spank_init does not run before job_prolog and job_epilog, so
 * each hook takes the plugin's arguments and the log sink itself. */
int plugin_configure(int ac, char **av);

/* The job's id, uid and gid from Slurm; -1 (logged) if Slurm does not give them. */
int plugin_get_job(spank_t sp, uint32_t *job_id, uid_t *uid, gid_t *gid);

/* The node's name where the environment does not give it (node.c), in BUF; NULL when unknown
 * (the short host name is the node's then): at slurmd's start, from its -N; in slurmstepd, from
 * the step's socket, for job JOB_ID. */
const char *plugin_slurmd_node(char *buf, size_t size);
const char *plugin_stepd_node(uint32_t job_id, char *buf, size_t size);

/* At slurmd start: sweep the instances left by a reboot (prolog.c). */
void slurmd_start(void);

#endif
