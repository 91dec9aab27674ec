/* Job start and end: the plugin's job prolog and epilog, timed around exactly the calls
 * slurm_spank_job_prolog and slurm_spank_job_epilog make (less the NSS look-up of the user,
 * which depends on the site's directory service):
 *
 *   prolog  policy_load, instance_store_open (set-up), instance_sweep, profile_resolve,
 *           plan_build, job_setup (instances, namespace built in a child, pinned, state)
 *   step    job_session_open and job_session_close: what each step's init_post_opt and exit do
 *           (read the prolog's record, open the pin), in a job whose tmpfs instances are sized
 *   epilog  policy_load, instance_store_open, instance_job_remove (unpin, remove instances),
 *           then the same under every other recorded instance base
 *
 * The baseline is the kernel's share alone: a forked child's unshare(CLONE_NEWNS) and making
 * "/" slave, the copy of the host's mount table that any namespace per job has to pay. Every
 * round runs the prolog, the epilog and the baseline in every world (30, 300, 3,000 extra host
 * mounts...), in a rotating order.
 *
 *   job-start [--runs N] DIR:EXTRA...
 *
 * DIR holds policy.yaml (the example's strict profile, rebased under DIR). */
#include "config.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "store/store.h"
#include "job/job.h"

#define MAX_WORLDS 8

enum what { PROLOG, STEP, EPILOG, UNSHARE, NWHAT };
/* The prolog's parts, timed inside it. */
enum part { LOAD, STORE, SWEEP, PLAN, SETUP, FREE, NPARTS };
static const char *const part_name[] = {"policy_load",    "instance_store_open",
                                        "instance_sweep", "profile_resolve + plan_build",
                                        "job_setup",      "frees"};

struct world {
    const char *dir;
    char policy[4096];
    unsigned extra, mounts;
    int ns;
    struct samples s[NWHAT];
    struct samples part[NPARTS];
};

static void prolog(struct world *w, uint32_t job, bool keep)
{
    uint64_t t[NPARTS + 1];
    struct policy *p;
    struct instance_store *s;
    struct plan *plan;
    struct err e;

    t[LOAD] = now_ns();
    p = bench_policy_load(w->policy);
    t[STORE] = now_ns();
    if (!(s = instance_store_open(p->instance_base, true, &e)))
        die("%s", e.text);
    t[SWEEP] = now_ns();
    if (instance_sweep(s, false, &e) < 0)
        die("sweep: %s", e.text);
    t[PLAN] = now_ns();
    plan = bench_plan(p, job, 4ull << 30);
    t[SETUP] = now_ns();
    if (job_setup(s, job, plan, BENCH_UID, BENCH_GID, &e) < 0)
        die("job %u: %s", job, e.text);
    t[FREE] = now_ns();
    plan_free(plan);
    instance_store_close(s);
    policy_free(p);
    t[NPARTS] = now_ns();
    for (int i = 0; keep && i < NPARTS; i++)
        samples_add(&w->part[i], t[i + 1] - t[i]);
}

/* A step of the job (not its first: the job's tmpfs instances are sized already). */
static void step(struct world *w, uint32_t job)
{
    struct job_request r = {.job_id = job, .uid = BENCH_UID, .gid = BENCH_GID,
                            .mem_bytes = 4ull << 30};
    struct job_session js;
    struct err e;

    if (job_session_open(&js, w->policy, &r, &e) < 0 || !js.isolate || js.nsfd < 0)
        die("job %u: the step cannot join it: %s", job, e.text);
    job_session_close(&js);
}

/* From fork to the child's word that its namespace is made; its exit is not timed. */
static uint64_t bare_unshare(void)
{
    int fds[2];
    uint64_t t0 = now_ns(), dt;
    char c = 0;
    pid_t pid;

    must(pipe2(fds, O_CLOEXEC));
    must(pid = fork());
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
            c = 1;
        _exit(write(fds[1], &c, 1) == 1 ? c : 1);
    }
    close(fds[1]);
    if (read(fds[0], &c, 1) != 1 || c)
        die("the bare unshare failed");
    dt = now_ns() - t0;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    return dt;
}

