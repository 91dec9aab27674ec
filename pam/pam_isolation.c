/* pam_isolation: the PAM front end (pam_isolation(8)). mode=join puts a session on a compute
 * node (an ssh session that pam_slurm_adopt adopted into a job) in the job's mount namespace, the
 * one the SPANK plugin's prolog made, so that it sees the job's /tmp and /dev/shm and not the
 * node's. Nothing from the environment is trusted: the job's record must exist, be the user's and
 * be isolated; its pin is opened relative to the checked store and must be a mount namespace.
 * No libslurm: one build serves every Slurm release. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#define PAM_SM_SESSION
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "job/job.h"
#include "policy/policy.h"
#include "util/util.h"

struct args {
    const char *policy;
    bool join;
    bool login;
};

#define LOGIN_DATA "pam_isolation_login"

static void pam_sink(enum log_level level, const char *msg, void *arg)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

    pam_syslog(arg, prio[level], "%s", msg);
}

static int parse_args(pam_handle_t *pamh, int argc, const char **argv, struct args *a)
{
    a->policy = POLICY_DEFAULT_PATH;
    a->join = a->login = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "mode=join") == 0) {
            a->join = true;
        } else if (strcmp(argv[i], "mode=login") == 0) {
            a->login = true;
        } else if (strncmp(argv[i], "policy=", 7) == 0 && argv[i][7] == '/') {
            a->policy = argv[i] + 7;
        } else {
            pam_syslog(pamh, LOG_ERR, "unknown argument \"%s\" (mode=join, policy=/PATH)", argv[i]);
            return -1;
        }
    }
    if (a->join == a->login)
        pam_syslog(pamh, LOG_ERR, "give one mode: mode=join or mode=login");
    return a->join != a->login ? 0 : -1;
}

/* The job the session belongs to: the one pam_slurm_adopt adopted it into (SLURM_JOB_ID in the
 * PAM environment, which only names a candidate: the record decides), else the user's only
 * isolated job here. */
static int session_job(pam_handle_t *pamh, uid_t uid, uint32_t *job_id, struct err *e)
{
    const char *v = pam_getenv(pamh, "SLURM_JOB_ID");
    char *end;
    unsigned long n;

    if (!v)
        return job_user_namespace(uid, job_id, e);
    errno = 0;
    n = strtoul(v, &end, 10);
    if (errno || !isdigit((unsigned char)*v) || *end || n > UINT32_MAX) {
        errno = EINVAL;
        return errprintf(e, "SLURM_JOB_ID \"%.40s\" in the PAM environment is not a job id", v);
    }
    *job_id = (uint32_t)n;
    return 0;
}

/* Enter job JOB_ID's namespace as the user's session: then its home, and its profile's
 * environment. -1 (and *WHY, E) when it is not entered. */
static int join_job(pam_handle_t *pamh, const struct passwd *pw, uint32_t job_id, enum job_ns *why,
                    struct err *e)
{
    struct job_state st = {0};
    int fd = job_namespace_open(job_id, pw->pw_uid, &st, why, e);

    if (fd < 0)
        return -1;
    if (setns(fd, CLONE_NEWNS) < 0) {
        errprintf_errno(e, errno, "job %" PRIu32 ": cannot enter its namespace", job_id);
        *why = JOB_NS_ERROR;
        close(fd);
        job_state_clear(&st);
        return -1;
    }
    close(fd);
    if (chdir(pw->pw_dir) < 0 && chdir("/") < 0)
        log_warn("job %" PRIu32 ": no home %s in its namespace", job_id, pw->pw_dir);
    for (char **v = st.env; v && *v; v++)
        if (pam_putenv(pamh, *v) != PAM_SUCCESS)
            log_warn("job %" PRIu32 ": cannot set %s in the session", job_id, *v);
    job_state_clear(&st);
    return 0;
}

/* Whether the user has a job with a namespace here (or it cannot be told): a session naming a
 * job without one is then refused, since the name may not be pam_slurm_adopt's (pam_env runs
 * after it). */
static bool other_isolated_job(uid_t uid)
{
    struct err e;
    uint32_t id;

    return job_user_namespace(uid, &id, &e) == 0 || errno != ENOENT;
}

