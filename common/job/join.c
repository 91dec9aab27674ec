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
    bool lost; /* out of memory: a base is missing from V */
};

static void add_base(const char *base, void *arg)
{
    struct bases *b = arg;
    char **v = realloc(b->v, (b->n + 1) * sizeof(*v));

    if (!v) {
        b->lost = true;
        return;
    }
    b->v = v;
    if ((b->v[b->n] = strdup(base)))
        b->n++;
    else
        b->lost = true;
}

/* The pin of JOB_ID under the store S, following its record (kept in *OUT if not NULL), or -1
 * with *WHY; JOB_NS_NO_RECORD when S has none. */
static int pin_in(struct instance_store *s, uint32_t job_id, uid_t uid, struct job_state *out,
                  enum job_ns *why, struct err *e)
{
    struct job_state st = {0};
    struct err inner;
    int fd = -1;

    if (instance_state_read(s, job_id, &st, &inner) < 0) {
        *why = errno == ENOENT ? JOB_NS_NO_RECORD : JOB_NS_ERROR;
        if (*why == JOB_NS_ERROR)
            errprintf(e, "job %" PRIu32 ": its record cannot be read: %s", job_id, inner.text);
        return -1;
    }
    if (uid != 0 && st.uid != uid) {
        *why = JOB_NS_OTHER_USER;
        errprintf(e, "job %" PRIu32 ": its isolation belongs to uid %lu, not %lu", job_id,
                  (unsigned long)st.uid, (unsigned long)uid);
    } else if (st.error[0]) {
        *why = JOB_NS_FAILED;
        errprintf(e, "job %" PRIu32 ": its isolation failed: %.900s", job_id, st.error);
    } else if (!st.isolated) {
        *why = JOB_NS_NONE;
        errprintf(e, "job %" PRIu32 " is not isolated (profile %s)", job_id,
                  st.profile[0] ? st.profile : "none");
    } else if ((fd = instance_pin_open(s, job_id, &inner)) < 0) {
        *why = JOB_NS_ERROR; /* isolated, but its namespace is gone: never the node's view */
        errprintf(e, "job %" PRIu32 ": its namespace cannot be opened: %s", job_id, inner.text);
    } else {
        *why = JOB_NS_OPEN;
    }
    if (fd >= 0 && out)
        *out = st;
    else
        job_state_clear(&st);
    return fd;
}

int job_namespace_open(uint32_t job_id, uid_t uid, struct job_state *st, enum job_ns *why,
                       struct err *e)
{
    struct bases b = {0};
    struct err base_err = {.text = ""};
    int fd = -1;

    *why = JOB_NS_NO_RECORD;
    instance_for_each_base(add_base, &b);
    for (size_t i = 0; i < b.n; i++) {
        struct instance_store *s = NULL;
        struct err err;

        /* a base that cannot be checked matters only if it holds the job's record */
        if (*why == JOB_NS_NO_RECORD && instance_record_exists(b.v[i], job_id) &&
            !(s = instance_store_open(b.v[i], false, &err)))
            snprintf(base_err.text, sizeof(base_err.text), "base %.400s: %.500s", b.v[i], err.text);
        if (s)
            fd = pin_in(s, job_id, uid, st, why, e);
        instance_store_close(s);
        free(b.v[i]);
    }
    free(b.v);
    if (b.lost)
        snprintf(base_err.text, sizeof(base_err.text), "out of memory");
    /* A base that cannot be checked may hold the job's record: never take that for none. */
    if (*why == JOB_NS_NO_RECORD && base_err.text[0]) {
        *why = JOB_NS_ERROR;
        return errprintf(e, "job %" PRIu32 ": cannot look for its record: %s", job_id,
                         base_err.text);
    }
    if (*why == JOB_NS_NO_RECORD)
        errprintf(e, "job %" PRIu32 " has no isolation record on this node", job_id);
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
    struct err err, base_err = {.text = ""};

    instance_for_each_base(add_base, &b);
    for (size_t i = 0; i < b.n; i++) {
        if ((u.s = instance_store_open(b.v[i], false, &err))) {
            instance_job_ids(u.s, count_job, &u, &err);
            instance_store_close(u.s);
        } else if (access(b.v[i], F_OK) == 0 || errno != ENOENT) {
            /* a base that is gone holds no job; one that is there but fails the checks may */
            snprintf(base_err.text, sizeof(base_err.text), "base %.400s: %.500s", b.v[i], err.text);
        }
        free(b.v[i]);
    }
    free(b.v);
    if (u.n == 1) {
        *job_id = u.found[0];
        return 0;
    }
    if (u.n == 0 && (base_err.text[0] || b.lost)) {
        errprintf(e, "cannot look for the jobs of uid %lu: %s", (unsigned long)uid,
                  b.lost ? "out of memory" : base_err.text);
        errno = EIO;
        return -1;
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
