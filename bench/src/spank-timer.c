/* A pair of SPANK plugins that time the plugin between them, hook by hook, inside real Slurm
 * daemons. plugstack.conf lists
 *
 *   required /path/spank-timer-begin.so log=/path/hooks.log
 *   required /path/isolation.so policy=...
 *   required /path/spank-timer-end.so begin=/path/spank-timer-begin.so
 *
 * SPANK calls the plugins of a hook in that order, in one process: "begin" opens the log and
 * reads the clock last thing before returning, "end" reads it first thing, finds begin's state
 * with dlsym() and appends "CONTEXT HOOK NANOSECONDS" to the log. What is timed is the middle
 * plugin's hook and SPANK's passage from one plugin to the next (a function call).
 *
 * Built twice from this file: with -DTIMER_END for the second one. Benchmarks only: it logs
 * every hook of every job. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <slurm/spank.h>

#ifdef TIMER_END
SPANK_PLUGIN(isobench_timer_end, 1);
#else
SPANK_PLUGIN(isobench_timer_begin, 1);
#endif

/* Begin's state, read by end through dlsym: the clock and the open log. */
struct isobench_timer {
    uint64_t t0;
    int fd;
};

static uint64_t now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *arg(int ac, char **av, const char *key)
{
    size_t n = strlen(key);

    for (int i = 0; i < ac; i++)
        if (strncmp(av[i], key, n) == 0 && av[i][n] == '=')
            return av[i] + n + 1;
    return NULL;
}

#ifndef TIMER_END
struct isobench_timer isobench_timer = {.fd = -1};

static int mark(int ac, char **av)
{
    const char *log = arg(ac, av, "log");

    if (isobench_timer.fd < 0 && log)
        isobench_timer.fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    isobench_timer.t0 = now();
    return 0;
}
#else
/* Found once per process, before any task is forked: a task must not dlopen (another thread
 * of slurmstepd may have held the loader's lock at fork). */
static struct isobench_timer *begin_state(int ac, char **av)
{
    static struct isobench_timer *b;
    const char *path = arg(ac, av, "begin");
    void *h;

    if (!b && path && (h = dlopen(path, RTLD_NOW | RTLD_NOLOAD)))
        b = dlsym(h, "isobench_timer"); /* the handle stays open, and so does B */
    return b;
}

static int mark_end(int ac, char **av, const char *hook)
{
    static const char *const ctx[] = {"error",         "srun",   "slurmstepd",
                                      "sbatch/salloc", "slurmd", "prolog/epilog"};
    uint64_t t1 = now();
    struct isobench_timer *b = begin_state(ac, av);
    spank_context_t c = spank_context();
    char line[128];

    if (b && b->fd >= 0) {
        int n = snprintf(line, sizeof(line), "%s %s %llu\n",
                         c >= 0 && c <= S_CTX_JOB_SCRIPT ? ctx[c] : "?", hook,
                         (unsigned long long)(t1 - b->t0));
        if (write(b->fd, line, (size_t)n) < 0)
            return 0;
    }
    return 0;
}
#define mark(ac, av) mark_end(ac, av, __func__ + sizeof("slurm_spank_") - 1)
#endif

int slurm_spank_init(spank_t sp, int ac, char **av)
{
    return mark(ac, av);
}
int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
    return mark(ac, av);
}
int slurm_spank_user_init(spank_t sp, int ac, char **av)
{
    return mark(ac, av);
}
int slurm_spank_task_init_privileged(spank_t sp, int ac, char **av)
{
    return mark(ac, av);
}
int slurm_spank_job_prolog(spank_t sp, int ac, char **av)
{
    return mark(ac, av);
}
int slurm_spank_job_epilog(spank_t sp, int ac, char **av)
{
    return mark(ac, av);
}
int slurm_spank_exit(spank_t sp, int ac, char **av)
{
    return mark(ac, av);
}
int slurm_spank_slurmd_exit(spank_t sp, int ac, char **av)
{
    return mark(ac, av);
}
