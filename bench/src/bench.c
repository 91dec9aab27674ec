#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "util/util.h"
#include "store/store.h"

uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void die(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "bench: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(2);
}

/* --- samples ------------------------------------------------------------------------------- */

void samples_add(struct samples *s, uint64_t ns)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        if (!(s->v = realloc(s->v, s->cap * sizeof(*s->v))))
            die("out of memory");
    }
    s->v[s->n++] = ns;
}

void samples_addv(struct samples *s, const uint64_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        samples_add(s, v[i]);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

uint64_t samples_pct(struct samples *s, double p)
{
    size_t rank;

    if (!s->n)
        return 0;
    qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
    rank = (size_t)(p / 100.0 * (double)s->n + 0.999999);
    rank = rank < 1 ? 1 : rank > s->n ? s->n : rank;
    return s->v[rank - 1];
}

/* The middle value; for an even count the mean of the two middle ones. */
uint64_t samples_median(struct samples *s)
{
    if (!s->n)
        return 0;
    qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
    return s->n % 2 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
}

void samples_free(struct samples *s)
{
    free(s->v);
    memset(s, 0, sizeof(*s));
}

const char *fmt_ns(uint64_t ns, char *buf, size_t size)
{
    double v = (double)ns;
    const char *unit = "ns";

    if (ns >= 1000000000u)
        v /= 1e9, unit = "s";
    else if (ns >= 1000000u)
        v /= 1e6, unit = "ms";
    else if (ns >= 1000u)
        v /= 1e3, unit = "us";
    snprintf(buf, size, "%.*f %s", v >= 100 ? 0 : v >= 10 ? 1 : 2, v, unit);
    return buf;
}

size_t parse_list(const char *s, unsigned *v, size_t max)
{
    size_t n = 0;
    char *end;

    while (*s && n < max) {
        v[n++] = (unsigned)strtoul(s, &end, 10);
        if (end == s)
            die("not a list of numbers: %s", s);
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

/* --- the job ------------------------------------------------------------------------------- */

struct policy *bench_policy_load(const char *path)
{
    struct diag_list d;
    struct policy *p;

    diag_list_init(&d, path);
    if (!(p = policy_load(path, &d))) {
        diag_print(&d, stderr);
        die("%s: invalid policy", path);
    }
    diag_list_free(&d);
    return p;
}

struct plan *bench_plan(const struct policy *p, uint32_t job_id, uint64_t mem)
{
    static const char *const groups[] = {"isobench", "isobA", "isobB", "isobg1", "isobg3"};
    struct job_identity id = {.user = "isobench",
                              .uid = BENCH_UID,
                              .gid = BENCH_GID,
                              .group = "isobench",
                              .groups = groups,
                              .ngroups = 5,
                              .job_id = job_id,
                              .mem_bytes = mem,
                              .node_mem_bytes = mem};
    const char *profile;
    struct plan *plan;
    struct err e;

    if (profile_resolve(p, "debug", NULL, &profile, &e) < 0 ||
        plan_build(p, profile, &id, &plan, &e) < 0)
        die("planning job %" PRIu32 ": %s", job_id, e.text);
    return plan;
}

void bench_rundir(const char *dir)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/run", dir);
    instance_set_rundir(path);
}

/* What slurm_spank_job_epilog does after loading the policy; a failure would void the timing. */
void bench_epilog(const char *policy_path, uint32_t job_id)
{
    struct policy *p = bench_policy_load(policy_path);

    if (instance_job_cleanup(p->instance_base, job_id, NULL, NULL) < 0)
        die("epilog of job %u failed", job_id);
    policy_free(p);
}

/* --- mount namespaces ---------------------------------------------------------------------- */

#ifndef NS_GET_MNTNS_ID
#define NS_GET_MNTNS_ID _IOR(0xb7, 0x5, uint64_t)
#endif

/* The id a mount namespace made now on CPU would get; 0 if the kernel does not say. */
static uint64_t probe_ns_id(int cpu)
{
    uint64_t id = 0;
    int fds[2];
    pid_t pid;

    must(pipe(fds));
    must(pid = fork());
    if (pid == 0) {
        cpu_set_t set;
        int fd;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) == 0 && unshare(CLONE_NEWNS) == 0 &&
            (fd = open("/proc/self/ns/mnt", O_RDONLY)) >= 0)
            ioctl(fd, NS_GET_MNTNS_ID, &id);
        _exit(write(fds[1], &id, sizeof(id)) == sizeof(id) ? 0 : 1);
    }
    close(fds[1]);
    if (read(fds[0], &id, sizeof(id)) != sizeof(id))
        id = 0;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    return id;
}

/* Some kernels (6.18) hand out namespace ids in per-CPU batches, and refuse to bind a namespace
 * file (the plugin's pin) into a namespace whose id is not lower (EINVAL from the mount-loop
 * check). A namespace made on the CPU whose batch is lowest is lower than every later one,
 * wherever it is made: this runs FN there. */
static void on_lowest_ns_cpu(void (*fn)(void *), void *arg)
{
    cpu_set_t saved, one;
    uint64_t best = UINT64_MAX, id;
    int cpu = -1;

    must(sched_getaffinity(0, sizeof(saved), &saved));
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &saved) && (id = probe_ns_id(c)) && id < best)
            best = id, cpu = c;
    if (cpu >= 0) {
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        must(sched_setaffinity(0, sizeof(one), &one));
    }
    fn(arg);
    must(sched_setaffinity(0, sizeof(saved), &saved));
}

static int private_fd = -1; /* the program's own namespace, from which every world is copied */

static void private_ns(void *arg)
{
    must(unshare(CLONE_NEWNS));
    must(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
    must(private_fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
}

void bench_private_ns(void)
{
    if (geteuid() != 0)
        die("needs root: it creates mount namespaces");
    on_lowest_ns_cpu(private_ns, NULL);
}

static void new_ns(void *arg)
{
    must(unshare(CLONE_NEWNS));
}

/* Worlds are copies of the program's private namespace, never of another world: a world's
 * mounts are shared, and a copy of them would receive every mount made in the other. */
int world_create(const char *dir, unsigned extra)
{
    char hm[4096], p[4200];
    int back = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC), fd;

    must(back);
    if (private_fd < 0)
        die("world_create before bench_private_ns");
    must(setns(private_fd, CLONE_NEWNS));
    on_lowest_ns_cpu(new_ns, NULL);
    snprintf(hm, sizeof(hm), "%s/hm", dir);
    if (extra) {
        if (mkdir(hm, 0755) < 0 && errno != EEXIST)
            die("mkdir %s: %m", hm);
        must(mount("tmpfs", hm, "tmpfs", MS_NOSUID | MS_NODEV, "size=1M,mode=0755"));
    }
    for (unsigned i = 1; i < extra; i++) {
        snprintf(p, sizeof(p), "%s/%u", hm, i);
        must(mkdir(p, 0755));
        must(mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755"));
    }
    /* A systemd host's mounts are shared: job namespaces become slaves of peers. */
    must(mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL));
    must(fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
    must(setns(back, CLONE_NEWNS));
    close(back);
    return fd;
}

void world_enter(int fd)
{
    must(setns(fd, CLONE_NEWNS));
}

unsigned mount_count(void)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    unsigned n = 0;
    int c;

    if (!f)
        die("/proc/self/mountinfo: %m");
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}
