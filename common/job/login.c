/* Login sessions (pam_isolation mode=login) as jobs of the store, under ids Slurm never gives:
 * one namespace per user (0x80000000 | uid) shared by the user's sessions, or one per session
 * (0xC0000000 | the pid that opens it). The namespace is found or built, and at the end removed
 * once no process uses it, under RUNDIR/login.lock: a session that opens while the last other one
 * closes either joins before the check or builds anew after the removal. A session whose close
 * never ran (sshd killed) leaves its namespace behind: the next login removes it, once no process
 * is left in it. Which profile, and whether the user is exempt, is login: on the host
 * (policy_login_choose). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/job.h"

#define LOGIN_SHARED 0x80000000u
#define LOGIN_PRIVATE 0xC0000000u

void job_login_decide(const struct policy *p, const char *host, const char *user, uid_t uid,
                      const char *const *groups, size_t ngroups, struct job_login_decision *d)
{
    if (host && *host)
        snprintf(d->host, sizeof(d->host), "%s", host);
    else if (job_node_name(NULL, d->host, sizeof(d->host)) < 0)
        d->host[0] = '\0'; /* no name: no host group names it */
    policy_login_choose(p, d->host, &d->on);
    d->exempt = uid == 0 ? "root" : login_choice_exempt(&d->on, user, groups, ngroups);
}

void job_login_decide_nss(const struct policy *p, const char *host, const char *user, uid_t uid,
                          gid_t gid, struct job_login_decision *d)
{
    int n = 0;
    gid_t *gids = identity_gids(user, gid, &n);
    char **names = gids ? calloc((size_t)n + 1, sizeof(*names)) : NULL;
    size_t count = 0;

    /* A group NSS cannot name (or groups that cannot be read) exempts no one. */
    for (int i = 0; names && i < n; i++) {
        struct group *g = getgrgid(gids[i]);
        if (g && (names[count] = strdup(g->gr_name)))
            count++;
    }
    job_login_decide(p, host, user, uid, (const char *const *)names, count, d);
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    free(gids);
}

int job_login_id(const struct job_login_decision *d, uid_t uid, pid_t pid, uint32_t *id,
                 struct err *e)
{
    if (!d->on.private_sessions && uid < 0x40000000u)
        *id = LOGIN_SHARED | (uint32_t)uid;
    else if (d->on.private_sessions && pid >= 0 && (uint32_t)pid < 0x40000000u)
        *id = LOGIN_PRIVATE | (uint32_t)pid;
    else
        return errprintf(e, "uid %lu or pid %ld is too large for a login session's id",
                         (unsigned long)uid, (long)pid);
    return 0;
}

static bool is_login_id(uint32_t job_id, void *arg)
{
    (void)arg;
    return (job_id & LOGIN_SHARED) != 0;
}

/* Remove the login namespaces whose sessions all ended without a close (sshd killed): no process
 * is left in them, and only a login, under the login lock held here, enters one. Failures are
 * logged: they do not stop this session. */
static void sweep_logins(const struct policy *p)
{
    struct instance_store *s;
    struct err e;
    int n;

    if (!(s = instance_store_open(p->instance_base, false, &e))) {
        if (errno != ENOENT)
            log_error("cannot look for login sessions that ended without a close: %s", e.text);
        return;
    }
    if ((n = instance_sweep_unused(s, is_login_id, NULL, true, &e)) < 0)
        log_error("removing login sessions that ended without a close: %s", e.text);
    else if (n > 0)
        log_info("removed %d login session namespace%s that no process was left in", n,
                 n == 1 ? "" : "s");
    instance_store_close(s);
}

/* The session's namespace, found or built (under the login lock). */
static int find_or_build(const struct policy *p, const struct job_request *r, struct job_state *st,
                         struct err *e)
{
    enum job_ns why;
    int fd = job_namespace_open(r->job_id, r->uid, st, &why, e);

    if (fd >= 0 || why == JOB_NS_NONE || why == JOB_NS_FAILED)
        return fd;
    /* none yet, or what an ended session left (its pin gone, a reused pid): build anew */
    if (job_begin(p, r) < 0)
        return errprintf(e, "this node cannot isolate login sessions (see the log)");
    return job_namespace_open(r->job_id, r->uid, st, &why, e);
}

int job_login_open(const struct policy *p, const struct job_login_decision *d, uid_t uid, gid_t gid,
                   struct job_login *out, struct job_state *st, struct err *e)
{
    struct job_request r = {.uid = uid, .gid = gid, .profile = d->on.profile, .login = true};
    int lock, fd, rc = 0;

    out->host_nsfd = -1;
    if (job_login_id(d, uid, getpid(), &r.job_id, e) < 0)
        return -1;
    out->id = r.job_id;
    if ((out->host_nsfd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)) < 0)
        return errprintf_errno(e, errno, "cannot open this process's mount namespace");
    if ((lock = instance_login_lock(e)) < 0)
        return -1;
    sweep_logins(p);
    fd = find_or_build(p, &r, st, e);
    if (fd >= 0 && setns(fd, CLONE_NEWNS) < 0)
        rc = errprintf_errno(e, errno, "cannot enter the session's namespace");
    else if (fd < 0)
        rc = -1;
    if (fd >= 0)
        close(fd);
    close(lock);
    return rc;
}

/* The session's own processes (sshd's child for the user) may still be leaving the namespace
 * when the session is closed: wait for them a little, without the lock. */
#define LEAVE_WAIT_MS 2000

int job_login_close(const struct policy *p, struct job_login *l, struct err *e)
{
    struct instance_store *s;
    int lock, rc = 0;

    if (l->host_nsfd < 0)
        return 0;
    if (setns(l->host_nsfd, CLONE_NEWNS) < 0)
        return errprintf_errno(e, errno, "cannot leave the session's namespace");
    if (!(s = instance_store_open(p->instance_base, false, e)))
        return -1;
    for (int ms = 0; ms < LEAVE_WAIT_MS && instance_job_in_use(s, l->id); ms += 50)
        usleep(50 * 1000);
    if ((lock = instance_login_lock(e)) < 0)
        rc = -1;
    else if (!instance_job_in_use(s, l->id))
        rc = job_cleanup(p, l->id);
    if (lock >= 0)
        close(lock);
    instance_store_close(s);
    return rc;
}
