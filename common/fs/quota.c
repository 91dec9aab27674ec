/* Disk quotas for instances: btrfs qgroups or ext4/XFS project quotas (see quota.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/btrfs.h>
#include <linux/dqblk_xfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/quota.h>

#include "util/util.h"
#include "fs/fs.h"

#ifndef SYS_quotactl_fd
#define SYS_quotactl_fd 443 /* Linux 5.14; the same number on every architecture */
#endif
#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif
/* The root directory of every btrfs subvolume has this inode number. */
#define SUBVOL_ROOT_INO 256

enum fs { FS_OTHER, FS_BTRFS, FS_EXT4, FS_XFS };

/* What a limited instance is, read before it is removed so its quota can go after it. */
struct held {
    enum quota_kind kind;
    uint64_t id; /* the subvolume's qgroup id, or the project id */
};

static enum fs fs_of(int fd, const char **name)
{
    struct statfs sf;

    *name = "this file system";
    if (fstatfs(fd, &sf) < 0)
        return FS_OTHER;
    switch ((unsigned long)sf.f_type) {
    case BTRFS_SUPER_MAGIC:
        *name = "btrfs";
        return FS_BTRFS;
    case EXT4_SUPER_MAGIC:
        *name = "ext4";
        return FS_EXT4;
    case XFS_SUPER_MAGIC:
        *name = "XFS";
        return FS_XFS;
    case TMPFS_MAGIC:
        *name = "tmpfs";
        break;
    case OVERLAYFS_SUPER_MAGIC:
        *name = "overlayfs";
        break;
    }
    return FS_OTHER;
}

static void path_of(int fd, char *buf, size_t size)
{
    char p[64];
    ssize_t n;

    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    n = readlink(p, buf, size - 1);
    if (n <= 0)
        snprintf(buf, size, "the instance base");
    else
        buf[n] = '\0';
}

/* --- probing ------------------------------------------------------------------------------ */

/* Quotas are on when sysfs lists the file system's qgroups (a probe that changes nothing). */
static int btrfs_quota_on(int fd, const char *where, struct err *e)
{
    struct btrfs_ioctl_fs_info_args fi;
    const unsigned char *u = fi.fsid;
    char p[128];
    struct stat st;

    memset(&fi, 0, sizeof(fi));
    if (ioctl(fd, BTRFS_IOC_FS_INFO, &fi) < 0)
        return errprintf_errno(e, errno, "%s: cannot query its btrfs file system", where);
    snprintf(p, sizeof(p),
             "/sys/fs/btrfs/%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
    if (stat(p, &st) < 0)
        return errprintf_errno(e, errno, "%s: cannot tell whether btrfs quotas are on (%s)", where,
                               p);
    strcat(p, "/qgroups");
    if (stat(p, &st) == 0)
        return 0;
    errno = EOPNOTSUPP;
    return errprintf(e,
                     "%s is on btrfs with quotas off, so a disk size cannot be enforced; "
                     "turn them on with: btrfs quota enable %s",
                     where, where);
}

/* Project quotas must be on and enforced, not only accounted. */
static int project_quota_on(int fd, enum fs fs, const char *where, struct err *e)
{
    struct fs_quota_statv qs;

    memset(&qs, 0, sizeof(qs));
    qs.qs_version = FS_QSTATV_VERSION1;
    if (syscall(SYS_quotactl_fd, fd, QCMD(Q_XGETQSTATV, PRJQUOTA), 0, &qs) == 0 &&
        (qs.qs_flags & FS_QUOTA_PDQ_ENFD))
        return 0;
    errno = EOPNOTSUPP;
    return errprintf(e,
                     "%s is on %s without enforced project quotas, so a disk size cannot be "
                     "enforced; mount it with prjquota%s",
                     where, fs == FS_EXT4 ? "ext4" : "XFS",
                     fs == FS_EXT4 ? " (the file system needs the project and quota features: "
                                     "tune2fs -O project,quota)"
                                   : "");
}

enum quota_kind quota_probe(int fd, const char *where, struct err *e)
{
    const char *name;

    switch (fs_of(fd, &name)) {
    case FS_BTRFS:
        return btrfs_quota_on(fd, where, e) == 0 ? QUOTA_BTRFS : QUOTA_NONE;
    case FS_EXT4:
    case FS_XFS:
        return project_quota_on(fd, fs_of(fd, &name), where, e) == 0 ? QUOTA_PROJECT : QUOTA_NONE;
    case FS_OTHER:
        break;
    }
    errno = EOPNOTSUPP;
    errprintf(e,
              "%s is on %s, which cannot limit a directory's size; put it on btrfs (with "
              "btrfs quota enable) or on ext4 or XFS mounted with prjquota",
              where, name);
    return QUOTA_NONE;
}

enum quota_kind quota_probe_path(const char *path, struct err *e)
{
    char p[4096];
    enum quota_kind k;
    int fd;

    snprintf(p, sizeof(p), "%s", path);
    while ((fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 && errno == ENOENT) {
        char *slash = strrchr(p, '/');
        if (!slash || slash == p)
            break;
        *slash = '\0';
    }
    if (fd < 0)
        fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        errprintf_errno(e, errno, "%s: cannot open it to check its file system", path);
        return QUOTA_NONE;
    }
    k = quota_probe(fd, path, e);
    close(fd);
    return k;
}

/* --- btrfs -------------------------------------------------------------------------------- */

/* Limit the subvolume FD; a message names the directory PARENT as the place to fix. */
static int btrfs_limit(int fd, int parent, const char *name, uint64_t bytes, struct err *e)
{
    struct btrfs_ioctl_qgroup_limit_args a;
    char base[4096];

    memset(&a, 0, sizeof(a)); /* qgroupid 0: the subvolume FD is in */
    a.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER;
    a.lim.max_rfer = bytes;
    if (ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &a) == 0)
        return 0;
    if (errno != ENOTCONN)
        return errprintf_errno(e, errno, "instance %s: cannot set its btrfs qgroup limit", name);
    path_of(parent, base, sizeof(base));
    errno = EOPNOTSUPP;
    return errprintf(e,
                     "instance %s: btrfs quotas are off on its file system, so its size cannot "
                     "be enforced; turn them on with: btrfs quota enable %s",
                     name, base);
}

