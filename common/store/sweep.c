/* The sweep: what no epilog removed. Jobs that ended on this node or in an earlier boot, job
 * instances without a record, references of jobs that are gone, user instances no job uses, and
 * the trash of removals that died. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "store_int.h"
#include "util/util.h"
#include "fs/fs.h"

/* A job is stale when it has ended on this node (its extern step is gone and its namespace
 * empty), or when its namespace is gone and it was set up in an earlier boot (or never finished:
 * its builder holds the job's build lock until the state is written). A job that may still run,
 * or is being built, is never stale. */
static bool job_is_stale(int jobs, const char *name, const char *boot)
{
    struct job_state st;
    int jfd = safe_open_dir_at(jobs, name, NULL);
    int pin, alive;
    bool stale;

    if (jfd < 0)
        return false;
    if (store_job_building(jfd)) {
        close(jfd);
        return false;
    }
    if ((alive = store_job_alive(jfd)) >= 0 || (pin = store_pin_open_at(jfd)) >= 0) {
        if (alive < 0)
            close(pin);
        close(jfd);
        return alive == 0;
    }
    if (store_read_state_at(jfd, &st, NULL) < 0)
        stale = true;
    else
        stale = strcmp(st.boot_id, boot) != 0;
    job_state_clear(&st);
    close(jfd);
    return stale;
}

/* The job id a directory NAME of ours spells; false for "05" or "+5": leave what we did not
 * name. */
static bool job_id_of(const char *name, uint32_t *id)
{
    char *end, canon[16];
    unsigned long v = strtoul(name, &end, 10);

    if (name[0] == '.' || *end || v > UINT32_MAX)
        return false;
    store_job_name((uint32_t)v, canon, sizeof(canon));
    *id = (uint32_t)v;
    return strcmp(canon, name) == 0;
}

int instance_job_ids(struct instance_store *s, void (*fn)(uint32_t job_id, void *arg), void *arg,
                     struct err *e)
{
    DIR *d = store_list_rec(s, "job", e);
    struct dirent *de;
    uint32_t id;

    if (!d)
        return errno == ENOENT ? 0 : -1;
    while ((de = readdir(d)))
        if (job_id_of(de->d_name, &id))
            fn(id, arg);
    closedir(d);
    return 0;
}

static int sweep_jobs(struct instance_store *s, struct trash *t, int *linger, struct err *e,
                      int *removed)
{
    char boot[40];
    DIR *d = store_list_rec(s, "job", e);
    int rc = 0;
    struct dirent *de;
    uint32_t id;

    if (!d)
        return errno == ENOENT ? 0 : -1;
    store_read_boot_id(boot, sizeof(boot));
    while ((de = readdir(d))) {
        if (!job_id_of(de->d_name, &id) || !job_is_stale(dirfd(d), de->d_name, boot))
            continue;
        log_warn("removing instances of job %" PRIu32 ": it has ended, but no epilog removed them",
                 id);
        if (store_detach_job_locked(s, t, id, linger, rc ? NULL : e) < 0)
            rc = -1;
        else
            (*removed)++;
    }
    closedir(d);
    return rc;
}

/* Move job instances without a record into the trash: /run was emptied by a reboot, or their
 * builder died (it holds the lock while it makes both, so none is being built now). */
