/* Per-task entry cost: the time a task spends in the plugin's task hook, from entry to return:
 * nsjob_enter() on the pin opened once per step (one setns()), then closing it; exactly what
 * slurm_spank_task_init_privileged does. The baseline is what per-task SPANK plugins do: the
 * task unshares its own mount namespace (CLONE_NEWNS copies every host mount), makes "/"
 * slave, and binds the job's directories over /tmp, /var/tmp and /dev/shm (bind, then remount
 * nosuid,nodev).
 *
 * Tasks are forked single-threaded children, released together as slurmstepd releases a step's
 * tasks; each times its own hook with CLOCK_MONOTONIC. Every round runs one step per method
 * in every world (30, 300, 3,000 extra host mounts...), in a rotating order, so that drift of
 * the machine falls on all of them alike.
 *
 *   task-entry [--tasks 1,32,128] [--samples N] [--rounds N] [--settle MS] DIR:EXTRA...
 *
 * Steps run back to back: the mounts of the namespaces a step's tasks dropped are freed after an
 * RCU grace period, while the next step runs, as on a busy node; it shows in the p99 of the step
 * after an unshare step at 3,000 mounts. --settle MS waits that long after each step, then keeps
 * the CPU busy for 1 ms (a CPU waking from idle is slow on some VMs).
 *
 * DIR holds policy.yaml (the example's strict profile, rebased under DIR). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "store/store.h"
#include "job/job.h"
#include "ns/ns.h"

#define MAX_WORLDS 8
#define MAX_T 8
#define JOB_ID 101
#define FAILED UINT64_MAX

enum method { PLUGIN, UNSHARE, NMETHODS };
static const char *const method_name[] = {"setns (plugin)", "unshare + binds"};

struct bind {
    char source[PATH_MAX];
    char target[PATH_MAX];
};

struct world {
    const char *dir;
    unsigned extra, mounts;
    int ns;  /* the world's mount namespace */
    int pin; /* the job's pinned namespace, opened once as each step does */
    struct bind binds[8];
    size_t nbinds;
    struct samples s[MAX_T][NMETHODS];
};

/* --- one task -------------------------------------------------------------------------------- */

static uint64_t hook_plugin(int pin)
{
    struct err e;
    uint64_t t0 = now_ns();

    if (nsjob_enter(pin, &e) < 0) {
        fprintf(stderr, "bench: task: %s\n", e.text);
        return FAILED;
    }
    close(pin);
    return now_ns() - t0;
}

static uint64_t hook_unshare(const struct world *w)
{
    uint64_t t0 = now_ns();

    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
        fprintf(stderr, "bench: task: cannot unshare: %m\n");
        return FAILED;
    }
    for (size_t i = 0; i < w->nbinds; i++)
        if (mount(w->binds[i].source, w->binds[i].target, NULL, MS_BIND, NULL) < 0 ||
            mount(NULL, w->binds[i].target, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV,
                  NULL) < 0) {
            fprintf(stderr, "bench: task: bind %s on %s: %m\n", w->binds[i].source,
                    w->binds[i].target);
            return FAILED;
        }
    return now_ns() - t0;
}

/* --- one step: T tasks forked, then released together ------------------------------------- */

static void step(const struct world *w, enum method m, unsigned tasks, struct samples *out)
{
    int go[2], res[2];
    uint64_t v;
    unsigned got = 0;

    must(pipe2(go, O_CLOEXEC));
    must(pipe2(res, O_CLOEXEC));
    for (unsigned i = 0; i < tasks; i++) {
        pid_t pid = fork();
        must(pid);
        if (pid == 0) {
            char c;
            close(go[1]);
            close(res[0]);
            if (read(go[0], &c, 1) < 0)
                _exit(1);
            v = m == PLUGIN ? hook_plugin(w->pin) : hook_unshare(w);
            _exit(write(res[1], &v, sizeof(v)) == sizeof(v) ? 0 : 1);
        }
    }
    close(go[0]);
    close(res[1]);
    close(go[1]); /* the release: every task reads EOF */
    while (got < tasks && read(res[0], &v, sizeof(v)) == sizeof(v)) {
        if (v == FAILED)
            die("a task of %s failed (%u extra mounts)", method_name[m], w->extra);
        samples_add(out, v);
        got++;
    }
    close(res[0]);
    while (wait(NULL) > 0)
        ;
    if (got < tasks)
        die("%u of %u tasks reported", got, tasks);
}

/* Let the namespaces the tasks dropped be freed (after an RCU grace period), then keep the CPU
 * busy for a millisecond, so that the next step starts neither in their clean-up nor on a CPU
 * waking from idle. */
static void settle(unsigned ms)
{
    uint64_t end;

    if (!ms)
        return;
    usleep(ms * 1000);
    end = now_ns() + 1000000;
    while (now_ns() < end)
        ;
}

/* --- set-up -------------------------------------------------------------------------------- */

/* The per-task baseline binds what the plugin's namespace has at the same places: the job's
 * disk instances, and for a tmpfs polydir a directory standing for it. */
static void baseline_binds(struct world *w, const struct plan *plan, const char *base)
{
    char name[256];

    for (size_t i = 0; i < plan->npolydirs && w->nbinds < 8; i++) {
        const struct plan_polydir *d = &plan->polydirs[i];
        struct bind *b = &w->binds[w->nbinds++];
        instance_name(d->path, name, sizeof(name));
        if (d->backing == BACKING_TMPFS && d->scope == SCOPE_JOB) {
            snprintf(b->source, sizeof(b->source), "%s/shm-%s", w->dir, name);
            if (mkdir(b->source, 01777) < 0 && errno != EEXIST)
                die("mkdir %s: %m", b->source);
        } else {
            snprintf(b->source, sizeof(b->source), "%s/%s/%d/%s", base,
                     d->scope == SCOPE_JOB ? "job" : "user",
                     d->scope == SCOPE_JOB ? JOB_ID : BENCH_UID, name);
        }
        snprintf(b->target, sizeof(b->target), "%s", d->path);
    }
}

