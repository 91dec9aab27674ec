/* Login sessions (pam_isolation mode=login) as jobs of the store, under ids Slurm never gives:
 * one namespace per user (0x80000000 | uid) shared by the user's sessions, or one per session
 * (0xC0000000 | the pid that opens it). The namespace is found or built, and at the end removed
 * once no process uses it, under RUNDIR/login.lock: a session that opens while the last other one
 * closes either joins before the check or builds anew after the removal. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/job.h"

#define LOGIN_SHARED 0x80000000u
#define LOGIN_PRIVATE 0xC0000000u

bool job_user_exempt(const struct policy *p, const char *user, uid_t uid, gid_t gid)
{
    const struct login_policy *l = &p->login;
    gid_t *gids;
    int n = 0;
    bool exempt = uid == 0;

    for (size_t i = 0; !exempt && i < l->nexempt_users; i++)
        exempt = strcmp(l->exempt_users[i], user) == 0;
    if (exempt || !l->nexempt_groups)
        return exempt;
    if (!(gids = identity_gids(user, gid, &n)))
        return false; /* groups unknown: isolated, the safe answer */
    for (int i = 0; !exempt && i < n; i++) {
        struct group *g = getgrgid(gids[i]);
        for (size_t j = 0; g && !exempt && j < l->nexempt_groups; j++)
            exempt = strcmp(l->exempt_groups[j], g->gr_name) == 0;
    }
    free(gids);
    return exempt;
}

static int login_id(const struct policy *p, uid_t uid, uint32_t *id, struct err *e)
{
    pid_t pid = getpid();

    if (!p->login.private_sessions && uid < 0x40000000u)
        *id = LOGIN_SHARED | (uint32_t)uid;
    else if (p->login.private_sessions && (uint32_t)pid < 0x40000000u)
        *id = LOGIN_PRIVATE | (uint32_t)pid;
    else
        return errprintf(e, "uid %lu or pid %ld is too large for a login session's id",
                         (unsigned long)uid, (long)pid);
    return 0;
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

int job_login_open(const struct policy *p, const char *user, uid_t uid, gid_t gid,
                   struct job_login *out, struct job_state *st, struct err *e)
{
    struct job_request r = {.uid = uid, .gid = gid, .profile = p->login.profile, .login = true};
    int lock, fd, rc = 0;

    (void)user;
    out->host_nsfd = -1;
    if (login_id(p, uid, &r.job_id, e) < 0)
        return -1;
    out->id = r.job_id;
    if ((out->host_nsfd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)) < 0)
        return errprintf_errno(e, errno, "cannot open this process's mount namespace");
    if ((lock = instance_login_lock(e)) < 0)
        return -1;
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
