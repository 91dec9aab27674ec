/* Root-safe file-system primitives: see fs.h.
 *
 * Errors: -1 with errno set and a message in E. A refusal by policy (wrong owner or mode,
 * not local) sets EPERM; a symlink where a directory is expected ELOOP, another type ENOTDIR;
 * an invalid NAME EINVAL; a mount point inside a tree EBUSY; a directory that changed under
 * us ESTALE.
 *
 * The module's files: create.c (opening the root-owned base, making directories), ident.c
 * (identity, names, queries), resolve.c (walking a path by fd), rmtree.c (removing trees),
 * quota.c (disk quotas for instance directories). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/fs.h"
#include "fs_int.h"

/* ---- owner and mode of a new directory ------------------------------------------------------ */

static const char *const acl_xattrs[] = {"system.posix_acl_access", "system.posix_acl_default"};

/* A default ACL on the parent is inherited, like a umask the other way: it could grant more
 * than MODE says, so a new directory gets none. */
static int drop_acls(int fd)
{
    size_t i;

    for (i = 0; i < 2; i++)
        if (fremovexattr(fd, acl_xattrs[i]) < 0 && errno != ENODATA && errno != ENOTSUP)
            return -1;
    return 0;
}

static bool has_acl(int fd)
{
    size_t i;

    for (i = 0; i < 2; i++)
        if (fgetxattr(fd, acl_xattrs[i], NULL, 0) >= 0)
            return true;
    return false;
}

/* Undo a mkdirat when finishing the directory failed: no side effect on failure. rmdir only
 * takes an empty directory, so this cannot hurt whatever might have replaced ours. */
static void unlink_new_dir(int dirfd, const char *name)
{
    int saved = errno;

    unlinkat(dirfd, name, AT_REMOVEDIR);
    errno = saved;
}

/* Owner first (chown may clear set-id bits), then drop inherited ACLs, then the exact mode. */
static int set_owner_mode(int fd, uid_t uid, gid_t gid, mode_t mode)
{
    if (fchown(fd, uid, gid) < 0 || drop_acls(fd) < 0 || fchmod(fd, mode) < 0)
        return -1;
    return 0;
}

/* ---- safe_open_root_dir --------------------------------------------------------------------- */

/* Only "/a/b/c": "..", ".", "//" or a trailing "/" would hide where the walk ends up. */
static int check_root_path(const char *path, struct err *e)
{
    const char *p;

    errno = EINVAL;
    if (!path || path[0] != '/')
        return errprintf(e, "%s: must be an absolute path", path ? path : "(null)");
    if (!strcmp(path, "/"))
        return errprintf(e, "/: refusing the root directory itself; use a dedicated directory");
    if (strlen(path) >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return errprintf(e, "%.64s...: path too long", path);
    }
    for (p = path + 1;; p = strchr(p, '/') + 1) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return errprintf(e,
                             "%s: not a normalised path (no \".\", \"..\", \"//\" or trailing "
                             "\"/\"); give it as /a/b/c",
                             path);
        if (!p[n])
            return 0;
    }
}

/* Every directory on the way must be root's alone to change, or it could be swapped under us. */
static int check_parent(int fd, const char *shown, const char *path, struct err *e)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return errprintf_errno(e, errno, "%s: cannot stat", shown);
    errno = EPERM;
    if (st.st_uid != 0)
        return errprintf(e, "%s: owned by uid %u, must be owned by root (on the way to %s)", shown,
                         (unsigned)st.st_uid, path);
    if ((st.st_mode & (S_IWOTH | S_ISVTX)) == (S_IWOTH | S_ISVTX))
        return errprintf(e,
                         "%s: world-writable sticky directory (mode %04o) like /tmp; %s must "
                         "not live under it",
                         shown, (unsigned)(st.st_mode & 07777), path);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return errprintf(e,
                         "%s: mode %04o, writable by group or others (on the way to %s); "
                         "chmod go-w",
                         shown, (unsigned)(st.st_mode & 07777), path);
    return 0;
}

/* The end of the walk holds per-job data: root only, and on storage this node controls. */
static int check_final(int fd, const char *path, struct err *e)
{
    struct stat st;
    const char *fs;

    if (fstat(fd, &st) < 0)
        return errprintf_errno(e, errno, "%s: cannot stat", path);
    errno = EPERM;
    if (st.st_uid != 0)
        return errprintf(e, "%s: owned by uid %u, must be owned by root", path,
                         (unsigned)st.st_uid);
    if (st.st_mode & 077)
        return errprintf(e, "%s: mode %04o, must give no access to group and others (chmod 0700)",
                         path, (unsigned)(st.st_mode & 07777));
    if ((fs = safefs_remote_fs_name(fd)))
        return errprintf(e, "%s: on a %s file system; it must be on local storage", path, fs);
    return 0;
}

/* A missing component is made root-owned with MODE; if someone else made it first, the
 * usual checks on the opened directory decide. Mode 0 until chmod: never open to others. */
static int create_component(int fd, const char *comp, const char *shown, mode_t mode, struct err *e)
{
    bool created = mkdirat(fd, comp, 0) == 0;
    int nfd;

    if (!created && errno != EEXIST)
        return errprintf_errno(e, errno, "%s: cannot create", shown);
    nfd = openat(fd, comp, DIR_FLAGS);
    if (nfd < 0) {
        safefs_open_failed(fd, comp, e);
        if (created)
            unlink_new_dir(fd, comp);
        return -1;
    }
    if (created && set_owner_mode(nfd, 0, 0, mode) < 0) {
        int err = errno;
        close(nfd);
        unlink_new_dir(fd, comp);
        errno = err;
        return errprintf_errno(e, err, "%s: cannot set owner and mode", shown);
    }
    return nfd;
}

