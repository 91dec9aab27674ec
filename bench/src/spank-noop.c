/* A SPANK plugin whose job prolog and epilog do nothing: the control for what any plugin with
 * those hooks costs a job, whatever it does in them (Slurm runs them in processes of their
 * own; see bench/README.md). plugstack.conf: "required /path/spank-noop.so".
 *
 * Built by bench/clusters.sh with cc -shared; benchmarks only. */
#include <slurm/spank.h>

SPANK_PLUGIN(isobench_noop, 1);

int slurm_spank_job_prolog(spank_t sp, int ac, char **av)
{
    (void)sp, (void)ac, (void)av;
    return ESPANK_SUCCESS;
}

int slurm_spank_job_epilog(spank_t sp, int ac, char **av)
{
    (void)sp, (void)ac, (void)av;
    return ESPANK_SUCCESS;
}
