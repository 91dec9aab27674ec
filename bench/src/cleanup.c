/* Cleanup: what the job epilog costs when the job left things behind, timed around exactly the
 * calls slurm_spank_job_epilog makes (bench_epilog: policy_load, instance_store_open,
 * instance_job_remove, then the same under every other recorded instance base).
 *
 * 1. A job whose /tmp holds FILES small files in DIRS directories, against `rm -rf` of an
 *    identical tree made at the same time (the time of rm includes its fork and exec, as in an
 *    epilog script). Both trees are on tmpfs, so that what is timed is the walk and the
 *    unlinks; with --disk they are on the disk under DIR, and with --sync also written to it
 *    before either is timed (then the disk's block freeing is timed too).
 * 2. A job whose /dev/shm (a tmpfs made inside the job's namespace) holds SHM MiB, against the
 *    same epilog with an empty /dev/shm, and against umount(2) of a plain tmpfs holding as much:
 *    the kernel's share, freeing the pages (since ef68f19 the epilog leaves that to a child).
 *
 * 3. Another job's prolog (the calls slurm_spank_job_prolog makes to build a job) while an epilog
 *    removes a job's STALL_FILES empty files, against the same prolog on an idle node: the store
 *    lock covers only the move of the big job into the trash, so the prolog must not wait for the
 *    removal (issue: at most 1.2x). On 2 CPUs the removal and the prolog share the machine: the
 *    ratio includes that.
 *
 * Every run does A and B in turn, the first one alternating.
 *
 *   cleanup [--runs N] [--files N] [--dirs N] [--shm-mib N] [--stall-files N] [--disk [--sync]]
 *           [--only tree|shm|stall] DIR
 *
 * DIR holds policy.yaml (the example's strict profile, rebased under DIR). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
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

extern char **environ;

static const char *dir;
static char policy_path[4096];
static unsigned files = 100000, dirs = 100, shm_mib = 1024, stall_files = 1000000;
static bool sync_trees, on_disk;

static uint64_t epilog(uint32_t job)
{
    uint64_t t0 = now_ns();

    bench_epilog(policy_path, job);
    return now_ns() - t0;
}

/* The job's prolog, untimed; returns the store (open) for finding the job's instances. */
static struct instance_store *setup(uint32_t job)
{
    struct policy *p = bench_policy_load(policy_path);
    struct plan *plan = bench_plan(p, job, 4ull << 30);
    struct instance_store *s;
    struct err e;

    if (!(s = instance_store_open(p->instance_base, true, &e)) ||
        job_setup(s, job, plan, BENCH_UID, BENCH_GID, &e) < 0)
        die("prolog of job %u: %s", job, e.text);
    plan_free(plan);
    policy_free(p);
    return s;
}

/* --- 1. a tree of small files ----------------------------------------------------------------- */

static void make_tree(const char *root)
{
    char path[4096], name[32];
    static const char data[100] = "a small file left in /tmp by a job";

    for (unsigned d = 0; d < dirs; d++) {
        snprintf(path, sizeof(path), "%s/d%03u", root, d);
        must(mkdir(path, 0755));
        int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        must(dfd);
        for (unsigned f = 0; f < files / dirs; f++) {
            snprintf(name, sizeof(name), "f%05u", f);
            int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            must(fd);
            if (write(fd, data, sizeof(data)) != (ssize_t)sizeof(data))
                die("write %s/%s: %m", path, name);
            close(fd);
        }
        close(dfd);
    }
}

static uint64_t rm_rf(const char *path)
{
    char *argv[] = {"rm", "-rf", (char *)path, NULL};
    uint64_t t0 = now_ns();
    int status;
    pid_t pid;

    if ((errno = posix_spawnp(&pid, "rm", NULL, NULL, argv, environ)))
        die("rm: %m");
    must(waitpid(pid, &status, 0));
    if (!WIFEXITED(status) || WEXITSTATUS(status))
        die("rm -rf %s failed", path);
    return now_ns() - t0;
}

