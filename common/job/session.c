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

/* The policy, loaded when first needed: a step that follows its job's record never needs it. */
static int session_policy(struct job_session *js, struct err *e)
{
    char buf[256];
    const char *node = js->req.node;

    if (js->policy)
        return 0;
    if (!(js->policy = job_policy_load(js->policy_path, e)))
        return -1;
    js->allow_unisolated = js->policy->on_error == ON_ERROR_ALLOW;
    /* the node's base, when the policy's names the node (%n): only then is the node looked up */
    if (!strchr(js->policy->instance_base, '%'))
        return 0;
    if (!node && js->req.node_lookup)
        node = js->req.node_lookup(js->req.job_id, buf, sizeof(buf));
    return job_policy_set_node(js->policy, node, e);
}

/* No usable record (no prolog ran for this job: the plugin was added while it ran): plan from
 * what the caller knows; the namespace is built on entering. */
static int plan_here(struct job_session *js, struct err *e)
{
    if (session_policy(js, e) < 0 || job_plan(js->policy, &js->req, &js->plan, e) < 0)
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

struct record_base {
    uint32_t job_id;
    char *base; /* the one recorded base holding the job's record */
    unsigned n; /* how many do */
};

static void find_record(const char *base, void *arg)
{
    struct record_base *rb = arg;

    if (!instance_record_exists(base, rb->job_id) || rb->n++)
        return;
    rb->base = strdup(base);
}

/* The job's record where its prolog made it, found without the policy: under the one recorded
 * base that holds it. NULL if none does, or several (several slurmds on this host, whose
 * policy's base names the node: the policy tells which is this node's), or it cannot be read. */
static struct instance_store *record_store(const struct job_request *r, struct job_state *st)
{
    struct record_base rb = {.job_id = r->job_id};
    struct instance_store *s = NULL;
    struct err ignored;

    instance_for_each_base(find_record, &rb);
    if (rb.n == 1 && rb.base && (s = instance_store_open(rb.base, false, &ignored))) {
        check_record(s, r);
        if (instance_state_read(s, r->job_id, st, &ignored) < 0) {
            instance_store_close(s);
            s = NULL;
        }
    }
    free(rb.base);
    return s;
}

static void session_init(struct job_session *js, const char *policy_path,
                         const struct job_request *r)
{
    memset(js, 0, sizeof(*js));
    js->nsfd = -1;
    js->req = *r;
    js->policy_path = policy_path;
}

/* The strings of the request are the caller's: not kept past job_session_open. */
static int session_opened(struct job_session *js, int rc)
{
    js->req.partition = js->req.profile = js->req.node = NULL;
    js->req.node_lookup = NULL;
    return rc;
}

int job_session_open(struct job_session *js, const char *policy_path, const struct job_request *r,
                     struct err *e)
{
    struct instance_store *s;
    struct err ignored; /* without a record or a store, the caller's data decide */
    int rc;

    session_init(js, policy_path, r);
    /* The common case, a step of a job its prolog recorded, reads the record and no policy. */
    if ((s = record_store(r, &js->state))) {
        rc = follow_record(js, s, e);
        instance_store_close(s);
        return session_opened(js, rc);
    }
    if (session_policy(js, e) < 0)
        return session_opened(js, -1);
    if ((s = instance_store_open(js->policy->instance_base, false, &ignored)))
        check_record(s, r);
    if (s && instance_state_read(s, r->job_id, &js->state, &ignored) == 0)
        rc = follow_record(js, s, e);
    else if (r->no_record)
        rc = errprintf(e, "%s", r->no_record);
    else
        rc = plan_here(js, e);
    instance_store_close(s);
    return session_opened(js, rc);
}

int job_session_open_joined(struct job_session *js, const char *policy_path,
                            const struct job_request *r, const char *record, struct err *e)
{
    session_init(js, policy_path, r);
    if (job_state_parse(record, &js->state, e) < 0 || record_allows(js, e) < 0)
        return session_opened(js, -1);
    session_opened(js, 0);
    if (!(js->isolate = js->state.isolated))
        return 0;
    /* This process is in the job's namespace: entering it is a no-op (job_session_enter). */
    if ((js->nsfd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)) < 0)
        return errprintf_errno(e, errno, "cannot open this step's mount namespace");
    return 0;
}

bool job_session_allows_unisolated(struct job_session *js)
{
    struct policy *p;
    struct err e;
    bool allow;

    if (js->policy)
        return js->allow_unisolated;
    if (!(p = job_policy_load(js->policy_path, &e))) {
        log_error("%s", e.text);
        return false;
    }
    allow = p->on_error == ON_ERROR_ALLOW;
    policy_free(p);
    return allow;
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
