/* The decision for a job on a node: a trusted policy, a plan for the job, and what the prolog
 * records for the job's steps (isolated, not, or the error every task must report). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job/job.h"

/* Prologs look for jobs that ended without an epilog at most this often. */
#define SWEEP_SECONDS 60

int job_policy_check_trust(const char *path, struct err *e)
{
    char dir[4096];
    struct stat st, ds;
    char *slash;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    if (stat(path, &st) < 0 || stat(slash ? dir : ".", &ds) < 0)
        return 0; /* policy_load reports a missing file */
    if (st.st_uid == 0 && !(st.st_mode & 022) && ds.st_uid == 0 && !(ds.st_mode & 022))
        return 0;
    return errprintf(e,
                     "the isolation policy %s is not trusted: it and its directory must be owned "
                     "by root and writable by root only (chown root; chmod go-w)",
                     path);
}

struct policy *job_policy_load(const char *path, struct err *e)
{
    struct diag_list d;
    struct policy *p;
    char first[900] = "cannot be read";

    if (geteuid() == 0 && job_policy_check_trust(path, e) < 0)
        return NULL;
    diag_list_init(&d, path);
    p = policy_load(path, &d);
    if (!p) {
        for (size_t i = 0; i < d.count; i++)
            if (d.v[i].severity == DIAG_ERROR) {
                diag_format(&d, i, first, sizeof(first));
                break;
            }
        errprintf(e, "the isolation policy is invalid: %s%s", first,
                  d.errors > 1 ? " (and more: run isolationctl check)" : "");
    }
    diag_list_free(&d);
    return p;
}

int job_node_name(const char *given, char *buf, size_t size)
{
    char host[256] = "";

    if (given && *given) {
        snprintf(buf, size, "%s", given);
    } else {
        if (gethostname(host, sizeof(host) - 1) < 0)
            host[0] = '\0';
        host[strcspn(host, ".")] = '\0';
        snprintf(buf, size, "%s", host);
    }
    return policy_node_name_ok(buf) ? 0 : -1;
}

int job_policy_set_node(struct policy *p, const char *node, struct err *e)
{
    char name[256];

    if (!strchr(p->instance_base, '%'))
        return 0;
    if (job_node_name(node, name, sizeof(name)) < 0 || policy_set_node(p, name) < 0)
        return errprintf(e,
                         "the isolation policy's instance_base \"%s\" names the node (%%n), but "
                         "this node's name \"%s\" cannot be part of a path",
                         p->instance_base, name);
    return 0;
}

struct policy *job_policy_load_node(const char *path, const char *node, struct err *e)
{
    struct policy *p = job_policy_load(path, e);

    if (p && job_policy_set_node(p, node, e) < 0) {
        policy_free(p);
        return NULL;
    }
    return p;
}

static bool other_node(const char *base, void *arg)
{
    return policy_base_of_other_node(arg, base);
}

int job_cleanup(const struct policy *p, uint32_t job_id)
{
    if (!p)
        return instance_job_cleanup(NULL, job_id, NULL, NULL);
    return instance_job_cleanup(p->instance_base, job_id, other_node, (void *)p);
}

int job_plan(const struct policy *p, const struct job_request *r, struct plan **out, struct err *e)
{
    struct identity ib;
    const char *profile;
    int rc = identity_lookup(&ib, r->uid, r->gid, r->job_id, e);

    ib.id.mem_bytes = r->mem_bytes;
    if (rc == 0 && r->login)
        profile = r->profile;
    else if (rc == 0)
        rc = profile_resolve(p, r->partition, r->profile, &profile, e);
    if (rc == 0)
        rc = plan_build(p, profile, &ib.id, out, e);
    identity_free(&ib);
    return rc;
}

/* Isolation failed: with on_error: allow the job runs without it, else its tasks report why. */
static int setup_failed(struct instance_store *s, const struct policy *p,
                        const struct job_request *r, const struct plan *plan, struct err *e)
{
    int errnum = errno;
    char why[sizeof(e->text)];

    log_error("job %" PRIu32 ": cannot isolate the job: %s", r->job_id, e->text);
    if (p->on_error == ON_ERROR_ALLOW) {
        job_record(s, r->job_id, r->uid, r->gid, plan->profile, NULL, plan);
        return 0;
    }
    snprintf(why, sizeof(why), "cannot isolate the job: %.990s", e->text);
    instance_job_remove(s, r->job_id, NULL);
    job_record(s, r->job_id, r->uid, r->gid, plan->profile, why, NULL);
    return job_is_node_fault(errnum) ? -1 : 0;
}

/* Plan, build and record: a policy error is recorded for the tasks, never returned. */
static int decide(struct instance_store *s, const struct policy *p, const struct job_request *r)
{
    struct plan *plan = NULL;
    struct err e;
    int rc = 0;

    if (job_plan(p, r, &plan, &e) < 0)
        job_record(s, r->job_id, r->uid, r->gid, NULL, e.text, NULL);
    else if (!plan->isolate)
        job_record(s, r->job_id, r->uid, r->gid, plan->profile, NULL, plan);
    else if (job_setup(s, r->job_id, plan, r->uid, r->gid, &e) < 0)
        rc = setup_failed(s, p, r, plan, &e);
    plan_free(plan);
    return rc;
}

int job_begin(const struct policy *p, const struct job_request *r)
{
    struct instance_store *s;
    struct err e;
    int rc;

    if (!(s = instance_store_open(p->instance_base, true, &e))) {
        log_error("job %" PRIu32 ": %s; this node cannot isolate jobs", r->job_id, e.text);
        return p->on_error == ON_ERROR_ALLOW ? 0 : -1;
    }
    if (instance_sweep_due(s, SWEEP_SECONDS) && instance_sweep(s, true, &e) < 0)
        log_error("sweeping stale instances: %s", e.text);
    /* A prolog runs once per job: what is already there was left by an earlier job that had
     * this id (a crash, a controller that lost its state), and must not reach this one. */
    if (instance_job_exists(s, r->job_id)) {
        log_warn("job %" PRIu32 ": removing what an earlier job with this id left", r->job_id);
        if (instance_job_discard(s, r->job_id, &e) < 0)
            log_error("job %" PRIu32 ": %s", r->job_id, e.text);
    }
    rc = decide(s, p, r);
    if (r->holder > 0 && instance_job_exists(s, r->job_id) &&
        instance_job_hold(s, r->job_id, r->holder, &e) < 0)
        log_error("%s", e.text);
    instance_store_close(s);
    return rc;
}
