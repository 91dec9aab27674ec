/* Making a job's instances, named after their polydir: scope: job disk instances in
 * BASE/job/JOBID, scope: user instances (disk directories, or a tmpfs mounted once and shared)
 * in BASE/user/UID. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "store_int.h"
#include "util/util.h"
#include "fs/fs.h"

void instance_name(const char *path, char *buf, size_t size)
{
    size_t off = 0;

    while (*path == '/')
        path++;
    for (const char *p = path; *p && off + 5 < size; p++) {
        unsigned char c = *p;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '_' || (c == '.' && p != path);
        if (c == '/')
            buf[off++] = '-';
        else if (plain)
            buf[off++] = c;
        else
            off += snprintf(buf + off, size - off, "\\x%02x", c);
    }
    buf[off] = '\0';
}

static int mount_tmpfs_at(int dirfd, const char *name, uint64_t size, mode_t mode, uid_t uid,
                          gid_t gid, struct err *e)
{
    char opts[128], p[64];
    int fd = safe_open_dir_at(dirfd, name, e);
    int rc;

    if (fd < 0)
        return -1;
    store_fd_path(fd, p, sizeof(p));
    if (size)
        snprintf(opts, sizeof(opts), "size=%" PRIu64 ",mode=%o,uid=%lu,gid=%lu", size,
                 (unsigned)mode, (unsigned long)uid, (unsigned long)gid);
    else
        snprintf(opts, sizeof(opts), "mode=%o,uid=%lu,gid=%lu", (unsigned)mode, (unsigned long)uid,
                 (unsigned long)gid);
    rc = mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, opts);
    close(fd);
    if (rc < 0)
        return errprintf_errno(e, errno, "cannot mount a tmpfs instance (%s)", opts);
    return 0;
}

/* A scope: user instance, shared by the user's jobs on this node; made by the first of them. */
static int make_user_instance(struct instance_store *s, struct instance_job *job,
                              const struct plan_polydir *d, const char *name, uid_t uid, gid_t gid,
                              mode_t mode, struct err *e)
{
    int ufd = store_open_user_dir(s, true, uid, true, e);
    int fd = -1;

    if (ufd < 0)
        return -1;
    if (d->backing == BACKING_DISK && d->size_bytes) {
        fd = quota_mkdir_at(ufd, name, d->size_bytes, mode, uid, gid, e);
    } else if (d->backing == BACKING_DISK) {
        fd = safe_mkdir_at(ufd, name, mode, uid, gid, e);
    } else {
        /* Another job of the user mounted it already: share it, whatever its size. */
        if (safe_is_mountpoint_at(ufd, name)) {
            fd = safe_open_dir_at(ufd, name, e);
        } else {
            int mp = safe_mkdir_at(ufd, name, 0700, 0, 0, e);
            if (mp >= 0) {
                close(mp);
                if (mount_tmpfs_at(ufd, name, d->size_bytes, mode, uid, gid, e) == 0)
                    fd = safe_open_dir_at(ufd, name, e);
            }
        }
    }
    if (fd >= 0 && store_add_user_ref(s, uid, job->job_id, e) < 0) {
        close(fd);
        fd = -1;
    }
    close(ufd);
    return fd;
}

/* A scope: job disk instance, in BASE/job/JOBID (made root 0700 by the first one). */
static int make_job_instance(struct instance_store *s, struct instance_job *job,
                             const struct plan_polydir *d, const char *name, uid_t uid, gid_t gid,
                             mode_t mode, struct err *e)
{
    char id[16];
    int jfd, fd;

    store_job_name(job->job_id, id, sizeof(id));
    if ((jfd = store_open_id_dir(s, true, "job", id, true, e)) < 0)
        return -1;
    fd = d->size_bytes ? quota_mkdir_at(jfd, name, d->size_bytes, mode, uid, gid, e)
                       : safe_mkdir_at(jfd, name, mode, uid, gid, e);
    close(jfd);
    return fd;
}

int instance_job_share(struct instance_store *s, uint32_t job_id, char *path, size_t size,
                       struct err *e)
{
    char id[16];
    int jfd, fd;

    store_job_name(job_id, id, sizeof(id));
    if ((jfd = store_open_id_dir(s, true, "job", id, true, e)) < 0)
        return -1;
    fd = safe_mkdir_at(jfd, INSTANCE_SHARE_NAME, 0755, 0, 0, e);
    close(jfd);
    if (fd < 0)
        return -1;
    close(fd);
    if (snprintf(path, size, "%s/job/%s/%s", s->path, id, INSTANCE_SHARE_NAME) >= (int)size)
        return errprintf(e, "job %" PRIu32 ": the path of its shared directory is too long",
                         job_id);
    return 0;
}

int instance_job_share_path(struct instance_store *s, uint32_t job_id, char *path, size_t size)
{
    char id[16];
    struct stat st;
    int jfd, rc;

    store_job_name(job_id, id, sizeof(id));
    if ((jfd = store_open_id_dir(s, true, "job", id, false, NULL)) < 0)
        return -1;
    rc = fstatat(jfd, INSTANCE_SHARE_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
                 st.st_uid == 0 && !(st.st_mode & 022)
             ? 0
             : -1;
    close(jfd);
    if (rc == 0 &&
        snprintf(path, size, "%s/job/%s/%s", s->path, id, INSTANCE_SHARE_NAME) >= (int)size)
        rc = -1;
    return rc;
}

int instance_make(struct instance_store *s, struct instance_job *job, const struct plan_polydir *d,
                  uid_t uid, gid_t gid, mode_t host_mode, char *path, size_t size, struct err *e)
{
    char name[PATH_MAX / 4];
    mode_t mode = host_mode & 07777;
    int fd;

    instance_name(d->path, name, sizeof(name));
    path[0] = '\0';
    if (d->scope == SCOPE_USER) {
        fd = make_user_instance(s, job, d, name, uid, gid, mode, e);
        snprintf(path, size, "user/%lu/%s", (unsigned long)uid, name);
    } else if (d->backing == BACKING_TMPFS) {
        return 0;
    } else {
        fd = make_job_instance(s, job, d, name, uid, gid, mode, e);
        snprintf(path, size, "job/%" PRIu32 "/%s", job->job_id, name);
    }
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}
