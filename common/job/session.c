/* Joining a job on a node: what a step's tasks (or a PAM session adopted into the job) need
 * from the prolog's decision, and entering the job's namespace. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/job.h"
#include "ns/ns.h"

/* A record this job did not make (a reused job id whose prolog Slurm skipped, or whose epilog
 * never ran) is removed; the job's extern step then records itself as what keeps the job
 * alive. */
static void check_record(struct instance_store *s, const struct job_request *r)
{
    struct err e;
    int rc = instance_job_drop_stale(s, r->job_id, r->uid, &e);

    if (rc < 0)
        log_error("job %" PRIu32 ": %s", r->job_id, e.text);
    else if (rc > 0)
        log_warn("job %" PRIu32 ": removed what an earlier job with this id left", r->job_id);
    if (r->hold && instance_job_exists(s, r->job_id) &&
        instance_job_hold(s, r->job_id, getpid(), &e) < 0)
        log_error("%s", e.text);
}

/* No usable record (no prolog ran for this job: the plugin was added while it ran): plan from
 * what the caller knows; the namespace is built on entering. */
static int plan_here(struct job_session *js, struct err *e)
{
    if (job_plan(js->policy, &js->req, &js->plan, e) < 0)
        return -1;
    js->isolate = js->plan->isolate;
    for (char **v = js->state.env; v && *v; v++)
        free(*v);
    free(js->state.env);
    js->state.env = job_env_strings(js->plan);
    return 0;
}

/* The prolog does not know the job's memory, so it sized "N%" tmpfs instances from the node's;
 * the job's first step sets them from the job's (job_resize_tmpfs: the rule for scope: user). */
static void resize_tmpfs(struct job_session *js, struct instance_store *s)
{
    struct err e;

    if (job_resize_tmpfs(s, js->req.job_id, js->state.uid, js->nsfd, js->state.resize,
                         js->req.mem_bytes, &e) < 0)
        log_warn("%s", e.text);
}

/* Follow the recorded decision: its error, its user, its profile, its pin. */
/* Whether the recorded decision lets this step run: its error, its user, its profile. */
static int record_allows(const struct job_session *js, struct err *e)
{
    const struct job_state *st = &js->state;

    if (st->error[0])
        return errprintf(e, "%s", st->error);
    if (st->uid != js->req.uid)
        return errprintf(e, "its recorded isolation belongs to another user (a reused job id?)");
    if (js->req.profile && strcmp(js->req.profile, st->profile) != 0)
        return errprintf(e,
                         "this step asks for isolation profile \"%s\" but the job runs "
                         "with \"%s\": the profile belongs to the job; submit a new job to "
                         "change it",
                         js->req.profile, st->profile);
    return 0;
}

static int follow_record(struct job_session *js, struct instance_store *s, struct err *e)
{
    struct err ignored; /* a missing pin: the namespace is built on entering */

    if (record_allows(js, e) < 0)
        return -1;
    if (!(js->isolate = js->state.isolated))
        return 0;
    if ((js->nsfd = instance_pin_open(s, js->req.job_id, &ignored)) >= 0) {
        resize_tmpfs(js, s);
        if (instance_job_share_path(s, js->req.job_id, js->share, sizeof(js->share)) < 0)
            js->share[0] = '\0';
        return 0;
    }
    return plan_here(js, e);
}

/* The node's base, when the policy's names the node (%n): only then is the node's name looked up.
 */
static int set_node(struct job_session *js, const struct job_request *r, struct err *e)
{
    char buf[256];
    const char *node = r->node;

    if (!strchr(js->policy->instance_base, '%'))
        return 0;
    if (!node && r->node_lookup)
        node = r->node_lookup(r->job_id, buf, sizeof(buf));
    return job_policy_set_node(js->policy, node, e);
}

int job_session_open(struct job_session *js, const char *policy_path, const struct job_request *r,
                     struct err *e)
{
    struct instance_store *s;
    struct err ignored; /* without a record or a store, the caller's data decide */
    int rc;

