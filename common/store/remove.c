/* Removing a job: under the store lock its pin is unmounted, its user references are dropped and
 * its instances and record are moved into the trash; the trash is emptied once the lock is
 * released. Also: what an earlier job with the same id left, and an epilog's cleanup under every
 * recorded base. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "store_int.h"
#include "util/util.h"
#include "fs/fs.h"

/* The lingering process: its parent exits at once and is reaped, so that the one that stays,
 * init's to reap, leaves no zombie in slurmd. */
static void linger_child(int nsfd, int ready, int go)
{
    char c;

    if (fork() != 0)
        _exit(0);
    if (setns(nsfd, CLONE_NEWNS) == 0 && write(ready, "", 1) == 1)
        while (read(go, &c, 1) < 0 && errno == EINTR)
            ;
    _exit(0);
}

/* Tearing a job's namespace down frees its tmpfs instances, which takes the kernel tens of
 * milliseconds per GiB. A child enters the namespace before the pin goes (a task inside keeps it
 * alive) and leaves it once we are done, so the teardown happens in the child, not the epilog.
 * Returns the write end the child waits on (close it to let the child go), or -1. */
static int linger_in(int jobfd)
{
    int nsfd = store_pin_open_at(jobfd), ready[2], go[2];
    char c;
    pid_t pid;

    if (nsfd < 0)
        return -1;
    if (pipe2(ready, O_CLOEXEC) < 0) {
        close(nsfd);
        return -1;
    }
    if (pipe2(go, O_CLOEXEC) < 0) {
        close(ready[0]);
        close(ready[1]);
        close(nsfd);
        return -1;
    }
    if ((pid = fork()) == 0) {
        close(ready[0]);
        close(go[1]);
        linger_child(nsfd, ready[1], go[0]);
    }
    close(nsfd);
    close(ready[1]);
    close(go[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    /* Wait until the lingering process is inside (or gone): then the pin is no longer the last
     * hold. */
    while (pid > 0 && read(ready[0], &c, 1) < 0 && errno == EINTR)
        ;
    close(ready[0]);
    if (pid < 0) {
        close(go[1]);
        return -1;
    }
    return go[1];
}

/* Move the job's disk instances, BASE/job/JOBID, into the trash. */
static int trash_job_data(struct instance_store *s, struct trash *t, const char *name,
                          struct err *e)
{
    int jobs = store_open_sub(s, "job", e), rc;

    if (jobs < 0)
        return errno == ENOENT ? 0 : -1;
    rc = trash_move(s, t, jobs, name, e);
    close(jobs);
    return rc;
}

/* Unpin the job, drop its user references, move its instances into the trash and remove its
 * record (small and root-only): all that must be done under the store lock, and all quick. */
int store_detach_job_locked(struct instance_store *s, struct trash *t, uint32_t job_id, int *linger,
                            struct err *e)
{
    char name[16];
    int jobs, rc = 0;

    store_job_name(job_id, name, sizeof(name));
    if ((jobs = store_open_rec(s, "job", e)) < 0)
        return errno == ENOENT ? 0 : -1;
    int jfd = safe_open_dir_at(jobs, name, NULL);
    if (jfd >= 0) {
        if (*linger < 0)
            *linger = linger_in(jfd);
        rc = safe_unmount_at(jfd, "ns", e);
        close(jfd);
    }
    if (store_release_users(s, t, job_id, rc ? NULL : e) < 0)
        rc = -1;
    if (rc == 0)
        rc = trash_job_data(s, t, name, e);
    /* The record goes last: instances without one are swept, a record without a pin too. */
    if (rc == 0 && safe_remove_tree_at(jobs, name, e) < 0 && errno != ENOENT)
        rc = -1;
    close(jobs);
    return rc;
}

/* Everything of the job into the trash under the lock, then emptied without it (here, or with
 * DETACH by a detached process): removing a million files must not stall other jobs' starts. */
static int remove_job(struct instance_store *s, uint32_t job_id, bool detach, struct err *e)
{
    struct trash t = {0};
    int linger = -1, rc;

    if (instance_store_lock(s, e) < 0)
        return -1;
    rc = store_detach_job_locked(s, &t, job_id, &linger, e);
    return trash_finish(s, &t, detach, linger, rc, e);
}

int instance_job_remove(struct instance_store *s, uint32_t job_id, struct err *e)
{
    return remove_job(s, job_id, false, e);
}

int instance_job_discard(struct instance_store *s, uint32_t job_id, struct err *e)
{
    return remove_job(s, job_id, true, e);
}

/* Whether BASE/job/JOBID exists. */
static bool has_job_data(struct instance_store *s, uint32_t job_id)
{
    char name[16];
    int fd;

    store_job_name(job_id, name, sizeof(name));
    if ((fd = store_open_id_dir(s, true, "job", name, false, NULL)) < 0)
        return false;
    close(fd);
    return true;
}

bool instance_job_exists(struct instance_store *s, uint32_t job_id)
{
    struct instance_job job;

    if (instance_job_open(s, job_id, false, &job, NULL) < 0)
        return has_job_data(s, job_id);
    instance_job_close(&job);
    return true;
}

/* A record is not this job's when it names another user (a job id belongs to one user), or
 * when the job it was made for has ended (store_job_alive). */
static bool record_is_stale(int jobfd, uid_t uid)
{
    struct job_state st;
    bool stale = false;

    if (store_job_building(jobfd))
        return false;
    if (store_read_state_at(jobfd, &st, NULL) == 0)
        stale = st.uid != uid;
    job_state_clear(&st);
    return stale || store_job_alive(jobfd) == 0;
}

/* Whether job JOB_ID has a record that is stale for UID (see record_is_stale), or instances
 * and no record (seen under the lock, no builder is making them: it makes the record first). */
static bool job_record_stale(struct instance_store *s, uint32_t job_id, uid_t uid)
{
    struct instance_job job;
    bool stale;

    if (instance_job_open(s, job_id, false, &job, NULL) < 0)
        return has_job_data(s, job_id);
    stale = record_is_stale(job.dirfd, uid);
    instance_job_close(&job);
    return stale;
}

int instance_job_drop_stale(struct instance_store *s, uint32_t job_id, uid_t uid, struct err *e)
{
    struct trash t = {0};
    int linger = -1, rc = 0;

    /* Every step asks: the common answer, a current record, costs no lock. */
    if (!job_record_stale(s, job_id, uid))
        return 0;
    if (instance_store_lock(s, e) < 0)
        return -1;
    if (job_record_stale(s, job_id, uid))
        rc = store_detach_job_locked(s, &t, job_id, &linger, e) < 0 ? -1 : 1;
    /* 1 (dropped) is kept unless the emptying fails. */
    return trash_finish(s, &t, false, linger, rc < 0 ? -1 : 0, e) < 0 ? -1 : rc;
}

struct cleanup {
    uint32_t job_id;
    const char *done; /* the base already cleaned */
    bool (*skip)(const char *base, void *arg);
    void *arg;
    int rc;
};

static void cleanup_under(const char *base, void *arg)
{
    struct cleanup *c = arg;
    struct instance_store *s;
    struct err e;

    if ((c->done && strcmp(base, c->done) == 0) || (c->skip && c->skip(base, c->arg)))
        return;
    if ((s = instance_store_open(base, false, &e))) {
        if (instance_job_remove(s, c->job_id, &e) < 0) {
            log_error("job %" PRIu32 ": cannot remove its instances under %s: %s", c->job_id, base,
                      e.text);
            c->rc = -1;
        }
        instance_store_close(s);
    } else if (errno != ENOENT) {
        log_error("job %" PRIu32 ": %s", c->job_id, e.text);
        c->rc = -1;
    }
}

int instance_job_cleanup(const char *base, uint32_t job_id,
                         bool (*skip)(const char *base, void *arg), void *arg)
{
    struct cleanup c = {job_id, NULL, skip, arg, 0};

    if (base) {
        cleanup_under(base, &c);
        c.done = base;
    }
    instance_for_each_base(cleanup_under, &c);
    return c.rc;
}