static void bench_tree(unsigned runs)
{
    struct samples a = {0}, b = {0};
    char tmp[4096], copy[4096];

    for (unsigned r = 0; r <= runs; r++) { /* run 0 warms up */
        uint32_t job = 2000 + r;
        struct instance_store *s = setup(job);
        uint64_t ta, tb;
        snprintf(tmp, sizeof(tmp), "%s/job/%u/tmp", instance_store_path(s), job);
        snprintf(copy, sizeof(copy), "%s/rm-rf/%u", dir, r);
        instance_store_close(s);
        must(mkdir(copy, 0755));
        make_tree(tmp);
        make_tree(copy);
        if (sync_trees)
            sync();
        if (r % 2) {
            ta = epilog(job);
            tb = rm_rf(copy);
        } else {
            tb = rm_rf(copy);
            ta = epilog(job);
        }
        if (r > 0) {
            samples_add(&a, ta);
            samples_add(&b, tb);
        }
    }
    uint64_t ma = samples_median(&a), mb = samples_median(&b);
    printf("| epilog, /tmp with %u files in %u directories%s | %s | %s | `rm -rf` of the same "
           "tree | %s | %s | %.3fx | at most 1.0x | %s | %zu |\n",
           files, dirs,
           !on_disk     ? " (tmpfs)"
           : sync_trees ? " (disk, synced)"
                        : " (disk, not synced)",
           NS(ma), NS(samples_pct(&a, 90)), NS(mb), NS(samples_pct(&b, 90)), RATIO(ma, mb),
           RATIO(ma, mb) <= 1.0 ? "met" : "missed", a.n);
    samples_free(&a);
    samples_free(&b);
}

static void mkdir_p(const char *name)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        die("mkdir %s: %m", path);
}

/* The instance base and the copies for rm on tmpfs: creating and removing files then costs
 * CPU only, not whatever the disk and its writeback are doing at the time. */