static int refuse(const struct passwd *pw, const char *why, const char *note)
{
    log_error("user %s: %s; the session is refused%s", pw->pw_name, why, note);
    return PAM_SESSION_ERR;
}

static int node_view(const struct passwd *pw, const char *why, const char *note)
{
    log_info("user %s: %s; the session keeps the node's view%s", pw->pw_name, why, note);
    return PAM_SUCCESS;
}

/* The session names no job, and the user has none isolated here (ENOENT), several (EEXIST), or
 * it cannot be told: the policy's ssh: decides the first case only. */
static int no_job(const struct passwd *pw, const struct policy *p, int errnum, const struct err *e)
{
    if (errnum == ENOENT)
        return p->ssh == SSH_HOST ? node_view(pw, e->text, " (ssh: host)")
                                  : refuse(pw, e->text, " (ssh: deny)");
    return refuse(pw, e->text, "");
}

/* Join the session to job JOB_ID. The node's view only for a job that is not isolated (or has no
 * record, as ssh: says) while no other job of the user's is; a job whose isolation failed or is
 * another user's is refused; any other failure too, unless the policy says on_error: allow. */
static int join_or_refuse(pam_handle_t *pamh, const struct passwd *pw, const struct policy *p,
                          uint32_t job_id)
{
    enum job_ns why;
    struct err e;

    if (join_job(pamh, pw, job_id, &why, &e) == 0) {
        log_info("user %s: the session joined job %" PRIu32, pw->pw_name, job_id);
        return PAM_SUCCESS;
    }
    switch (why) {
    case JOB_NS_NONE:
    case JOB_NS_NO_RECORD:
        if (other_isolated_job(pw->pw_uid))
            return refuse(pw, e.text, " (the user has an isolated job on this node)");
        if (why == JOB_NS_NONE)
            return node_view(pw, e.text, "");
        return p->ssh == SSH_HOST ? node_view(pw, e.text, " (ssh: host)")
                                  : refuse(pw, e.text, " (ssh: deny)");
    case JOB_NS_ERROR:
        if (p->on_error == ON_ERROR_ALLOW)
            return node_view(pw, e.text, " (on_error: allow)");
        return refuse(pw, e.text, "");
    default: /* JOB_NS_FAILED, JOB_NS_OTHER_USER */
        return refuse(pw, e.text, "");
    }
}

static int open_join(pam_handle_t *pamh, const struct args *a, const struct passwd *pw)
{
    struct job_login_decision d;
    struct policy *p;
    struct err e;
    uint32_t job_id = 0;
    int rc;

    if (!(p = job_policy_load(a->policy, &e))) {
        log_error("user %s: %s; the session is refused", pw->pw_name, e.text);
        return PAM_SESSION_ERR;
    }
    job_login_decide_nss(p, NULL, pw->pw_name, pw->pw_uid, pw->pw_gid, &d);
    if (d.exempt)
        rc = node_view(pw, "exempt (login: exempt_users or exempt_groups)", "");
    else if (session_job(pamh, pw->pw_uid, &job_id, &e) < 0)
        rc = no_job(pw, p, errno, &e);
    else
        rc = join_or_refuse(pamh, pw, p, job_id);
    policy_free(p);
    return rc;
}

static void login_cleanup(pam_handle_t *pamh, void *data, int status)
{
    struct job_login *l = data;

    (void)pamh;
    (void)status;
    if (l->host_nsfd >= 0)
        close(l->host_nsfd);
    free(l);
}

/* Why a session of PW keeps the node's view under D, into BUF; NULL if it is isolated. */
static const char *login_untouched(const struct job_login_decision *d, char *buf, size_t size)
{
    if (d->exempt)
        snprintf(buf, size, "exempt (login: %s%s%s)", d->exempt, d->on.group ? " on host " : "",
                 d->on.group ? d->host : "");
    else if (strcmp(d->on.profile, PROFILE_NONE) == 0)
        snprintf(buf, size, "not isolated (login: profile none%s%s)",
                 d->on.group ? " on host " : "", d->on.group ? d->host : "");
    else
        return NULL;
    return buf;
}

/* Enter the session's namespace under D (the host's login: profile), keeping what the close
 * needs in PAM's data. */
