#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ns/ns.h"
#include "job/job.h"

uint64_t resize_share(uint64_t mem, unsigned percent)
{
    uint64_t b = mem / 100 * percent + (mem % 100) * percent / 100;

    b &= ~(uint64_t)4095;
    return b ? b : 4096;
}

/* One entry of the resize list: "PERCENT PATH" or "PERCENT user PATH". */
struct entry {
    unsigned percent;
    bool user;
    const char *path;
};

static bool parse_entry(const char *s, struct entry *out)
{
    char *rest = NULL;
    unsigned long pct = strtoul(s, &rest, 10);

    if (!rest || *rest != ' ' || pct == 0 || pct > 100)
        return false;
    rest++;
    out->percent = (unsigned)pct;
    out->user = strncmp(rest, "user ", 5) == 0;
    out->path = out->user ? rest + 5 : rest;
    return out->path[0] == '/';
}

/* The name of the file in a job's directory holding its size for the user instance of PATH. */
static void record_name(const char *path, char *buf, size_t size)
{
    char name[NAME_MAX - 8];

    instance_name(path, name, sizeof(name));
    snprintf(buf, size, "tmpfs-%s", name);
}

static int record_size(struct instance_store *s, uint32_t job_id, const char *name, uint64_t bytes,
                       struct err *e)
{
    struct instance_job job;
    char num[32];
    int fd, n, rc = 0;

    if (instance_job_open(s, job_id, false, &job, e) < 0)
        return -1;
    fd = openat(job.dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    n = snprintf(num, sizeof(num), "%" PRIu64 "\n", bytes);
    if (fd < 0 || write(fd, num, n) != n)
        rc = errprintf_errno(e, errno, "job %" PRIu32 ": cannot record the size of %s", job_id,
                             name);
    if (fd >= 0)
        close(fd);
    instance_job_close(&job);
    return rc;
}

/* The size job JOB_ID recorded under NAME; 0 if none. */
static uint64_t recorded_size(struct instance_store *s, uint32_t job_id, const char *name)
{
    struct instance_job job;
    char num[32] = "";
    ssize_t n = -1;
    int fd;

    if (instance_job_open(s, job_id, false, &job, NULL) < 0)
        return 0;
    if ((fd = openat(job.dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
        n = read(fd, num, sizeof(num) - 1);
        close(fd);
    }
    instance_job_close(&job);
    num[n > 0 ? n : 0] = '\0';
    return strtoull(num, NULL, 10);
}

struct largest {
    struct instance_store *s;
    const char *name;
    uint64_t bytes;
};

static void take_larger(uint32_t job_id, void *arg)
{
    struct largest *l = arg;
    uint64_t b = recorded_size(l->s, job_id, l->name);

    if (b > l->bytes)
        l->bytes = b;
}

/* A shared instance gets the largest size of the user's live jobs, this one's included. */
static int user_size(struct instance_store *s, uint32_t job_id, uid_t uid, const struct entry *en,
                     uint64_t own, uint64_t *bytes, struct err *e)
{
    char name[NAME_MAX + 1];
    struct largest l = {s, name, own};

    record_name(en->path, name, sizeof(name));
    if (record_size(s, job_id, name, own, e) < 0 ||
        instance_user_jobs(s, uid, take_larger, &l, e) < 0)
        return -1;
    *bytes = l.bytes;
    return 0;
}

static int resize_entry(struct instance_store *s, uint32_t job_id, uid_t uid, int nsfd,
                        const struct entry *en, uint64_t mem, struct err *e)
{
    uint64_t bytes = resize_share(mem, en->percent);

    if (en->user && user_size(s, job_id, uid, en, bytes, &bytes, e) < 0)
        return -1;
    return nsjob_resize_tmpfs(nsfd, en->path, bytes, e);
}

/* The store lock, only when a user's instance is among them: two jobs of one user must not each
 * set the shared instance to their own view of the largest size. A job's own instances need no
 * lock, so the first steps of a busy node's jobs do not wait for each other. */
static int resize_all(struct instance_store *s, uint32_t job_id, uid_t uid, int nsfd,
                      char *const *resize, uint64_t mem, struct err *e)
{
    struct entry en;
    bool locked = false;
    int rc = 0;

    for (char *const *v = resize; *v; v++)
        if (parse_entry(*v, &en) && en.user && !locked) {
            if (instance_store_lock(s, e) < 0)
                return -1;
            locked = true;
        }
    for (char *const *v = resize; rc == 0 && *v; v++)
        if (parse_entry(*v, &en) && resize_entry(s, job_id, uid, nsfd, &en, mem, e) < 0)
            rc = errprintf(e,
                           "%s keeps its size (the job's share of %" PRIu64
                           " MiB would not hold what it holds, or the remount failed): %.800s",
                           en.path, mem >> 20, e->text);
    if (locked)
        instance_store_unlock(s);
    return rc;
}

int job_resize_tmpfs(struct instance_store *s, uint32_t job_id, uid_t uid, int nsfd,
                     char *const *resize, uint64_t mem, struct err *e)
{
    char marker[64];

    snprintf(marker, sizeof(marker), "resized-%" PRIu64, mem);
    if (!mem || !resize || !*resize || instance_job_marked(s, job_id, marker))
        return 0;
    if (resize_all(s, job_id, uid, nsfd, resize, mem, e) < 0)
        return -1;
    instance_job_mark(s, job_id, marker);
    return 0;
}