static void trees_on_tmpfs(void)
{
    char path[4096];

    for (int i = 0; i < 2; i++) {
        const char *name = i ? "rm-rf" : "isolation";
        mkdir_p(name);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        must(mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700"));
    }
}

/* --- 2. a tmpfs holding data -------------------------------------------------------------- */

static void fill(int fd_dir, const char *name)
{
    static char chunk[1 << 20];
    int fd = openat(fd_dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    must(fd);
    memset(chunk, 'x', sizeof(chunk));
    for (unsigned i = 0; i < shm_mib; i++)
        if (write(fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
            die("filling %s: %m", name);
    close(fd);
}

/* A task of the job writes SHM_MIB into /dev/shm, as a job's tasks would. */
static void fill_job_shm(struct instance_store *s, uint32_t job)
{
    struct err e;
    int pin = instance_pin_open(s, job, &e), status;
    pid_t pid;

    must(pin);
    must(pid = fork());
    if (pid == 0) {
        if (nsjob_enter(pin, &e) < 0)
            _exit(1);
        int d = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d < 0)
            _exit(1);
        fill(d, "job-data");
        _exit(0);
    }
    close(pin);
    must(waitpid(pid, &status, 0));
    if (!WIFEXITED(status) || WEXITSTATUS(status))
        die("could not fill the job's /dev/shm");
}

static uint64_t plain_tmpfs(void)
{
    char mp[4096];
    uint64_t t0;

    snprintf(mp, sizeof(mp), "%s/plain-tmpfs", dir);
    if (mkdir(mp, 0755) < 0 && errno != EEXIST)
        die("mkdir %s: %m", mp);
    must(mount("tmpfs", mp, "tmpfs", MS_NOSUID | MS_NODEV, "size=2G"));
    int d = open(mp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    must(d);
    fill(d, "data");
    close(d);
    t0 = now_ns();
    must(umount2(mp, 0));
    return now_ns() - t0;
}

static void bench_shm(unsigned runs)
{
    struct samples full = {0}, empty = {0}, plain = {0};

    for (unsigned r = 0; r <= runs; r++) { /* run 0 warms up */
        uint32_t job = 3000 + 2 * r;
        struct instance_store *s = setup(job);
        uint64_t tf, te, tp;
        fill_job_shm(s, job);
        instance_store_close(s);
        instance_store_close(setup(job + 1));
        tp = plain_tmpfs();
        if (r % 2) {
            tf = epilog(job);
            te = epilog(job + 1);
        } else {
            te = epilog(job + 1);
            tf = epilog(job);
        }
        if (r > 0) {
            samples_add(&full, tf);
            samples_add(&empty, te);
            samples_add(&plain, tp);
        }
    }
    uint64_t mf = samples_median(&full), me = samples_median(&empty);
    printf("| epilog, /dev/shm (tmpfs) holding %u MiB | %s | %s | the same, empty | %s | %s | "
           "%.2fx | under 10 ms | %s | %zu |\n",
           shm_mib, NS(mf), NS(samples_pct(&full, 90)), NS(me), NS(samples_pct(&empty, 90)),
           RATIO(mf, me), mf < 10000000 ? "met" : "missed", full.n);
    printf("| umount(2) of a plain tmpfs holding %u MiB (the kernel's share) | %s | %s | | | | | "
           "| | %zu |\n",
           shm_mib, NS(samples_median(&plain)), NS(samples_pct(&plain, 90)), plain.n);
    samples_free(&full);
    samples_free(&empty);
    samples_free(&plain);
}

/* --- 3. another job's start during a big removal -------------------------------------------- */

static uint64_t prolog(uint32_t job)
{
    uint64_t t0 = now_ns();

    instance_store_close(setup(job));
    return now_ns() - t0;
}

/* STALL_FILES empty files (no data: a million of them fit in memory) in 1,000 directories. */
static void make_empty_tree(const char *root)
{
    char path[4200], name[32];

    for (unsigned d = 0; d < 1000; d++) {
        snprintf(path, sizeof(path), "%s/d%03u", root, d);
        must(mkdir(path, 0755));
        int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        must(dfd);
        for (unsigned f = 0; f < stall_files / 1000; f++) {
            snprintf(name, sizeof(name), "f%u", f);
            int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            must(fd);
            close(fd);
        }
        close(dfd);
    }
}

static void bench_stall(unsigned runs)
{
    struct samples idle = {0}, busy = {0};
    uint32_t big = 4999, job = 5000;
    char tmp[4096];
    int status;

    for (unsigned r = 0; r <= runs; r++, job++) { /* run 0 warms up */
        uint64_t t = prolog(job);
        if (r > 0)
            samples_add(&idle, t);
        epilog(job);
    }
    struct instance_store *s = setup(big);
    snprintf(tmp, sizeof(tmp), "%s/job/%u/tmp", instance_store_path(s), big);
    instance_store_close(s);
    make_empty_tree(tmp);
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid == 0) {
        epilog(big);
        _exit(0);
    }
    must(pid);
    /* Every prolog that starts while the removal runs counts, the one it held up included. */
    while (waitpid(pid, &status, WNOHANG) == 0) {
        samples_add(&busy, prolog(job));
        epilog(job++);
    }
    uint64_t removal = now_ns() - t0, mi = samples_median(&idle), mb = samples_median(&busy);
    printf("| another job's prolog while an epilog removes %u files (took %s) | %s | %s | the "
           "same prolog, idle node | %s | %s | %.2fx | at most 1.2x | %s | %zu |\n",
           stall_files, NS(removal), NS(mb), NS(samples_pct(&busy, 90)), NS(mi),
           NS(samples_pct(&idle, 90)), RATIO(mb, mi),
           busy.n && RATIO(mb, mi) <= 1.2 ? "met" : "missed", busy.n);
    samples_free(&idle);
    samples_free(&busy);
}

int main(int argc, char **argv)
{
    unsigned runs = 10;
    const char *only = NULL;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--files") && i + 1 < argc)
            files = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dirs") && i + 1 < argc)
            dirs = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--stall-files") && i + 1 < argc)
            stall_files = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shm-mib") && i + 1 < argc)
            shm_mib = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--sync"))
            sync_trees = true;
        else if (!strcmp(argv[i], "--disk"))
            on_disk = true;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else
            die("usage: cleanup [--runs N] [--files N] [--dirs N] [--shm-mib N] [--stall-files N] "
                "[--disk [--sync]] [--only tree|shm|stall] DIR");
    }
    if (!dir || !dirs)
        die("usage: cleanup [--runs N] [--files N] [--dirs N] [--shm-mib N] DIR");
    snprintf(policy_path, sizeof(policy_path), "%s/policy.yaml", dir);
    bench_private_ns();
    bench_rundir(dir);
    if (!on_disk)
        trees_on_tmpfs();
    else
        mkdir_p("rm-rf");
    printf("| what | median | p90 | baseline | median | p90 | ratio | goal | verdict | runs |\n");
    printf("|---|---:|---:|---|---:|---:|---:|---|---|---:|\n");
    if (!only || !strcmp(only, "tree"))
        bench_tree(runs);
    if (!only || !strcmp(only, "shm"))
        bench_shm(runs);
    if (!only || !strcmp(only, "stall"))
        bench_stall(runs);
    return 0;
}