static void run(struct world *w, enum what k, uint32_t job, bool keep)
{
    uint64_t t0 = now_ns(), v;

    if (k == PROLOG)
        prolog(w, job, keep);
    else if (k == STEP)
        step(w, job);
    else if (k == EPILOG)
        bench_epilog(w->policy, job);
    v = k == UNSHARE ? bare_unshare() : now_ns() - t0;
    if (keep)
        samples_add(&w->s[k], v);
}

static void report(struct world *w, size_t nw)
{
    printf("| extra host mounts (seen) | prolog median | p90 | bare unshare median | "
           "prolog / unshare | step (record, pin) median | p90 | epilog (empty job) median | "
           "p90 | runs |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < nw; i++) {
        struct samples *s = w[i].s;
        uint64_t a = samples_median(&s[PROLOG]), b = samples_median(&s[UNSHARE]);
        printf("| %u (%u) | %s | %s | %s | %.2fx | %s | %s | %s | %s | %zu |\n", w[i].extra,
               w[i].mounts, NS(a), NS(samples_pct(&s[PROLOG], 90)), NS(b), RATIO(a, b),
               NS(samples_median(&s[STEP])), NS(samples_pct(&s[STEP], 90)),
               NS(samples_median(&s[EPILOG])), NS(samples_pct(&s[EPILOG], 90)), s[PROLOG].n);
    }
    printf("\nWhere the prolog's time goes (medians of each part):\n\n| part |");
    for (size_t i = 0; i < nw; i++)
        printf(" %u extra mounts |", w[i].extra);
    printf("\n|---|");
    for (size_t i = 0; i < nw; i++)
        printf("---:|");
    for (int k = 0; k < NPARTS; k++) {
        printf("\n| %s |", part_name[k]);
        for (size_t i = 0; i < nw; i++)
            printf(" %s |", NS(samples_median(&w[i].part[k])));
    }
    printf("\n");
    if (nw < 2)
        return;
    printf("\nGrowth from %u to %u extra host mounts (median at %u / median at %u):\n\n",
           w[0].extra, w[nw - 1].extra, w[nw - 1].extra, w[0].extra);
    printf("| prolog | bare unshare | epilog |\n|---:|---:|---:|\n");
    printf("| %.2fx | %.2fx | %.2fx |\n",
           RATIO(samples_median(&w[nw - 1].s[PROLOG]), samples_median(&w[0].s[PROLOG])),
           RATIO(samples_median(&w[nw - 1].s[UNSHARE]), samples_median(&w[0].s[UNSHARE])),
           RATIO(samples_median(&w[nw - 1].s[EPILOG]), samples_median(&w[0].s[EPILOG])));
}

int main(int argc, char **argv)
{
    unsigned runs = 15;
    size_t nw = 0;
    struct world w[MAX_WORLDS] = {0};
    uint32_t job = 1000;

    for (int i = 1; i < argc; i++) {
        char *colon = strrchr(argv[i], ':');
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            runs = (unsigned)atoi(argv[++i]);
        } else if (colon && nw < MAX_WORLDS) {
            *colon = '\0';
            w[nw].dir = argv[i];
            w[nw++].extra = (unsigned)atoi(colon + 1);
        } else {
            die("usage: job-start [--runs N] DIR:EXTRA...");
        }
    }
    if (!nw)
        die("no world given (DIR:EXTRA)");
    bench_private_ns();
    for (size_t i = 0; i < nw; i++) {
        snprintf(w[i].policy, sizeof(w[i].policy), "%s/policy.yaml", w[i].dir);
        w[i].ns = world_create(w[i].dir, w[i].extra);
    }
    for (unsigned r = 0; r < runs + 1; r++) /* round 0 warms up */
        for (size_t k = 0; k < nw; k++) {
            struct world *x = &w[(r + k) % nw];
            world_enter(x->ns);
            bench_rundir(x->dir); /* a node has one record of its bases; each world is a node */
            job++;
            if ((r + k) % 2 == 0)
                run(x, UNSHARE, 0, r > 0);
            run(x, PROLOG, job, r > 0);
            run(x, STEP, job, false); /* the job's first step sizes its tmpfs instances */
            run(x, STEP, job, r > 0);
            run(x, EPILOG, job, r > 0);
            if ((r + k) % 2)
                run(x, UNSHARE, 0, r > 0);
        }
    for (size_t i = 0; i < nw; i++) {
        world_enter(w[i].ns);
        w[i].mounts = mount_count();
    }
    report(w, nw);
    return 0;
}