static int sweep_orphans(struct instance_store *s, struct trash *t, struct err *e, int *removed)
{
    DIR *d = store_list_sub(s, "job", e);
    int recs = store_open_rec(s, "job", e), rc = 0;
    struct dirent *de;
    uint32_t id;

    if (!d || recs < 0) {
        if (d)
            closedir(d);
        if (recs >= 0)
            close(recs);
        return errno == ENOENT ? 0 : -1;
    }
    while ((de = readdir(d))) {
        if (!job_id_of(de->d_name, &id) ||
            faccessat(recs, de->d_name, F_OK, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
            continue;
        log_warn("removing instances of job %" PRIu32 ": the job has no record (an earlier boot)",
                 id);
        if (trash_move(s, t, dirfd(d), de->d_name, rc ? NULL : e) < 0)
            rc = -1;
        else
            (*removed)++;
    }
    closedir(d);
    close(recs);
    return rc;
}

/* Drop references held by jobs that no longer have a record. */
static int sweep_user_refs(struct instance_store *s)
{
    int users = store_open_rec(s, "user", NULL);
    int jobs = store_open_rec(s, "job", NULL);
    DIR *d;
    struct dirent *de, *je;

    if (users < 0 || jobs < 0 || !(d = fdopendir(users))) {
        if (users >= 0)
            close(users);
        if (jobs >= 0)
            close(jobs);
        return 0;
    }
    while ((de = readdir(d))) {
        int ufd = de->d_name[0] == '.' ? -1 : safe_open_dir_at(dirfd(d), de->d_name, NULL);
        int rfd = ufd < 0 ? -1 : safe_open_dir_at(ufd, "jobs", NULL);
        DIR *rd = rfd < 0 ? NULL : fdopendir(rfd);
        while (rd && (je = readdir(rd))) {
            struct stat st;
            if (je->d_name[0] != '.' && fstatat(jobs, je->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                unlinkat(dirfd(rd), je->d_name, 0);
        }
        if (rd)
            closedir(rd);
        else if (rfd >= 0)
            close(rfd);
        if (ufd >= 0)
            close(ufd);
    }
    closedir(d);
    close(jobs);
    return 0;
}

int instance_sweep(struct instance_store *s, bool detach, struct err *e)
{
    struct trash t = {0};
    int removed = 0, linger = -1, rc;

    if (instance_store_lock(s, e) < 0)
        return -1;
    trash_claim_leftovers(s, &t);
    rc = sweep_jobs(s, &t, &linger, e, &removed);
    if (sweep_orphans(s, &t, rc ? NULL : e, &removed) < 0)
        rc = -1;
    sweep_user_refs(s);
    if (store_release_users(s, &t, 0, rc ? NULL : e) < 0)
        rc = -1;
    rc = trash_finish(s, &t, detach, linger, rc, e);
    return rc < 0 ? -1 : removed;
}

bool instance_sweep_due(struct instance_store *s, int seconds)
{
    struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    struct stat st;
    time_t t = time(NULL);
    int fd;

    if (fstatat(s->rfd, ".swept", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_mtime <= t &&
        t - st.st_mtime < seconds)
        return false;
    fd = openat(s->rfd, ".swept", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
        futimens(fd, now);
        close(fd);
    }
    return true;
}

/* The ids of the jobs a sweep of unused jobs looks at. */
struct picked {
    bool (*pick)(uint32_t job_id, void *arg);
    void *arg;
    uint32_t *ids;
    size_t n, cap;
    bool oom;
};

static void pick_one(uint32_t job_id, void *arg)
{
    struct picked *p = arg;
    uint32_t *ids;

    if (p->oom || !p->pick(job_id, p->arg))
        return;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        if (!(ids = realloc(p->ids, cap * sizeof(*ids)))) {
            p->oom = true;
            return;
        }
        p->ids = ids;
        p->cap = cap;
    }
    p->ids[p->n++] = job_id;
}

/* Which of the picked jobs are in use (USED), their records opened for one pass over /proc; a
 * record gone meanwhile counts as used (there is nothing left to remove). */
static void picked_in_use(struct instance_store *s, const struct picked *p, bool *used)
{
    struct instance_job job;
    int *fds = calloc(p->n + 1, sizeof(*fds));
    size_t *of = calloc(p->n + 1, sizeof(*of));
    bool *open_used = calloc(p->n + 1, sizeof(*open_used));
    size_t n = 0;

    for (size_t i = 0; i < p->n; i++) {
        used[i] = true;
        if (fds && of && open_used && instance_job_open(s, p->ids[i], false, &job, NULL) == 0) {
            fds[n] = job.dirfd;
            of[n++] = i;
        }
    }
    store_jobs_in_use(fds, n, open_used);
    for (size_t k = 0; k < n; k++) {
        used[of[k]] = open_used[k];
        close(fds[k]);
    }
    free(fds);
    free(of);
    free(open_used);
}

int instance_sweep_unused(struct instance_store *s, bool (*pick)(uint32_t job_id, void *arg),
                          void *arg, bool detach, struct err *e)
{
    struct picked p = {.pick = pick, .arg = arg};
    struct trash t = {0};
    bool *used = NULL;
    int linger = -1, removed = 0, rc = 0;
    size_t unused = 0;

    if (instance_job_ids(s, pick_one, &p, e) < 0)
        return -1;
    if (p.oom || !(used = calloc(p.n + 1, sizeof(*used)))) {
        free(p.ids);
        return errprintf(e, "out of memory");
    }
    picked_in_use(s, &p, used);
    for (size_t i = 0; i < p.n; i++)
        unused += !used[i];
    if (unused && instance_store_lock(s, e) < 0)
        rc = -1;
    else if (unused) {
        for (size_t i = 0; i < p.n; i++) {
            if (used[i])
                continue;
            log_warn("removing job %" PRIu32 " (0x%08" PRIx32 "): no process is left in its "
                     "namespace",
                     p.ids[i], p.ids[i]);
            if (store_detach_job_locked(s, &t, p.ids[i], &linger, rc ? NULL : e) < 0)
                rc = -1;
            else
                removed++;
        }
        rc = trash_finish(s, &t, detach, linger, rc, e);
    }
    free(used);
    free(p.ids);
    return rc < 0 ? -1 : removed;
}
