/* A job's record, RECORDS/job/JOBID (root 0700): opened by every step, with the markers of work
 * done once per job and the pin of the job's mount namespace. The state file is state.c's, the
 * holder live.c's. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/vfs.h>
#include <sys/file.h>
#include <unistd.h>

#include "store/store.h"
#include "store_int.h"
#include "util/util.h"
#include "fs/fs.h"

#ifndef NS_GET_NSTYPE
#define NS_GET_NSTYPE _IO(0xb7, 0x3) /* linux/nsfs.h, Linux 4.11 */
#endif
#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

void store_job_name(uint32_t job_id, char *buf, size_t size)
{
    snprintf(buf, size, "%" PRIu32, job_id);
}

/* TOP/ID in directory SUB of the base (DATA) or of the records, made root 0700 with CREATE. */
int store_open_id_dir(struct instance_store *s, bool data, const char *sub, const char *id,
                      bool create, struct err *e)
{
    int top = data ? store_open_sub(s, sub, e) : store_open_rec(s, sub, e), fd;

    if (top < 0)
        return -1;
    fd = create ? safe_mkdir_at(top, id, 0700, 0, 0, e) : safe_open_dir_at(top, id, e);
    close(top);
    return fd;
}

int instance_job_open(struct instance_store *s, uint32_t job_id, bool create,
                      struct instance_job *job, struct err *e)
{
    char name[16];

    job->job_id = job_id;
    store_job_name(job_id, name, sizeof(name));
    job->dirfd = store_open_id_dir(s, false, "job", name, create, e);
    return job->dirfd < 0 ? -1 : 0;
}

void instance_job_close(struct instance_job *job)
{
    if (job->dirfd >= 0)
        close(job->dirfd);
    job->dirfd = -1;
}

int instance_job_build_lock(struct instance_job *job, bool wait)
{
    while (flock(job->dirfd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

bool store_job_building(int jobfd)
{
    int fd = openat(jobfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool building;

    if (fd < 0)
        return false;
    building = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd); /* drops the shared lock if it was taken */
    return building;
}

bool instance_job_marked(struct instance_store *s, uint32_t job_id, const char *name)
{
    struct instance_job job;
    struct stat st;
    bool marked;

    if (instance_job_open(s, job_id, false, &job, NULL) < 0)
        return false;
    marked = fstatat(job.dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
    instance_job_close(&job);
    return marked;
}

void instance_job_mark(struct instance_store *s, uint32_t job_id, const char *name)
{
    struct instance_job job;
    int fd;

    if (instance_job_open(s, job_id, false, &job, NULL) < 0)
        return;
    fd = openat(job.dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    instance_job_close(&job);
}

int store_pin_open_at(int jobfd)
{
    struct statfs sf;
    int fd = openat(jobfd, "ns", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        return -1;
    /* nsfs, and a mount namespace: setns(fd, 0) callers (pam_slurm_adopt) check no type. */
    if (fstatfs(fd, &sf) < 0 || sf.f_type != NSFS_MAGIC ||
        ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNS) {
        close(fd);
        errno = ENOENT;
        return -1;
    }
    return fd;
}

int instance_pin_open(struct instance_store *s, uint32_t job_id, struct err *e)
{
    struct instance_job job;
    int fd;

    if (instance_job_open(s, job_id, false, &job, e) < 0)
        return -1;
    fd = store_pin_open_at(job.dirfd);
    instance_job_close(&job);
    if (fd < 0)
        return errprintf_errno(e, errno, "job %" PRIu32 ": no namespace pinned", job_id);
    return fd;
}
