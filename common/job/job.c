#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/job.h"
#include "util/util.h"
#include "ns/ns.h"

char **job_env_strings(const struct plan *plan)
{
    char **v = calloc(plan->nenv + 1, sizeof(*v));

    for (size_t i = 0; v && i < plan->nenv; i++)
        if (asprintf(&v[i], "%s=%s", plan->env[i].name, plan->env[i].value) < 0)
            v[i] = NULL;
    return v;
}

/* "PERCENT PATH" (scope: job) or "PERCENT user PATH" for each tmpfs sized from the job's memory,
 * which the prolog does not know: the job's first step resizes them (job_resize_tmpfs). */
static char **resize_strings(const struct plan *plan)
{
    char **v = calloc(plan->npolydirs + 1, sizeof(*v));
    size_t n = 0;

    for (size_t i = 0; v && i < plan->npolydirs; i++) {
        const struct plan_polydir *d = &plan->polydirs[i];
        const char *scope = d->scope == SCOPE_USER ? "user " : "";
        if (d->percent && d->backing == BACKING_TMPFS &&
            asprintf(&v[n], "%u %s%s", d->percent, scope, d->path) >= 0)
            n++;
    }
    return v;
}

bool job_is_node_fault(int errnum)
{
    /* Not ENOSPC or EDQUOT: users fill the instances' file system themselves, and one user
     * must not be able to drain a node for everyone. */
    return errnum == EIO || errnum == EROFS;
}

static int make_instances(struct instance_store *s, struct instance_job *job,
                          const struct plan *plan, uid_t uid, gid_t gid, char (*paths)[512],
                          mode_t *modes, struct err *e)
{
    for (size_t i = 0; i < plan->npolydirs; i++) {
        if (nsjob_host_mode(plan->polydirs[i].path, &modes[i], e) < 0 ||
            instance_make(s, job, &plan->polydirs[i], uid, gid, modes[i], paths[i], 512, e) < 0)
            return -1;
    }
    return 0;
}

/* An existing namespace is reused only by the job it was built for (job ids can be reused). */
static int pinned_for(struct instance_store *s, uint32_t job_id, uid_t uid, struct err *e)
{
    struct job_state st;
    int rc = 0;

    if (instance_state_read(s, job_id, &st, e) < 0)
        rc = -1;
    else if (st.uid != uid)
        rc = errprintf(e, "job %" PRIu32 ": an existing namespace belongs to uid %lu, not %lu",
                       job_id, (unsigned long)st.uid, (unsigned long)uid);
    job_state_clear(&st);
    return rc;
}

/* Open job JOB_ID's record under the store lock, holding its build lock, unless a namespace is
 * pinned for it already: then 1 (nothing to build; *RC is pinned_for's answer), with the store
 * unlocked. 0: the caller builds, holding the store lock and the job's build lock. -1: failed,
 * unlocked. A builder of the same job at work is waited for, without the store lock. */
static int claim_job(struct instance_store *s, uint32_t job_id, uid_t uid, struct instance_job *job,
                     int *rc, struct err *e)
{
    int pin;

    for (;;) {
        if (instance_store_lock(s, e) < 0)
            return -1;
        if (instance_job_open(s, job_id, true, job, e) < 0)
            break;
        /* First the build lock: a builder at work has pinned the namespace before it writes the
         * state, so a pin seen without it may have no state yet. */
        if (instance_job_build_lock(job, false) < 0) {
            if (errno != EWOULDBLOCK) {
                errprintf_errno(e, errno, "job %" PRIu32 ": cannot lock its record", job_id);
                break;
            }
            instance_store_unlock(s);
            instance_job_build_lock(job, true); /* the other builder is done: look again */
            instance_job_close(job);
            continue;
        }
        if ((pin = instance_pin_open(s, job_id, NULL)) >= 0) {
            close(pin);
            *rc = pinned_for(s, job_id, uid, e);
            instance_job_close(job);
            instance_store_unlock(s);
            return 1;
        }
        return 0;
    }
    instance_job_close(job);
    instance_store_unlock(s);
    return -1;
}

/* The store lock covers only what other jobs touch: the job's record and instances, and its
 * references to the user's instances. The namespace is built (milliseconds, more with thousands
 * of host mounts) under the job's own build lock, so that the jobs of a busy node start side by
 * side instead of one after another. */
int job_setup(struct instance_store *s, uint32_t job_id, const struct plan *plan, uid_t uid,
              gid_t gid, struct err *e)
{
    struct instance_job job = {.dirfd = -1};
    struct job_state st = {.uid = uid, .gid = gid, .isolated = true};
    char(*paths)[512] = calloc(plan->npolydirs + 1, sizeof(*paths));
    const char **ptrs = calloc(plan->npolydirs + 1, sizeof(*ptrs));
    mode_t *modes = calloc(plan->npolydirs + 1, sizeof(*modes));
    char share[PATH_MAX];
    int rc = -1, claimed;

    if (!paths || !ptrs || !modes) {
        errprintf(e, "out of memory");
        goto out;
    }
    if ((claimed = claim_job(s, job_id, uid, &job, &rc, e)) != 0)
        goto out;
    claimed = make_instances(s, &job, plan, uid, gid, paths, modes, e) < 0 ||
              instance_job_share(s, job_id, share, sizeof(share), e) < 0;
    instance_store_unlock(s);
    if (claimed)
        goto close;
    for (size_t i = 0; i < plan->npolydirs; i++)
        ptrs[i] = paths[i];
    struct ns_request r = {.plan = plan,
                           .instance_paths = ptrs,
                           .host_modes = modes,
                           .uid = uid,
                           .gid = gid,
                           .instance_base = instance_store_path(s),
                           .records = instance_store_records(s),
                           .share = share,
                           .pin_dirfd = job.dirfd,
                           .pin_name = "ns"};
    if (nsjob_build(&r, e) < 0)
        goto close;
    snprintf(st.profile, sizeof(st.profile), "%s", plan->profile);
    nsjob_current(st.host_ns, sizeof(st.host_ns));
    st.env = job_env_strings(plan);
    st.resize = resize_strings(plan);
    rc = instance_state_write(&job, &st, e);
    job_state_clear(&st);
close:
    instance_job_close(&job); /* releases the build lock */
out:
    free(paths);
    free(ptrs);
    free(modes);
    return rc;
}

void job_record(struct instance_store *s, uint32_t job_id, uid_t uid, gid_t gid,
                const char *profile, const char *error, const struct plan *plan)
{
    struct instance_job job;
    struct job_state st = {.uid = uid, .gid = gid};
    struct err e;

    snprintf(st.profile, sizeof(st.profile), "%s", profile ? profile : "");
    snprintf(st.error, sizeof(st.error), "%s", error ? error : "");
    st.env = plan ? job_env_strings(plan) : NULL;
    if (instance_store_lock(s, &e) == 0) {
        if (instance_job_open(s, job_id, true, &job, &e) == 0) {
            if (instance_state_write(&job, &st, &e) < 0)
                log_error("job %" PRIu32 ": %s", job_id, e.text);
            instance_job_close(&job);
        }
        instance_store_unlock(s);
    }
    job_state_clear(&st);
}