/* Step from FD into COMP; SHOWN is the path so far, for messages. */
static int open_component(int fd, const char *comp, const char *shown, bool last, bool create,
                          struct err *e)
{
    int nfd = openat(fd, comp, DIR_FLAGS);

    if (nfd >= 0)
        return nfd;
    if (errno == ENOENT && create)
        return create_component(fd, comp, shown, last ? 0700 : 0755, e);
    if (errno == ELOOP || errno == ENOTDIR)
        return safefs_open_failed(fd, comp, e);
    return errprintf_errno(e, errno, "%s: cannot open", shown);
}

int safe_open_root_dir(const char *path, bool create, struct err *e)
{
    char buf[PATH_MAX];
    char *comp, *slash;
    int fd, nfd;

    if (check_root_path(path, e) < 0)
        return -1;
    fd = open("/", DIR_FLAGS);
    if (fd < 0)
        return errprintf_errno(e, errno, "/: cannot open");
    if (check_parent(fd, "/", path, e) < 0)
        goto fail;
    strcpy(buf, path);
    for (comp = buf + 1;; comp = slash + 1) {
        slash = strchr(comp, '/');
        if (slash)
            *slash = '\0'; /* BUF now names the path up to COMP, for messages */
        nfd = open_component(fd, comp, buf, !slash, create, e);
        close(fd);
        fd = nfd;
        if (fd < 0)
            return -1;
        if (!slash)
            break;
        if (check_parent(fd, buf, path, e) < 0)
            goto fail;
        *slash = '/';
    }
    if (check_final(fd, path, e) < 0)
        goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

/* ---- safe_mkdir_at -------------------------------------------------------------------------- */

/* Finish a directory we just made with mode 0: nobody but root can use it until it is right. */
static int finish_new_dir(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid,
                          struct err *e)
{
    char buf[SHOWN_MAX];
    struct stat st;
    int fd = openat(dirfd, name, DIR_FLAGS);

    if (fd < 0) {
        safefs_open_failed(dirfd, name, e);
        unlink_new_dir(dirfd, name);
        return -1;
    }
    if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 0777) != 0) {
        close(fd); /* not the directory we made: leave it alone */
        errno = ESTALE;
        return errprintf(e, "%s: replaced right after it was created; not touched",
                         safefs_where(dirfd, name, buf, sizeof(buf)));
    }
    if (set_owner_mode(fd, uid, gid, mode) < 0) {
        int err = errno;
        close(fd);
        unlink_new_dir(dirfd, name);
        errno = err;
        return errprintf_errno(e, err, "%s: cannot set owner %u:%u and mode %04o",
                               safefs_where(dirfd, name, buf, sizeof(buf)), (unsigned)uid,
                               (unsigned)gid, (unsigned)mode);
    }
    return fd;
}

static bool is_exactly(const struct stat *st, uid_t uid, gid_t gid, mode_t mode)
{
    return st->st_uid == uid && st->st_gid == gid && (st->st_mode & 07777) == mode;
}

/* Say what differs, so that an admin can compare it with what was asked for. */
static int not_reusable(int dirfd, const char *name, const struct stat *st, uid_t uid, gid_t gid,
                        mode_t mode, struct err *e)
{
    char buf[SHOWN_MAX];

    errno = EEXIST;
    if (is_exactly(st, uid, gid, mode))
        return errprintf(e, "%s: already exists with a POSIX ACL; expected mode %04o and no ACL",
                         safefs_where(dirfd, name, buf, sizeof(buf)), (unsigned)mode);
    return errprintf(e,
                     "%s: already exists, owned by uid %u gid %u mode %04o; expected uid %u gid "
                     "%u mode %04o",
                     safefs_where(dirfd, name, buf, sizeof(buf)), (unsigned)st->st_uid,
                     (unsigned)st->st_gid, (unsigned)(st->st_mode & 07777), (unsigned)uid,
                     (unsigned)gid, (unsigned)mode);
}

/* Reuse an existing directory only if it is exactly what we would have made. */
static int open_existing_dir(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid,
                             struct err *e)
{
    char buf[SHOWN_MAX];
    struct stat st;
    int fd = openat(dirfd, name, DIR_FLAGS);

    if (fd < 0) {
        safefs_open_failed(dirfd, name, e);
        if (errno == ELOOP || errno == ENOTDIR)
            errno = EEXIST;
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        int err = errno;
        close(fd);
        return errprintf_errno(e, err, "%s: cannot stat",
                               safefs_where(dirfd, name, buf, sizeof(buf)));
    }
    if (is_exactly(&st, uid, gid, mode) && !has_acl(fd))
        return fd;
    close(fd);
    return not_reusable(dirfd, name, &st, uid, gid, mode, e);
}

int safe_mkdir_at(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid, struct err *e)
{
    char buf[SHOWN_MAX];

    if (safefs_check_name(name, e) < 0)
        return -1;
    if (mode & ~07777) {
        errno = EINVAL;
        return errprintf(e, "%s: invalid mode %o", safefs_where(dirfd, name, buf, sizeof(buf)),
                         (unsigned)mode);
    }
    if (mkdirat(dirfd, name, 0) == 0)
        return finish_new_dir(dirfd, name, mode, uid, gid, e);
    if (errno != EEXIST)
        return errprintf_errno(e, errno, "%s: cannot create",
                               safefs_where(dirfd, name, buf, sizeof(buf)));
    return open_existing_dir(dirfd, name, mode, uid, gid, e);
}
