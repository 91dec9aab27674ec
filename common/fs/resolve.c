/* fs: resolving paths by fd (safe_resolve, safe_check_parents, safe_open_dir_path_at); see fs.h.
 *
 * What a policy names by path (a hidden path, a bind source, a mount target) is opened from "/"
 * one component at a time, each component opened with O_NOFOLLOW and checked on its own fd. A
 * symlink is followed only where no user could have made or swapped it; with
 * SAFE_RESOLVE_STRICT every directory on the way must be one only root may write. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs.h"

#define MAX_SYMLINK_HOPS 40

uint64_t safe_mount_id(int fd)
{
    struct statx stx;

    if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0 || !(stx.stx_mask & STATX_MNT_ID))
        return 0;
    return stx.stx_mnt_id;
}

bool safe_in_mounts(int fd, const struct safe_mounts *m)
{
    uint64_t id = safe_mount_id(fd);

    for (size_t i = 0; id && i < m->n; i++)
        if (m->ids[i] == id)
            return true;
    return false;
}

/* Split off the next component of *REST into COMP; returns false at the end. */
static bool next_component(const char **rest, char *comp, size_t size)
{
    const char *p = *rest, *end;

    while (*p == '/')
        p++;
    if (!*p)
        return false;
    end = strchrnul(p, '/');
    snprintf(comp, size, "%.*s", (int)(end - p), p);
    *rest = end;
    return true;
}

/* A symlink is followed only where no user could have made or swapped it: the link and the
 * directory holding it belong to root, nobody else may write that directory, and it is on local
 * storage (FUSE and network file systems report whatever owner they like). Its text is read from
 * the inode that was checked, so it cannot change in between. The walk continues at that text. */
static int follow_link(int *dirfd, int linkfd, const struct stat *st, const char *comp, char *buf,
                       const char **rest, const char *path, struct err *e)
{
    char target[PATH_MAX], joined[PATH_MAX];
    struct stat dir;
    ssize_t n;

    if (fstat(*dirfd, &dir) < 0)
        return errprintf_errno(e, errno, "%s: cannot check the directory of \"%s\"", path, comp);
    if (st->st_uid != 0 || dir.st_uid != 0 || (dir.st_mode & 022) || !safe_is_local(*dirfd)) {
        errno = EPERM; /* not ENOENT: a refused link is never "nothing to hide" */
        return errprintf(e,
                         "%s: \"%s\" is a symlink a user could have made or changed (link owned "
                         "by uid %lu, in a directory of uid %lu, mode %04o); only root's "
                         "symlinks in root-only local directories are followed: name the real "
                         "path in the policy",
                         path, comp, (unsigned long)st->st_uid, (unsigned long)dir.st_uid,
                         (unsigned)(dir.st_mode & 07777));
    }
    if ((n = readlinkat(linkfd, "", target, sizeof(target) - 1)) < 0)
        return errprintf_errno(e, errno, "%s: cannot read symlink \"%s\"", path, comp);
    target[n] = '\0';
    if (snprintf(joined, sizeof(joined), "%s%s", target, *rest) >= (int)sizeof(joined))
        return errprintf(e, "%s: path too long", path);
    strcpy(buf, joined);
    *rest = buf;
    if (target[0] == '/') {
        int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
            return errprintf_errno(e, errno, "cannot open /");
        close(*dirfd);
        *dirfd = root;
    }
    return 0;
}

/* COMP in DIRFD, opened without following it. With CREATE_IN, a missing COMP is made first
 * (root 0755), but only if DIRFD lies on one of those mounts (the namespace builder's own
 * tmpfs mounts): the plugin never writes to the node's own file systems. */
