/* What the benchmark programs share: a clock, samples and their statistics, markdown rows, the
 * job a benchmark plans from a policy file, and "worlds": private mount namespaces holding a
 * chosen number of extra host mounts, which a program switches between with setns() so that
 * runs at 30, 300 and 3,000 mounts alternate in one process.
 *
 * Nothing here is a test: numbers are printed, never judged. */
#ifndef ISO_BENCH_H
#define ISO_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan/plan.h"
#include "policy/policy.h"

/* CLOCK_MONOTONIC, in nanoseconds. */
uint64_t now_ns(void);

/* A set-up step that fails makes every number after it meaningless: stop with the reason. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
#define must(call)                                                                                 \
    do {                                                                                           \
        if ((call) < 0)                                                                            \
            die("%s:%d: %s: %m", __FILE__, __LINE__, #call);                                       \
    } while (0)

struct samples {
    uint64_t *v;
    size_t n, cap;
};

void samples_add(struct samples *s, uint64_t ns);
void samples_addv(struct samples *s, const uint64_t *v, size_t n);
/* Nearest-rank percentile (0 < P <= 100); the median is P = 50. Sorts S. */
uint64_t samples_pct(struct samples *s, double p);
uint64_t samples_median(struct samples *s);
void samples_free(struct samples *s);

/* "87 us", "4.21 ms", "1.30 s": three significant digits. */
const char *fmt_ns(uint64_t ns, char *buf, size_t size);
#define NS(ns) fmt_ns((ns), (char[32]){0}, 32)
/* "1.02x" */
#define RATIO(a, b) ((b) ? (double)(a) / (double)(b) : 0.0)

/* Parse "1,32,128" into V (at most MAX values); returns the count. */
size_t parse_list(const char *s, unsigned *v, size_t max);

/* The job every benchmark plans: user isobench (uid 4242) in groups isobA, isobB, isobg1 and
 * isobg3, partition debug, profile resolved as the prolog does, MEM bytes of memory (for %
 * sizes). */
#define BENCH_UID 4242
#define BENCH_GID 4242
struct plan *bench_plan(const struct policy *p, uint32_t job_id, uint64_t mem);
struct policy *bench_policy_load(const char *path);

/* Keep the record of instance bases (instance_set_rundir) in DIR/run, not in the host's
 * /run/spank-isolation, which the plugin on this host reads. */
void bench_rundir(const char *dir);

/* What slurm_spank_job_epilog does: load the policy, remove the job under its instance base,
 * then under every other recorded base. */
void bench_epilog(const char *policy_path, uint32_t job_id);

/* --- mount namespaces ---------------------------------------------------------------------- */

/* Move the program into a private mount namespace of its own: nothing it mounts reaches the
 * host, and everything is gone when it exits. */
void bench_private_ns(void);

/* A world: a copy of the caller's namespace plus EXTRA mounts (tmpfs, under DIR/hm), made
 * shared afterwards as systemd makes a host's mounts. Returns an fd on it; the caller stays
 * where it was. */
int world_create(const char *dir, unsigned extra);
void world_enter(int fd);

/* Lines of /proc/self/mountinfo: the mounts this process sees. */
unsigned mount_count(void);

#endif