static int btrfs_subvol_id(int fd, uint64_t *id)
{
    struct btrfs_ioctl_ino_lookup_args a;

    memset(&a, 0, sizeof(a));
    a.objectid = SUBVOL_ROOT_INO;
    if (ioctl(fd, BTRFS_IOC_INO_LOOKUP, &a) < 0)
        return -1;
    *id = a.treeid;
    return 0;
}

/* Newer kernels refuse (EBUSY) while the cleaner has not dropped the subvolume yet, and remove
 * the qgroup themselves once it has; older ones leave it stale unless we remove it. */
static int btrfs_unlimit(int fsfd, uint64_t id, struct err *e)
{
    struct btrfs_ioctl_qgroup_create_args a = {.create = 0, .qgroupid = id};

    if (ioctl(fsfd, BTRFS_IOC_QGROUP_CREATE, &a) == 0 || errno == ENOENT || errno == EBUSY ||
        errno == ENOTCONN)
        return 0;
    return errprintf_errno(e, errno, "cannot remove btrfs qgroup 0/%" PRIu64, id);
}

/* A new subvolume NAME with its limit, still root's. */
static int btrfs_make(int dirfd, const char *name, uint64_t bytes, struct held *h, struct err *e)
{
    struct btrfs_ioctl_vol_args va;
    int fd;

    memset(&va, 0, sizeof(va));
    if (strlen(name) >= sizeof(va.name)) {
        errno = ENAMETOOLONG;
        return errprintf(e, "instance %s: name too long", name);
    }
    memcpy(va.name, name, strlen(name));
    if (ioctl(dirfd, BTRFS_IOC_SUBVOL_CREATE, &va) < 0)
        return errno == EEXIST ? -1
                               : errprintf_errno(e, errno,
                                                 "instance %s: cannot create it as a "
                                                 "btrfs subvolume",
                                                 name);
    h->kind = QUOTA_BTRFS;
    if ((fd = safe_open_dir_at(dirfd, name, e)) < 0)
        return -1;
    if (btrfs_subvol_id(fd, &h->id) < 0) {
        errprintf_errno(e, errno, "instance %s: cannot read its subvolume id", name);
        close(fd);
        return -1;
    }
    if (btrfs_limit(fd, dirfd, name, bytes, e) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* --- ext4 and XFS project quotas ---------------------------------------------------------- */

/* BYTES 0 clears the limits (an instance that is gone). */
static int project_limit(int fd, const char *name, uint32_t id, uint64_t bytes, struct err *e)
{
    uint64_t inodes = bytes / QUOTA_BYTES_PER_INODE;
    struct if_dqblk q;
    const char *fsname;
    char base[4096];

    memset(&q, 0, sizeof(q));
    q.dqb_bhardlimit = (bytes + QIF_DQBLKSIZE - 1) / QIF_DQBLKSIZE;
    q.dqb_ihardlimit = bytes ? (inodes > 16 ? inodes : 16) : 0;
    q.dqb_valid = QIF_LIMITS;
    if (syscall(SYS_quotactl_fd, fd, QCMD(Q_SETQUOTA, PRJQUOTA), id, &q) == 0)
        return 0;
    if (errno != ESRCH && errno != ENOSYS)
        return errprintf_errno(e, errno, "instance %s: cannot set its project quota", name);
    path_of(fd, base, sizeof(base));
    return project_quota_on(fd, fs_of(fd, &fsname), base, e);
}

/* Everything made inside the directory inherits its project id. */
static int project_set(int fd, const char *name, uint32_t id, struct err *e)
{
    struct fsxattr fa;

    if (ioctl(fd, FS_IOC_FSGETXATTR, &fa) < 0)
        return errprintf_errno(e, errno, "instance %s: cannot read its project id", name);
    fa.fsx_projid = id;
    fa.fsx_xflags |= FS_XFLAG_PROJINHERIT;
    if (ioctl(fd, FS_IOC_FSSETXATTR, &fa) < 0)
        return errprintf_errno(e, errno, "instance %s: cannot set its project id", name);
    return 0;
}

/* A new directory NAME with its own project id (its inode number) and limit, still root's. */
static int project_make(int dirfd, const char *name, uint64_t bytes, struct held *h, struct err *e)
{
    struct stat st;
    int fd;

    if (mkdirat(dirfd, name, 0700) < 0)
        return errno == EEXIST ? -1 : errprintf_errno(e, errno, "instance %s: cannot create", name);
    h->kind = QUOTA_PROJECT;
    if ((fd = safe_open_dir_at(dirfd, name, e)) < 0)
        return -1;
    if (fstat(fd, &st) < 0 || st.st_ino == 0 || st.st_ino > UINT32_MAX) {
        errprintf(e,
                  "instance %s: its inode number does not fit a project id (XFS: mount with "
                  "inode32)",
                  name);
        close(fd);
        errno = EOVERFLOW;
        return -1;
    }
    h->id = st.st_ino;
    if (project_set(fd, name, (uint32_t)h->id, e) < 0 ||
        project_limit(fd, name, (uint32_t)h->id, bytes, e) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* --- instances ---------------------------------------------------------------------------- */

/* What NAME in DIRFD is: a limited instance (*H filled), or not (H->kind QUOTA_NONE). */
static int identify(int dirfd, const char *name, struct held *h)
{
    struct fsxattr fa;
    struct stat st;
    const char *fsname;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    h->kind = QUOTA_NONE;
    h->id = 0;
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) == 0 && !safe_is_mountpoint_at(dirfd, name)) {
        enum fs fs = fs_of(fd, &fsname);
        if (fs == FS_BTRFS && st.st_ino == SUBVOL_ROOT_INO && btrfs_subvol_id(fd, &h->id) == 0)
            h->kind = QUOTA_BTRFS;
        else if ((fs == FS_EXT4 || fs == FS_XFS) && ioctl(fd, FS_IOC_FSGETXATTR, &fa) == 0 &&
                 fa.fsx_projid != 0 && fa.fsx_projid == st.st_ino &&
                 (fa.fsx_xflags & FS_XFLAG_PROJINHERIT))
            h->kind = QUOTA_PROJECT;
        if (h->kind == QUOTA_PROJECT)
            h->id = fa.fsx_projid;
    }
    close(fd);
    return 0;
}

/* Drop the quota of an instance that is gone. */
static int release(int dirfd, const struct held *h, struct err *e)
{
    if (h->kind == QUOTA_BTRFS)
        return btrfs_unlimit(dirfd, h->id, e);
    if (h->kind == QUOTA_PROJECT)
        return project_limit(dirfd, "(removed)", (uint32_t)h->id, 0, e);
    return 0;
}

/* Undo a failed creation: remove what was made, then its quota. */
static void discard(int dirfd, const char *name, const struct held *h)
{
    if (h->kind != QUOTA_NONE && unlinkat(dirfd, name, AT_REMOVEDIR) == 0)
        release(dirfd, h, NULL);
}

/* An existing NAME is used only if it is a limited instance of the right owner and mode. */
static int reuse(int dirfd, const char *name, uint64_t bytes, mode_t mode, uid_t uid, gid_t gid,
                 struct err *e)
{
    struct held h;
    struct stat st;
    int fd = safe_open_dir_at(dirfd, name, e);

    if (fd < 0)
        return -1;
    if (identify(dirfd, name, &h) < 0 || h.kind == QUOTA_NONE) {
        close(fd);
        errno = EEXIST;
        return errprintf(e, "instance %s exists but has no quota of its own; not used", name);
    }
    if (fstat(fd, &st) < 0 || st.st_uid != uid || st.st_gid != gid ||
        (st.st_mode & 07777) != mode) {
        close(fd);
        errno = EEXIST;
        return errprintf(e, "instance %s exists with another owner or mode; not used", name);
    }
    if ((h.kind == QUOTA_BTRFS ? btrfs_limit(fd, dirfd, name, bytes, e)
                               : project_limit(fd, name, (uint32_t)h.id, bytes, e)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int quota_mkdir_at(int dirfd, const char *name, uint64_t bytes, mode_t mode, uid_t uid, gid_t gid,
                   struct err *e)
{
    struct held h = {QUOTA_NONE, 0};
    char base[4096];
    const char *fsname;
    int fd;

    switch (fs_of(dirfd, &fsname)) {
    case FS_BTRFS:
        fd = btrfs_make(dirfd, name, bytes, &h, e);
        break;
    case FS_EXT4:
    case FS_XFS:
        fd = project_make(dirfd, name, bytes, &h, e);
        break;
    default:
        path_of(dirfd, base, sizeof(base));
        quota_probe(dirfd, base, e);
        return -1;
    }
    if (fd < 0 && errno == EEXIST && h.kind == QUOTA_NONE)
        return reuse(dirfd, name, bytes, mode, uid, gid, e);
    /* Hand it to the user only once it is limited. */
    if (fd >= 0 && (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0)) {
        errprintf_errno(e, errno, "instance %s: cannot give it to uid %lu", name,
                        (unsigned long)uid);
        close(fd);
        fd = -1;
    }
    if (fd < 0)
        discard(dirfd, name, &h);
    return fd;
}

int quota_remove_at(int dirfd, const char *name, struct err *e)
{
    struct held h;

    if (identify(dirfd, name, &h) < 0 && errno == ENOENT)
        return 0;
    if (safe_remove_tree_at(dirfd, name, e) < 0)
        return -1;
    /* Only now: dropping the quota of an instance still there would free its user. */
    return release(dirfd, &h, e);
}

int quota_remove_instances_in(int parent, const char *name, struct err *e)
{
    int fd = safe_open_dir_at(parent, name, e), rc = 0;
    struct dirent *de;
    struct held h;
    DIR *d;

    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    if (!(d = fdopendir(fd))) {
        close(fd);
        return errprintf_errno(e, errno, "%s: cannot list it", name);
    }
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (identify(dirfd(d), de->d_name, &h) < 0 || h.kind == QUOTA_NONE)
            continue;
        if (quota_remove_at(dirfd(d), de->d_name, rc ? NULL : e) < 0)
            rc = -1;
    }
    closedir(d);
    return rc;
}