static int enter_login(pam_handle_t *pamh, const struct policy *p, const struct passwd *pw,
                       const struct job_login_decision *d)
{
    struct job_state st = {0};
    struct job_login *l;
    struct err e;
    int rc = PAM_SUCCESS;

    if (!(l = calloc(1, sizeof(*l))))
        return refuse(pw, "out of memory", "");
    if (job_login_open(p, d, pw->pw_uid, pw->pw_gid, l, &st, &e) < 0) {
        struct err ignored;
        job_login_close(p, l, &ignored);
        login_cleanup(pamh, l, 0);
        rc = p->on_error == ON_ERROR_ALLOW ? node_view(pw, e.text, " (on_error: allow)")
                                           : refuse(pw, e.text, "");
    } else if (pam_set_data(pamh, LOGIN_DATA, l, login_cleanup) != PAM_SUCCESS) {
        login_cleanup(pamh, l, 0);
        rc = refuse(pw, "cannot keep the session's state", "");
    } else {
        if (chdir(pw->pw_dir) < 0 && chdir("/") < 0)
            log_warn("user %s: no home %s in the session's namespace", pw->pw_name, pw->pw_dir);
        for (char **v = st.env; v && *v; v++)
            if (pam_putenv(pamh, *v) != PAM_SUCCESS)
                log_warn("user %s: cannot set %s in the session", pw->pw_name, *v);
        log_info("user %s: the login session is isolated (profile %s%s%s)", pw->pw_name,
                 d->on.profile, d->on.group ? ", host " : "", d->on.group ? d->host : "");
    }
    job_state_clear(&st);
    return rc;
}

/* A login session: its namespace under the policy's login: profile for this host
 * (pam_isolation(8)). */
static int open_login(pam_handle_t *pamh, const struct args *a, const struct passwd *pw)
{
    struct job_login_decision d;
    struct policy *p;
    struct err e;
    char why[400];
    const char *untouched;
    int rc;

    if (!(p = job_policy_load(a->policy, &e)))
        return refuse(pw, e.text, "");
    if (!p->login.present) {
        rc = refuse(pw, "the policy has no login: section", " (mode=login needs one)");
    } else {
        job_login_decide_nss(p, NULL, pw->pw_name, pw->pw_uid, pw->pw_gid, &d);
        if ((untouched = login_untouched(&d, why, sizeof(why))))
            rc = node_view(pw, untouched, "");
        else
            rc = enter_login(pamh, p, pw, &d);
    }
    policy_free(p);
    return rc;
}

static int close_login(pam_handle_t *pamh, const struct args *a)
{
    const void *data = NULL;
    struct job_login *l;
    struct policy *p;
    struct err e;

    if (pam_get_data(pamh, LOGIN_DATA, &data) != PAM_SUCCESS || !data)
        return PAM_SUCCESS;
    l = (struct job_login *)data;
    if (!(p = job_policy_load(a->policy, &e))) {
        pam_syslog(pamh, LOG_ERR, "at the session's end: %s", e.text);
        return PAM_SESSION_ERR;
    }
    if (job_login_close(p, l, &e) < 0)
        pam_syslog(pamh, LOG_ERR, "at the session's end: %s", e.text);
    else
        pam_syslog(pamh, LOG_DEBUG, "the login session ended (pid %ld)", (long)getpid());
    policy_free(p);
    return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    struct args a;
    const char *user = NULL;
    struct passwd pwbuf, *pw = NULL;
    char buf[16384];

    (void)flags;
    log_set_sink(pam_sink, pamh);
    if (parse_args(pamh, argc, argv, &a) < 0)
        return PAM_SESSION_ERR;
    if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !user ||
        getpwnam_r(user, &pwbuf, buf, sizeof(buf), &pw) != 0 || !pw) {
        pam_syslog(pamh, LOG_ERR, "cannot find the session's user");
        return PAM_SESSION_ERR;
    }
    if (pw->pw_uid == 0)
        return PAM_SUCCESS; /* root is never isolated */
    return a.login ? open_login(pamh, &a, pw) : open_join(pamh, &a, pw);
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    struct args a;

    (void)flags;
    log_set_sink(pam_sink, pamh);
    if (parse_args(pamh, argc, argv, &a) < 0 || !a.login)
        return PAM_SUCCESS;
    return close_login(pamh, &a);
}