static int open_component(const struct safe_mounts *create_in, int dirfd, const char *comp,
                          const char *path, struct err *e)
{
    int fd = openat(dirfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT && create_in && safe_in_mounts(dirfd, create_in)) {
        if (mkdirat(dirfd, comp, 0755) < 0 && errno != EEXIST)
            return errprintf_errno(e, errno, "%s: cannot create \"%s\" in the policy's tmpfs", path,
                                   comp);
        fd = openat(dirfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0)
        return errprintf_errno(e, errno, "%s: component \"%s\"", path, comp);
    return fd;
}

/* A hidden path or a bind source is named by its path: whoever may write a directory on the way
 * could rename what it names (mv hidden h2) or put their own tree in its place. So each such
 * directory must be root's and writable by root only, the rule symlinks follow. */
static int check_parent(int dirfd, const char *walked, const char *path, struct err *e)
{
    struct stat st;

    if (fstat(dirfd, &st) < 0)
        return errprintf_errno(e, errno, "%s: cannot check directory %s", path, walked);
    if (st.st_uid == 0 && !(st.st_mode & 022))
        return 0;
    /* chmod go-w is no fix for a shared directory such as /tmp: only moving the path is. */
    bool shared = (st.st_mode & 01002) == 01002;
    errprintf(e,
              "%s: directory %s (owner uid %lu, mode %04o) may be written by users other than "
              "root, who could rename what the policy names or put their own in its place; "
              "%s%s%smove the path under directories only root may write",
              path, walked, (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777),
              shared ? "" : "chown root and chmod go-w ", shared ? "" : walked,
              shared ? "" : ", or ");
    errno = EPERM;
    return -1;
}

/* Keep WALKED (the directory the walk is in, for messages) in step with a move to COMP. */
static void walked_step(char *walked, size_t size, const char *comp)
{
    char *slash = strrchr(walked, '/');
    size_t n = strlen(walked);

    if (strcmp(comp, "..") == 0)
        *(slash && slash != walked ? slash : walked + 1) = '\0';
    else if (strcmp(comp, ".") != 0)
        snprintf(walked + n, size - n, "%s%s", n > 1 ? "/" : "", comp);
}

/* Each component is checked on its own fd. With STRICT, every directory on the way (and the one
 * where a component is missing) must pass check_parent. */
int safe_resolve(const char *path, unsigned flags, const struct safe_mounts *create_in,
                 struct err *e)
{
    char buf[PATH_MAX], comp[NAME_MAX + 1], walked[PATH_MAX] = "/";
    const char *rest = path;
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), hops = 0, next = -1;
    bool strict = flags & SAFE_RESOLVE_STRICT;
    struct stat st;

    if (fd < 0)
        return errprintf_errno(e, errno, "cannot open /");
    while (next_component(&rest, comp, sizeof(comp))) {
        next = open_component(create_in, fd, comp, path, e);
        if (next < 0 || fstat(next, &st) < 0) {
            if (next >= 0)
                errprintf_errno(e, errno, "%s: component \"%s\"", path, comp);
            else if (strict && errno == ENOENT) /* others could create it: that is refused too */
                check_parent(fd, walked, path, e);
            goto fail_next;
        }
        if (S_ISLNK(st.st_mode)) {
            int rc = ++hops > MAX_SYMLINK_HOPS
                         ? errprintf(e, "%s: too many symlinks", path)
                         : follow_link(&fd, next, &st, comp, buf, &rest, path, e);
            close(next);
            if (rc < 0)
                goto fail;
            if (*rest == '/' && rest == buf)
                snprintf(walked, sizeof(walked), "/");
            continue;
        }
        /* A symlink's directory was checked by follow_link, by the same rule and more. */
        if (strict && check_parent(fd, walked, path, e) < 0)
            goto fail_next;
        close(fd);
        fd = next;
        walked_step(walked, sizeof(walked), comp);
    }
    return fd;
fail_next:
    if (next >= 0)
        close(next);
fail:
    close(fd);
    return -1;
}

int safe_check_parents(const char *path, struct err *e)
{
    int fd = safe_resolve(path, SAFE_RESOLVE_STRICT, NULL, e);

    if (fd >= 0)
        close(fd);
    return fd >= 0 || errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

int safe_open_dir_path_at(int dirfd, const char *rel, struct err *e)
{
    char comp[NAME_MAX + 1];
    const char *rest = rel;
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);

    while (fd >= 0 && next_component(&rest, comp, sizeof(comp))) {
        int next = safe_open_dir_at(fd, comp, e);
        close(fd);
        fd = next;
    }
    return fd;
}
