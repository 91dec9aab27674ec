/* fs: naming things in messages, identity of objects, single components, and file system
 * and mount queries (see fs.h and fs_int.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs/fs.h"
#include "fs_int.h"

/* ---- naming things in messages -------------------------------------------------------------- */

/* Messages show the path behind a descriptor; it is for display only and never reopened. */
const char *safefs_fd_path(int fd, char *buf, size_t size)
{
    int saved = errno;
    char link[64];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = fd == AT_FDCWD ? -1 : readlink(link, buf, size - 1);
    if (n < 0)
        snprintf(buf, size, fd == AT_FDCWD ? "." : "(fd %d)", fd);
    else
        buf[n] = '\0';
    errno = saved;
    return buf;
}

/* "<path of DIRFD>/NAME", for messages about NAME. */
const char *safefs_where(int dirfd, const char *name, char *buf, size_t size)
{
    size_t n;

    safefs_fd_path(dirfd, buf, size);
    n = strlen(buf);
    snprintf(buf + n, size - n, "%s%s", n > 0 && buf[n - 1] == '/' ? "" : "/", name);
    return buf;
}

const char *safefs_kind(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return "regular file";
    case S_IFDIR:
        return "directory";
    case S_IFLNK:
        return "symlink";
    case S_IFIFO:
        return "fifo";
    case S_IFSOCK:
        return "socket";
    case S_IFCHR:
        return "character device";
    case S_IFBLK:
        return "block device";
    default:
        return "special file";
    }
}

/* ---- identity: type, inode and mount of an object ------------------------------------------- */

/* One statx gives type, identity and mount; AT_NO_AUTOMOUNT so that looking never mounts. */
int safefs_ident_at(int fd, const char *name, int flags, struct ident *id)
{
    struct statx sx;

    if (statx(fd, name, flags | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
              STATX_TYPE | STATX_INO | STATX_MNT_ID, &sx) < 0)
        return -1;
    id->mode = sx.stx_mode;
    id->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    id->ino = sx.stx_ino;
    id->has_mnt_id = sx.stx_mask & STATX_MNT_ID;
    id->mnt_id = sx.stx_mnt_id;
    id->mount_root = (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
                     (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
    return 0;
}

int safefs_ident_fd(int fd, struct ident *id)
{
    return safefs_ident_at(fd, "", AT_EMPTY_PATH, id);
}

/* The mount id decides when known: a bind mount of the same file system shares st_dev, and a
 * btrfs subvolume has its own st_dev without being a mount. st_dev is the fallback. */
bool safefs_other_mount(const struct ident *parent, const struct ident *child)
{
    if (child->mount_root)
        return true;
    if (parent->has_mnt_id && child->has_mnt_id)
        return parent->mnt_id != child->mnt_id;
    return parent->dev != child->dev;
}

/* What we opened is what we looked at: nothing was swapped in between. */
bool safefs_same_object(const struct ident *a, const struct ident *b)
{
    if (a->dev != b->dev || a->ino != b->ino || (a->mode & S_IFMT) != (b->mode & S_IFMT))
        return false;
    return !(a->has_mnt_id && b->has_mnt_id && a->mnt_id != b->mnt_id);
}

/* ---- single components ---------------------------------------------------------------------- */

/* A name handed to an *_at function must stay inside DIRFD: exactly one component. */
int safefs_check_name(const char *name, struct err *e)
{
    if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
        errno = EINVAL;
        return errprintf(e,
                         "invalid name \"%s\": must be one path component "
                         "(not empty, no '/', not \".\" or \"..\")",
                         name ? name : "(null)");
    }
    if (strlen(name) > NAME_MAX) {
        errno = ENAMETOOLONG;
        return errprintf(e, "invalid name \"%.40s...\": longer than %d bytes", name, NAME_MAX);
    }
    return 0;
}

/* O_NOFOLLOW|O_DIRECTORY fails alike for a symlink and a file: look, to say which it was. */
int safefs_open_failed(int dirfd, const char *name, struct err *e)
{
    int err = errno;
    char buf[SHOWN_MAX];
    struct stat st;

    if ((err == ELOOP || err == ENOTDIR) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode)) {
            errno = ELOOP;
            return errprintf(e, "%s: is a symlink; refusing to follow it",
                             safefs_where(dirfd, name, buf, sizeof(buf)));
        }
        if (!S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            return errprintf(e, "%s: is a %s, expected a directory",
                             safefs_where(dirfd, name, buf, sizeof(buf)), safefs_kind(st.st_mode));
        }
    }
    errno = err;
    return errprintf_errno(e, err, "%s: cannot open", safefs_where(dirfd, name, buf, sizeof(buf)));
}

int safe_open_dir_at(int dirfd, const char *name, struct err *e)
{
    int fd;

    if (safefs_check_name(name, e) < 0)
        return -1;
    fd = openat(dirfd, name, DIR_FLAGS);
    return fd >= 0 ? fd : safefs_open_failed(dirfd, name, e);
}

/* ---- file system and mount queries ---------------------------------------------------------- */

/* Shared and network file systems: another node, or a user-space server, controls them. */
static const struct {
    unsigned long magic;
    const char *name;
} remote_fs[] = {
    {0x6969, "NFS"},          {0x0BD00BD0, "Lustre"}, {0x47504653, "GPFS"}, {0xFF534D42, "CIFS"},
    {0xFE534D42, "SMB2"},     {0x517B, "SMB"},        {0x00C36400, "Ceph"}, {0x19830326, "BeeGFS"},
    {0x01021997, "9p"},       {0x65735546, "FUSE"},   {0x5346414F, "AFS"},  {0x6B414653, "kAFS"},
    {0x20030528, "OrangeFS"}, {0x73757245, "Coda"},   {0x564C, "NCP"},
};

/* The name of FD's file system if it is a shared one, NULL if local, "unknown" if unsure. */
const char *safefs_remote_fs_name(int fd)
{
    struct statfs sf;
    size_t i;

    if (fstatfs(fd, &sf) < 0)
        return "unknown"; /* cannot tell: do not call it local */
    for (i = 0; i < sizeof(remote_fs) / sizeof(remote_fs[0]); i++)
        if ((uint32_t)sf.f_type == remote_fs[i].magic)
            return remote_fs[i].name;
    return NULL;
}

bool safe_is_local(int fd)
{
    return safefs_remote_fs_name(fd) == NULL;
}

bool safe_is_mountpoint_at(int dirfd, const char *name)
{
    struct ident parent, child;

    if (safefs_check_name(name, NULL) < 0 || safefs_ident_fd(dirfd, &parent) < 0 ||
        safefs_ident_at(dirfd, name, 0, &child) < 0)
        return false;
    return safefs_other_mount(&parent, &child);
}

int safe_unmount_at(int dirfd, const char *name, struct err *e)
{
    char p[64];

    for (int i = 0; i < 16 && safe_is_mountpoint_at(dirfd, name); i++) {
        int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return errprintf_errno(e, errno, "cannot open %s to unmount it", name);
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        int rc = umount2(p, MNT_DETACH);
        close(fd);
        if (rc < 0)
            return errprintf_errno(e, errno, "cannot unmount %s", name);
    }
    return 0;
}