    memset(js, 0, sizeof(*js));
    js->nsfd = -1;
    js->req = *r;
    if (!(js->policy = job_policy_load(policy_path, e)) || set_node(js, r, e) < 0)
        return -1;
    js->allow_unisolated = js->policy->on_error == ON_ERROR_ALLOW;
    if ((s = instance_store_open(js->policy->instance_base, false, &ignored)))
        check_record(s, r);
    if (s && instance_state_read(s, r->job_id, &js->state, &ignored) == 0)
        rc = follow_record(js, s, e);
    else if (r->no_record)
        rc = errprintf(e, "%s", r->no_record);
    else
        rc = plan_here(js, e);
    instance_store_close(s);
    js->req.partition = js->req.profile = js->req.node = NULL;
    return rc;
}

int job_session_open_joined(struct job_session *js, const char *policy_path,
                            const struct job_request *r, const char *record, struct err *e)
{
    memset(js, 0, sizeof(*js));
    js->nsfd = -1;
    js->req = *r;
    if (!(js->policy = job_policy_load(policy_path, e)))
        return -1;
    js->allow_unisolated = js->policy->on_error == ON_ERROR_ALLOW;
    if (job_state_parse(record, &js->state, e) < 0 || record_allows(js, e) < 0)
        return -1;
    js->req.partition = js->req.profile = js->req.node = NULL;
    if (!(js->isolate = js->state.isolated))
        return 0;
    /* This process is in the job's namespace: entering it is a no-op (job_session_enter). */
    if ((js->nsfd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)) < 0)
        return errprintf_errno(e, errno, "cannot open this step's mount namespace");
    return 0;
}

/* The first process of a job without a prolog builds its namespace; the store lock makes the
 * others wait and then find the pin. */
static int build_here(struct job_session *js, struct err *e)
{
    struct instance_store *s;
    const struct job_request *r = &js->req;
    int rc = -1;

    if (!js->plan)
        return errprintf(e, "job %" PRIu32 ": no plan to build the namespace from", r->job_id);
    s = instance_store_open(js->policy->instance_base, true, e);
    if (s && job_setup(s, r->job_id, js->plan, r->uid, r->gid, e) == 0)
        rc = js->nsfd = instance_pin_open(s, r->job_id, e);
    instance_store_close(s);
    return rc < 0 ? -1 : 0;
}

/* The job was set up from slurmd's mount namespace, where its steps run too. A task that is in
 * another one already was put there by something else: Slurm's own namespace plugin
 * (NamespaceType, or JobContainerType up to 25.05), which would keep slurmstepd's files (output,
 * PMIx) in its namespace while the tasks run in ours. Refuse rather than half-work. */
static int check_host_ns(const struct job_session *js, struct err *e)
{
    char here[48];

    if (!js->state.host_ns[0])
        return 0;
    nsjob_current(here, sizeof(here));
    if (!here[0] || strcmp(here, js->state.host_ns) == 0)
        return 0;
    return errprintf(e, "this step runs in a mount namespace other than the one its job was set "
                        "up from: another namespace plugin of Slurm's (NamespaceType, or "
                        "JobContainerType) is active too; spank-isolation replaces it: take it out "
                        "of slurm.conf, or take isolation.so out of plugstack.conf");
}

int job_session_enter(struct job_session *js, struct err *e)
{
    if (!js->isolate)
        return 0;
    if (js->nsfd >= 0 && nsjob_is_current(js->nsfd)) {
        close(js->nsfd); /* Slurm's companion plugin joined the job: once is enough */
        js->nsfd = -1;
        return 0;
    }
    if (check_host_ns(js, e) < 0)
        return -1;
    if ((js->nsfd < 0 && build_here(js, e) < 0) || nsjob_enter(js->nsfd, e) < 0)
        return -1;
    close(js->nsfd);
    js->nsfd = -1;
    return 0;
}

void job_session_close(struct job_session *js)
{
    if (js->nsfd >= 0)
        close(js->nsfd);
    js->nsfd = -1;
    job_state_clear(&js->state);
    plan_free(js->plan);
    policy_free(js->policy);
    js->plan = NULL;
    js->policy = NULL;
}