static void world_setup(struct world *w)
{
    char path[PATH_MAX];
    struct instance_store *s;
    struct policy *p;
    struct plan *plan;
    struct err e;

    w->ns = world_create(w->dir, w->extra);
    world_enter(w->ns);
    bench_rundir(w->dir);
    snprintf(path, sizeof(path), "%s/policy.yaml", w->dir);
    p = bench_policy_load(path);
    plan = bench_plan(p, JOB_ID, 4ull << 30);
    if (!(s = instance_store_open(p->instance_base, true, &e)) ||
        job_setup(s, JOB_ID, plan, BENCH_UID, BENCH_GID, &e) < 0 ||
        (w->pin = instance_pin_open(s, JOB_ID, &e)) < 0)
        die("%s: %s", w->dir, e.text);
    baseline_binds(w, plan, instance_store_path(s));
    instance_store_close(s);
    plan_free(plan);
    policy_free(p);
}

/* --- report -------------------------------------------------------------------------------- */

static void report(struct world *w, size_t nw, const unsigned *tasks, size_t nt)
{
    printf("| tasks/node | extra host mounts (seen) | setns (plugin) median | p99 | "
           "unshare + binds median | p99 | plugin / unshare | samples |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t t = 0; t < nt; t++)
        for (size_t i = 0; i < nw; i++) {
            struct samples *s = w[i].s[t];
            uint64_t a = samples_median(&s[PLUGIN]), b = samples_median(&s[UNSHARE]);
            printf("| %u | %u (%u) | %s | %s | %s | %s | %.3fx | %zu |\n", tasks[t], w[i].extra,
                   w[i].mounts, NS(a), NS(samples_pct(&s[PLUGIN], 99)), NS(b),
                   NS(samples_pct(&s[UNSHARE], 99)), RATIO(a, b), s[PLUGIN].n);
        }
    if (nw < 2)
        return;
    printf("\nGrowth from %u to %u extra host mounts (median at %u / median at %u); goals: "
           "plugin at most 1.2x and median under 300 us\n\n",
           w[0].extra, w[nw - 1].extra, w[nw - 1].extra, w[0].extra);
    printf("| tasks/node | setns (plugin) | unshare + binds | plugin median, worst world | "
           "verdict |\n|---:|---:|---:|---:|---|\n");
    for (size_t t = 0; t < nt; t++) {
        struct samples *lo = w[0].s[t], *hi = w[nw - 1].s[t];
        double g = RATIO(samples_median(&hi[PLUGIN]), samples_median(&lo[PLUGIN]));
        uint64_t worst = 0;
        for (size_t i = 0; i < nw; i++) {
            uint64_t m = samples_median(&w[i].s[t][PLUGIN]);
            worst = m > worst ? m : worst;
        }
        printf("| %u | %.2fx | %.2fx | %s | %s |\n", tasks[t], g,
               RATIO(samples_median(&hi[UNSHARE]), samples_median(&lo[UNSHARE])), NS(worst),
               g <= 1.2 && worst < 300000 ? "met" : "missed");
    }
}

int main(int argc, char **argv)
{
    unsigned tasks[MAX_T] = {1, 32, 128}, samples_min = 500, rounds_min = 10, settle_ms = 0;
    size_t nt = 3, nw = 0;
    struct world w[MAX_WORLDS] = {0};

    for (int i = 1; i < argc; i++) {
        char *colon = strrchr(argv[i], ':');
        if (!strcmp(argv[i], "--tasks") && i + 1 < argc)
            nt = parse_list(argv[++i], tasks, MAX_T);
        else if (!strcmp(argv[i], "--samples") && i + 1 < argc)
            samples_min = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds_min = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--settle") && i + 1 < argc)
            settle_ms = (unsigned)atoi(argv[++i]);
        else if (colon && nw < MAX_WORLDS) {
            *colon = '\0';
            w[nw].dir = argv[i];
            w[nw++].extra = (unsigned)atoi(colon + 1);
        } else {
            die("usage: task-entry [--tasks 1,32,128] [--samples N] [--rounds N] [--settle MS] "
                "DIR:EXTRA...");
        }
    }
    if (!nw)
        die("no world given (DIR:EXTRA)");
    bench_private_ns();
    for (size_t i = 0; i < nw; i++)
        world_setup(&w[i]);
    for (size_t t = 0; t < nt; t++) {
        unsigned rounds = (samples_min + tasks[t] - 1) / tasks[t];
        rounds = rounds < rounds_min ? rounds_min : rounds;
        for (unsigned r = 0; r < rounds + 2; r++) /* two warm-up rounds */
            for (size_t k = 0; k < nw; k++) {
                struct world *x = &w[(r + k) % nw];
                struct samples scratch = {0}, *s = r < 2 ? NULL : x->s[t];
                world_enter(x->ns);
                for (int j = 0; j < NMETHODS; j++) {
                    enum method m = (enum method)((j + r + k) % NMETHODS);
                    step(x, m, tasks[t], s ? &s[m] : &scratch);
                    settle(settle_ms);
                }
                samples_free(&scratch);
            }
    }
    for (size_t i = 0; i < nw; i++) {
        world_enter(w[i].ns);
        w[i].mounts = mount_count();
    }
    report(w, nw, tasks, nt);
    return 0;
}
