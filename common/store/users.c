/* Scope: user instances are shared by the user's jobs on this node. Each job holds a reference,
 * RECORDS/user/UID/jobs/JOBID; the instances go into the trash when no job references them. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "store_int.h"
#include "util/util.h"
#include "fs/fs.h"

/* The user's directory: in the base (DATA: its instances) or in the records (its jobs/). */
int store_open_user_dir(struct instance_store *s, bool data, uid_t uid, bool create, struct err *e)
{
    char name[32];

    snprintf(name, sizeof(name), "%lu", (unsigned long)uid);
    return store_open_id_dir(s, data, "user", name, create, e);
}

/* Record job JOB_ID as a user of UID's instances: RECORDS/user/UID/jobs/JOBID. */
int store_add_user_ref(struct instance_store *s, uid_t uid, uint32_t job_id, struct err *e)
{
    char name[16];
    int ufd = store_open_user_dir(s, false, uid, true, e), jobs, fd;

    if (ufd < 0)
        return -1;
    store_job_name(job_id, name, sizeof(name));
    jobs = safe_mkdir_at(ufd, "jobs", 0700, 0, 0, e);
    close(ufd);
    if (jobs < 0)
        return -1;
    fd = openat(jobs, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    close(jobs);
    if (fd < 0)
        return errprintf_errno(e, errno, "cannot record job %s as a user of its instances", name);
    close(fd);
    return 0;
}

int instance_user_jobs(struct instance_store *s, uid_t uid, void (*fn)(uint32_t, void *), void *arg,
                       struct err *e)
{
    int ufd = store_open_user_dir(s, false, uid, false, e), jobs = -1;
    struct dirent *de;
    DIR *d = NULL;

    if (ufd >= 0)
        jobs = safe_open_dir_at(ufd, "jobs", e);
    if (jobs >= 0 && !(d = fdopendir(jobs)))
        close(jobs);
    if (ufd >= 0)
        close(ufd);
    if (!d)
        return -1;
    while ((de = readdir(d))) {
        char *end;
        unsigned long id = strtoul(de->d_name, &end, 10);
        if (de->d_name[0] != '.' && !*end && id <= UINT32_MAX)
            fn((uint32_t)id, arg);
    }
    closedir(d);
    return 0;
}

/* Detach the tmpfs instances of a user and move the directory into the trash. */
static int trash_user_dir(struct instance_store *s, struct trash *t, int users, const char *uidname,
                          struct err *e)
{
    int fd = safe_open_dir_at(users, uidname, e);
    int rc = 0;
    DIR *d;
    struct dirent *de;

    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    if (!(d = fdopendir(fd))) {
        close(fd);
        return errprintf_errno(e, errno, "user %s: cannot list instances", uidname);
    }
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            if (safe_unmount_at(dirfd(d), de->d_name, e) < 0)
                rc = -1;
    closedir(d);
    if (rc == 0)
        rc = trash_move(s, t, users, uidname, e);
    return rc;
}

static bool dir_is_empty(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d;
    struct dirent *de;
    bool empty = true;

    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    while (empty && (de = readdir(d)))
        empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
    closedir(d);
    return empty;
}

/* Whether some job still holds a reference on the user UIDNAME's instances. */
static bool user_in_use(int recusers, const char *uidname)
{
    int ufd = safe_open_dir_at(recusers, uidname, NULL);
    bool used;

    /* An error is no proof that no job uses them: only "no such record" is. */
    if (ufd < 0)
        return errno != ENOENT;
    if (faccessat(ufd, "jobs", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
        used = errno != ENOENT;
    else
        used = !dir_is_empty(ufd, "jobs");
    close(ufd);
    return used;
}

/* The open directory DIRFD listed through a descriptor of its own (DIRFD stays open); NULL if it
 * cannot be. */
static DIR *list_open_dir(int dirfd)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);

    if (!d && fd >= 0)
        close(fd);
    return d;
}

/* Drop JOB_ID's reference in every user's record. */
static void drop_user_refs(int recusers, uint32_t job_id)
{
    char jname[16];
    DIR *d = list_open_dir(recusers);
    struct dirent *de;
    int jobs;

    if (!d)
        return;
    store_job_name(job_id, jname, sizeof(jname));
    while ((de = readdir(d))) {
        int ufd = de->d_name[0] == '.' ? -1 : safe_open_dir_at(recusers, de->d_name, NULL);
        if (ufd >= 0 && (jobs = safe_open_dir_at(ufd, "jobs", NULL)) >= 0) {
            unlinkat(jobs, jname, 0);
            close(jobs);
        }
        if (ufd >= 0)
            close(ufd);
    }
    closedir(d);
}

/* Move the instances of users no job references into the trash (an instance directory without
 * a record is from an earlier boot, or from a builder that died: it held the lock). */
static int trash_unused_users(struct instance_store *s, struct trash *t, int recusers,
                              struct err *e)
{
    DIR *d = store_list_sub(s, "user", e);
    struct dirent *de;
    int rc = 0;

    if (!d)
        return errno == ENOENT ? 0 : -1;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && !user_in_use(recusers, de->d_name) &&
            trash_user_dir(s, t, dirfd(d), de->d_name, rc ? NULL : e) < 0)
            rc = -1;
    closedir(d);
    return rc;
}

/* Remove the records of users no job references (small and root-only: removed under the lock). */
static void forget_unused_users(int recusers)
{
    DIR *d = list_open_dir(recusers);
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && !user_in_use(recusers, de->d_name))
            safe_remove_tree_at(recusers, de->d_name, NULL);
    closedir(d);
}

/* Drop JOB's references (JOB_ID 0: drop none), and move the instances of users no job
 * references any more into the trash. */
int store_release_users(struct instance_store *s, struct trash *t, uint32_t job_id, struct err *e)
{
    int recusers = store_open_rec(s, "user", e), rc;

    if (recusers < 0)
        return errno == ENOENT ? 0 : -1;
    if (job_id)
        drop_user_refs(recusers, job_id);
    rc = trash_unused_users(s, t, recusers, e);
    if (rc == 0)
        forget_unused_users(recusers);
    close(recusers);
    return rc;
}
