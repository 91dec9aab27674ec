/* Slurm's own join of a job (job_container/namespace companion plugin): the job's pin from the
 * records alone. The companion owns no policy: whatever base a prolog recorded the job under,
 * its record says whose job it is and whether it is isolated. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/job.h"

struct bases {
    char **v;
    size_t n;
};

static void add_base(const char *base, void *arg)
{
    struct bases *b = arg;
    char **v = realloc(b->v, (b->n + 1) * sizeof(*v));

    if (!v)
        return;
    b->v = v;
    if ((b->v[b->n] = strdup(base)))
        b->n++;
}

#define NO_RECORD (-2)

/* The pin of JOB_ID under the store S, following its record (kept in *OUT if not NULL);
 * NO_RECORD if S has none. */
static int pin_in(struct instance_store *s, uint32_t job_id, uid_t uid, struct job_state *out,
                  struct err *e)
{
    struct job_state st = {0};
    struct err ignored;
    int fd = -1;

    if (instance_state_read(s, job_id, &st, &ignored) < 0)
        return NO_RECORD;
    if (uid != 0 && st.uid != uid) {
        errprintf(e, "job %" PRIu32 ": its isolation belongs to uid %lu, not %lu", job_id,
                  (unsigned long)st.uid, (unsigned long)uid);
        errno = EPERM;
    } else if (st.error[0] || !st.isolated) {
        errprintf(e, "job %" PRIu32 " is not isolated (%s)", job_id,
                  st.error[0] ? "its isolation failed" : "its profile is none");
        errno = ENOENT;
    } else if ((fd = instance_pin_open(s, job_id, &ignored)) < 0) {
        /* isolated, but its namespace is gone: never the node's view */
        errprintf(e, "job %" PRIu32 ": its namespace cannot be opened: %s", job_id, ignored.text);
        errno = ESTALE;
    }
    if (fd >= 0 && out)
        *out = st;
    else
        job_state_clear(&st);
    return fd;
}

int job_namespace_open(uint32_t job_id, uid_t uid, struct job_state *st, struct err *e)
{
    struct bases b = {0};
    struct err ignored; /* a base that cannot be opened holds no usable record */
    int fd = NO_RECORD;

    instance_for_each_base(add_base, &b);
    for (size_t i = 0; i < b.n; i++) {
        struct instance_store *s =
            fd == NO_RECORD ? instance_store_open(b.v[i], false, &ignored) : NULL;

        if (s)
            fd = pin_in(s, job_id, uid, st, e);
        instance_store_close(s);
        free(b.v[i]);
    }
    free(b.v);
    if (fd == NO_RECORD) {
        fd = errprintf(e, "job %" PRIu32 " has no isolation record on this node", job_id);
        errno = ENOENT;
    }
    return fd;
}

struct user_jobs {
    uid_t uid;
    struct instance_store *s;
    uint32_t found[8];
    size_t n;
};

static void count_job(uint32_t job_id, void *arg)
{
    struct user_jobs *u = arg;
    struct job_state st;
    struct err ignored;
    int fd;

    if (instance_state_read(u->s, job_id, &st, &ignored) < 0)
        return;
    if (st.uid == u->uid && st.isolated && !st.error[0] &&
        (fd = instance_pin_open(u->s, job_id, &ignored)) >= 0) {
        close(fd);
        if (u->n < sizeof(u->found) / sizeof(u->found[0]))
            u->found[u->n] = job_id;
        u->n++;
    }
    job_state_clear(&st);
}

int job_user_namespace(uid_t uid, uint32_t *job_id, struct err *e)
{
    struct bases b = {0};
    struct user_jobs u = {.uid = uid};
    struct err ignored;

    instance_for_each_base(add_base, &b);
    for (size_t i = 0; i < b.n; i++) {
        if ((u.s = instance_store_open(b.v[i], false, &ignored))) {
            instance_job_ids(u.s, count_job, &u, &ignored);
            instance_store_close(u.s);
        }
        free(b.v[i]);
    }
    free(b.v);
    if (u.n == 1) {
        *job_id = u.found[0];
        return 0;
    }
    if (u.n == 0) {
        errprintf(e, "uid %lu has no isolated job on this node", (unsigned long)uid);
        errno = ENOENT;
        return -1;
    }
    errprintf(e,
              "uid %lu has %zu isolated jobs on this node (%" PRIu32 ", %" PRIu32
              "%s): which one is not known",
              (unsigned long)uid, u.n, u.found[0], u.found[1], u.n > 2 ? ", ..." : "");
    errno = EEXIST;
    return -1;
}
