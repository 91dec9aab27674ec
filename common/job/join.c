/* Slurm's own join of a job (job_container/namespace companion plugin): the job's pin from the
 * records alone. The companion owns no policy: whatever base a prolog recorded the job under,
 * its record says whose job it is and whether it is isolated. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    } else {
        fd = instance_pin_open(s, job_id, e);
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
