/* Root-safe file-system primitives: see safefs.h.
 *
 * Errors: -1 with errno set and a message in E. A refusal by policy (wrong owner or mode,
 * not local) sets EPERM; a symlink where a directory is expected ELOOP, another type ENOTDIR;
 * an invalid NAME EINVAL; a mount point inside a tree EBUSY; a directory that changed under
 * us ESTALE; a tree deeper than WALK_MAX_DEPTH ELOOP. */
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

#include "safefs.h"

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define SHOWN_MAX (PATH_MAX + NAME_MAX + 2)

/* ---- naming things in messages -------------------------------------------------------------- */

/* Messages show the path behind a descriptor; it is for display only and never reopened. */
static const char *fd_path(int fd, char *buf, size_t size)
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
static const char *where(int dirfd, const char *name, char *buf, size_t size)
{
    size_t n;

    fd_path(dirfd, buf, size);
    n = strlen(buf);
    snprintf(buf + n, size - n, "%s%s", n > 0 && buf[n - 1] == '/' ? "" : "/", name);
    return buf;
}

static const char *kind(mode_t mode)
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

struct ident {
    mode_t mode;
    dev_t dev;
    ino_t ino;
    uint64_t mnt_id;
    bool has_mnt_id; /* STATX_MNT_ID needs Linux >= 5.8; without it we compare st_dev only */
    bool mount_root; /* STATX_ATTR_MOUNT_ROOT, when the kernel reports it */
};

/* One statx gives type, identity and mount; AT_NO_AUTOMOUNT so that looking never mounts. */
static int ident_at(int fd, const char *name, int flags, struct ident *id)
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

static int ident_fd(int fd, struct ident *id)
{
    return ident_at(fd, "", AT_EMPTY_PATH, id);
}

/* The mount id decides when known: a bind mount of the same file system shares st_dev, and a
 * btrfs subvolume has its own st_dev without being a mount. st_dev is the fallback. */
static bool other_mount(const struct ident *parent, const struct ident *child)
{
    if (child->mount_root)
        return true;
    if (parent->has_mnt_id && child->has_mnt_id)
        return parent->mnt_id != child->mnt_id;
    return parent->dev != child->dev;
}

/* What we opened is what we looked at: nothing was swapped in between. */
static bool same_object(const struct ident *a, const struct ident *b)
{
    if (a->dev != b->dev || a->ino != b->ino || (a->mode & S_IFMT) != (b->mode & S_IFMT))
        return false;
    return !(a->has_mnt_id && b->has_mnt_id && a->mnt_id != b->mnt_id);
}

/* ---- single components ---------------------------------------------------------------------- */

/* A name handed to an *_at function must stay inside DIRFD: exactly one component. */
static int check_name(const char *name, struct err *e)
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
static int open_failed(int dirfd, const char *name, struct err *e)
{
    int err = errno;
    char buf[SHOWN_MAX];
    struct stat st;

    if ((err == ELOOP || err == ENOTDIR) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode)) {
            errno = ELOOP;
            return errprintf(e, "%s: is a symlink; refusing to follow it",
                             where(dirfd, name, buf, sizeof(buf)));
        }
        if (!S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            return errprintf(e, "%s: is a %s, expected a directory",
                             where(dirfd, name, buf, sizeof(buf)), kind(st.st_mode));
        }
    }
    errno = err;
    return errprintf_errno(e, err, "%s: cannot open", where(dirfd, name, buf, sizeof(buf)));
}

int safe_open_dir_at(int dirfd, const char *name, struct err *e)
{
    int fd;

    if (check_name(name, e) < 0)
        return -1;
    fd = openat(dirfd, name, DIR_FLAGS);
    return fd >= 0 ? fd : open_failed(dirfd, name, e);
}

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

static const char *remote_fs_name(int fd);

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
    if ((fs = remote_fs_name(fd)))
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
        open_failed(fd, comp, e);
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
        return open_failed(fd, comp, e);
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
        open_failed(dirfd, name, e);
        unlink_new_dir(dirfd, name);
        return -1;
    }
    if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 0777) != 0) {
        close(fd); /* not the directory we made: leave it alone */
        errno = ESTALE;
        return errprintf(e, "%s: replaced right after it was created; not touched",
                         where(dirfd, name, buf, sizeof(buf)));
    }
    if (set_owner_mode(fd, uid, gid, mode) < 0) {
        int err = errno;
        close(fd);
        unlink_new_dir(dirfd, name);
        errno = err;
        return errprintf_errno(e, err, "%s: cannot set owner %u:%u and mode %04o",
                               where(dirfd, name, buf, sizeof(buf)), (unsigned)uid, (unsigned)gid,
                               (unsigned)mode);
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
                         where(dirfd, name, buf, sizeof(buf)), (unsigned)mode);
    return errprintf(e,
                     "%s: already exists, owned by uid %u gid %u mode %04o; expected uid %u gid "
                     "%u mode %04o",
                     where(dirfd, name, buf, sizeof(buf)), (unsigned)st->st_uid,
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
        open_failed(dirfd, name, e);
        if (errno == ELOOP || errno == ENOTDIR)
            errno = EEXIST;
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        int err = errno;
        close(fd);
        return errprintf_errno(e, err, "%s: cannot stat", where(dirfd, name, buf, sizeof(buf)));
    }
    if (is_exactly(&st, uid, gid, mode) && !has_acl(fd))
        return fd;
    close(fd);
    return not_reusable(dirfd, name, &st, uid, gid, mode, e);
}

int safe_mkdir_at(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid, struct err *e)
{
    char buf[SHOWN_MAX];

    if (check_name(name, e) < 0)
        return -1;
    if (mode & ~07777) {
        errno = EINVAL;
        return errprintf(e, "%s: invalid mode %o", where(dirfd, name, buf, sizeof(buf)),
                         (unsigned)mode);
    }
    if (mkdirat(dirfd, name, 0) == 0)
        return finish_new_dir(dirfd, name, mode, uid, gid, e);
    if (errno != EEXIST)
        return errprintf_errno(e, errno, "%s: cannot create", where(dirfd, name, buf, sizeof(buf)));
    return open_existing_dir(dirfd, name, mode, uid, gid, e);
}

/* ---- the tree walk: safe_remove_tree_at and safe_empty_dir ----------------------------------
 *
 * Depth strategy. The walk is an explicit stack with one level per directory on the current
 * path: its name, its identity (dev, inode, mount id) and, while open, a DIR stream. One fd
 * per level would run out of descriptors (the soft limit is often 1024) long before a hostile
 * tree runs out of depth, so at most 1 + WALK_ANCHORS + WALK_FDS levels are open: the top of
 * the walk, the WALK_FDS deepest levels (the window), and "anchors" every STRIDE levels above
 * the window (STRIDE doubles whenever there would be more than WALK_ANCHORS of them).
 * Coming back up to a closed level reopens it by name from the anchor just above it, never
 * through "..": each step is openat(O_NOFOLLOW) relative to a checked fd and must land on the
 * recorded identity, so the walk can never leave the tree. That costs at most STRIDE opens per
 * WALK_FDS levels climbed, about one extra open per level up to 4096 levels deep.
 * A reopened directory is read again from its start; entries that could not be removed are
 * remembered per level and skipped, so every pass makes progress. If a reopen finds something
 * else (the tree was renamed under us), that part is left in place and reported.
 * Directories deeper than WALK_MAX_DEPTH are not entered (no program can even name them by
 * path, so only a hostile user makes them): they and their parents are left in place and
 * reported as "tree deeper than N levels", which bounds the time an epilog can be held. */

#define WALK_FDS 64
#define WALK_ANCHORS 64
#define WALK_MAX_DEPTH 16384
#define STR_(x) #x
#define STR(x) STR_(x)

struct failed {
    struct failed *next;
    char name[];
};

struct level {
    DIR *dir;              /* NULL while closed to spare descriptors */
    char *name;            /* in the parent level; NULL at the top of the walk */
    struct ident id;       /* what was opened, so that a reopen can be checked */
    struct failed *failed; /* entries left in place, skipped when read again */
    bool incomplete;       /* something in it stays, so it cannot be removed */
};

struct walk {
    struct level *lv;
    size_t depth, size; /* levels in use, levels allocated */
    size_t lo;          /* open: level 0, anchors (multiples of stride) below lo, lo .. depth-1 */
    size_t stride;      /* anchor spacing, a power of two */
    int label_fd;       /* messages name entries from "<label_fd>/<label_name>" */
    const char *label_name;
    struct err *e;
    int error; /* errno of the first failure, 0 if none */
    bool abort;
};

/* The top of the walk, as messages name it. */
static void walk_label(const struct walk *w, char *buf, size_t size)
{
    if (w->label_name)
        where(w->label_fd, w->label_name, buf, size);
    else
        fd_path(w->label_fd, buf, size);
}

/* Name an entry by its path; very deep ones keep their head and tail. */
static void walk_path(const struct walk *w, size_t t, const char *name, char *buf, size_t size)
{
    char tail[512];
    size_t pos = sizeof(tail) - 1, i;
    bool cut = false;

    tail[pos] = '\0';
    for (i = t + 1; i > 0; i--) {
        const char *c = i == t + 1 ? name : w->lv[i].name;
        size_t n;
        if (!c)
            continue;
        n = strlen(c) + 1;
        if (n > pos) {
            cut = true;
            break;
        }
        pos -= n;
        tail[pos] = '/';
        memcpy(tail + pos + 1, c, n - 1);
    }
    walk_label(w, buf, size);
    i = strlen(buf);
    snprintf(buf + i, size - i, "%s%s", cut ? "/..." : "", tail + pos);
}

/* Keep the first failure: later ones are usually its consequences. */
static void walk_error(struct walk *w, size_t t, const char *name, int err, const char *what,
                       bool explain)
{
    char path[768];

    if (w->error)
        return;
    w->error = err;
    walk_path(w, t, name, path, sizeof(path));
    if (explain)
        errprintf_errno(w->e, err, "%s: %s", path, what);
    else
        errprintf(w->e, "%s: %s", path, what);
}

/* NAME in level T stays: remember it, so that reading the level again skips it. */
static void keep_entry(struct walk *w, size_t t, const char *name)
{
    struct level *l = &w->lv[t];
    size_t n = strlen(name) + 1;
    struct failed *f = malloc(sizeof(*f) + n);

    l->incomplete = true;
    if (!f) {
        w->abort = true; /* could not remember it: stop rather than loop */
        walk_error(w, t, name, ENOMEM, "cannot remember an entry left in place", true);
        return;
    }
    memcpy(f->name, name, n);
    f->next = l->failed;
    l->failed = f;
}

/* NAME in level T stays because of an error: report it (the first one wins) and keep it. */
static int entry_failed(struct walk *w, size_t t, const char *name, int err, const char *what,
                        bool explain)
{
    walk_error(w, t, name, err, what, explain);
    keep_entry(w, t, name);
    return 0;
}

static bool is_failed(const struct level *l, const char *name)
{
    const struct failed *f;

    for (f = l->failed; f; f = f->next)
        if (!strcmp(f->name, name))
            return true;
    return false;
}

static void level_close(struct level *l)
{
    if (l->dir)
        closedir(l->dir);
    l->dir = NULL;
}

static void level_free(struct level *l)
{
    while (l->failed) {
        struct failed *f = l->failed;
        l->failed = f->next;
        free(f);
    }
    level_close(l);
    free(l->name);
    l->name = NULL;
}

/* Past WALK_FDS levels the shallowest one leaves the window: it stays open only on the stride,
 * and the stride doubles when that would make more than WALK_ANCHORS anchors. */
static void walk_evict(struct walk *w)
{
    size_t i;

    if (w->depth - w->lo <= WALK_FDS)
        return;
    if (w->lo % w->stride)
        level_close(&w->lv[w->lo]);
    w->lo++;
    if ((w->lo - 1) / w->stride <= WALK_ANCHORS)
        return;
    for (i = w->stride; i < w->lo; i += 2 * w->stride)
        level_close(&w->lv[i]);
    w->stride *= 2;
}

/* Add the directory open on D as the new top. */
static int walk_push(struct walk *w, DIR *d, const char *name, const struct ident *id)
{
    char *copy = NULL;

    if (w->depth == w->size) {
        size_t size = w->size ? 2 * w->size : 64;
        struct level *lv = realloc(w->lv, size * sizeof(*lv));
        if (!lv)
            return -1;
        w->lv = lv;
        w->size = size;
    }
    if (name && !(copy = strdup(name)))
        return -1;
    w->lv[w->depth++] = (struct level){.dir = d, .name = copy, .id = *id};
    walk_evict(w);
    return 0;
}

/* Open level L again from its parent's PFD; it must be the very directory we left. */
static int reopen_level(int pfd, const struct level *l)
{
    struct ident id;
    int fd = openat(pfd, l->name, DIR_FLAGS);

    if (fd >= 0 && (ident_fd(fd, &id) < 0 || !same_object(&id, &l->id))) {
        close(fd);
        errno = ESTALE;
        return -1;
    }
    return fd;
}

/* Reopen levels A+1 .. UPTO, each from the one above it; those from KEEP on get a DIR, the
 * others are closed once the next one is open. Returns the first level that failed (errno
 * set, and the level above it open if possible), or UPTO+1. */
static size_t reopen_chain(struct walk *w, size_t a, size_t upto, size_t keep)
{
    int pfd = dirfd(w->lv[a].dir), raw = -1, err;
    size_t j;

    for (j = a + 1; j <= upto; j++) {
        int fd = reopen_level(pfd, &w->lv[j]);
        if (fd < 0)
            break;
        if (j >= keep && !(w->lv[j].dir = fdopendir(fd))) {
            close(fd);
            break;
        }
        if (raw >= 0)
            close(raw);
        raw = j >= keep ? -1 : fd;
        pfd = fd;
    }
    if (raw < 0)
        return j;
    err = errno; /* failed below a level held only by RAW: that level is the new top */
    if (!(w->lv[j - 1].dir = fdopendir(raw)))
        close(raw);
    errno = err;
    return j;
}

/* Reopen the closed levels down to UPTO from the anchor above them, keeping the deepest
 * WALK_FDS open. If one is gone or is not what it was, it and everything below it stay. */
static bool walk_reopen(struct walk *w, size_t upto)
{
    size_t a = upto / w->stride * w->stride;
    size_t j = reopen_chain(w, a, upto, upto >= WALK_FDS ? upto + 1 - WALK_FDS : 1);

    for (w->lo = j; w->lo - 1 > a && w->lv[w->lo - 1].dir; w->lo--)
        ; /* the window: the open levels just above J */
    if (j > upto)
        return true;
    if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR || errno == ESTALE)
        entry_failed(w, j - 1, w->lv[j].name, ESTALE,
                     "moved or replaced while being removed; left in place", false);
    else
        entry_failed(w, j - 1, w->lv[j].name, errno, "cannot open it again", true);
    while (w->depth > j)
        level_free(&w->lv[--w->depth]);
    if (!w->lv[j - 1].dir)
        w->abort = true; /* its parent could not be kept open either: stop here */
    return false;
}

/* The directory on top is done: remove it from its parent, unless something in it stays. */
static void walk_pop(struct walk *w)
{
    size_t t = w->depth - 1;
    struct level *l, *p;

    level_close(&w->lv[t]);
    if (t > 0 && !w->lv[t - 1].dir && !walk_reopen(w, t - 1))
        return;
    if (t > 0) {
        l = &w->lv[t];
        p = &w->lv[t - 1];
        if (l->incomplete)
            keep_entry(w, t - 1, l->name);
        else if (unlinkat(dirfd(p->dir), l->name, AT_REMOVEDIR) < 0 && errno != ENOENT)
            entry_failed(w, t - 1, l->name, errno, "cannot remove", true);
    }
    level_free(&w->lv[t]);
    w->depth = t;
    if (w->lo > t)
        w->lo = t;
}

/* Open the subdirectory NAME of level T, check it is what we looked at, and push it. */
static int walk_descend(struct walk *w, size_t t, const char *name, const struct ident *id)
{
    struct ident got;
    DIR *d;
    int fd = openat(dirfd(w->lv[t].dir), name, DIR_FLAGS);

    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
        return entry_failed(w, t, name, ESTALE, "replaced while being removed; not entered", false);
    if (fd < 0)
        return entry_failed(w, t, name, errno, "cannot open", true);
    if (ident_fd(fd, &got) < 0 || !same_object(&got, id)) {
        close(fd);
        return entry_failed(w, t, name, ESTALE, "replaced while being removed; not entered", false);
    }
    if (!(d = fdopendir(fd))) {
        int err = errno;
        close(fd);
        return entry_failed(w, t, name, err, "cannot read", true);
    }
    if (walk_push(w, d, name, &got) < 0) {
        closedir(d);
        w->abort = true;
        walk_error(w, t, name, ENOMEM, "cannot remember the path", true);
        return 0;
    }
    return 1;
}

/* Remove the entry NAME of level T, or push it if it is a directory to empty first. */
static int walk_entry(struct walk *w, size_t t, const char *name, unsigned char type)
{
    int fd = dirfd(w->lv[t].dir);
    struct ident id;

    /* d_type spares a statx per file; unlinkat(0) never follows and refuses directories */
    if (type != DT_DIR && type != DT_UNKNOWN) {
        if (unlinkat(fd, name, 0) == 0 || errno == ENOENT)
            return 0;
        if (errno != EISDIR)
            return entry_failed(w, t, name, errno, "cannot remove", true);
    }
    if (ident_at(fd, name, 0, &id) < 0)
        return errno == ENOENT ? 0 : entry_failed(w, t, name, errno, "cannot stat", true);
    if (!S_ISDIR(id.mode)) {
        if (unlinkat(fd, name, 0) == 0 || errno == ENOENT)
            return 0;
        return entry_failed(w, t, name, errno, "cannot remove", true);
    }
    if (other_mount(&w->lv[t].id, &id))
        return entry_failed(w, t, name, EBUSY, "is a mount point; not entered", false);
    if (w->depth >= WALK_MAX_DEPTH)
        return entry_failed(w, t, name, ELOOP,
                            "tree deeper than " STR(WALK_MAX_DEPTH) " levels; not entered", false);
    return walk_descend(w, t, name, &id);
}

/* Work through the directory on top until it is read to the end (0) or a subdirectory was
 * pushed (1). */
static int walk_step(struct walk *w)
{
    size_t t = w->depth - 1;
    struct dirent *de;

    for (;;) {
        errno = 0;
        de = readdir(w->lv[t].dir);
        if (!de)
            break;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            is_failed(&w->lv[t], de->d_name))
            continue;
        if (walk_entry(w, t, de->d_name, de->d_type) > 0)
            return 1;
        if (w->abort)
            return 0;
    }
    if (errno) {
        walk_error(w, t, NULL, errno, "cannot read the directory", true);
        w->lv[t].incomplete = true;
    }
    return 0;
}

/* Empty the directory open on FD (taken over), which is ID; messages name it from LABEL_FD
 * and LABEL_NAME. */
static int walk_tree(int fd, const struct ident *id, int label_fd, const char *label_name,
                     struct err *e)
{
    struct walk w = {
        .lo = 1, .stride = WALK_FDS, .label_fd = label_fd, .label_name = label_name, .e = e};
    DIR *d = fdopendir(fd);

    if (!d || walk_push(&w, d, NULL, id) < 0) {
        int err = errno;
        char buf[SHOWN_MAX];
        if (d)
            closedir(d);
        else
            close(fd);
        free(w.lv);
        walk_label(&w, buf, sizeof(buf));
        return errprintf_errno(e, err, "%s: cannot read", buf);
    }
    while (w.depth > 0 && !w.abort)
        if (walk_step(&w) == 0)
            walk_pop(&w);
    while (w.depth > 0)
        level_free(&w.lv[--w.depth]);
    free(w.lv);
    errno = w.error;
    return w.error ? -1 : 0;
}

int safe_empty_dir(int fd, struct err *e)
{
    char buf[SHOWN_MAX];
    struct ident id;
    int nfd;

    if (ident_fd(fd, &id) < 0)
        return errprintf_errno(e, errno, "%s: cannot stat", fd_path(fd, buf, sizeof(buf)));
    if (!S_ISDIR(id.mode)) {
        errno = ENOTDIR;
        return errprintf(e, "%s: is a %s, expected a directory", fd_path(fd, buf, sizeof(buf)),
                         kind(id.mode));
    }
    /* a new open file description: reading it must not move the caller's offset */
    nfd = openat(fd, ".", DIR_FLAGS);
    if (nfd < 0)
        return errprintf_errno(e, errno, "%s: cannot open", fd_path(fd, buf, sizeof(buf)));
    return walk_tree(nfd, &id, fd, NULL, e);
}

/* NAME in DIRFD is the directory ID: empty it through its own fd, then remove it. */
static int remove_dir_at(int dirfd, const char *name, const struct ident *id, struct err *e)
{
    char buf[SHOWN_MAX];
    struct ident got;
    int fd = openat(dirfd, name, DIR_FLAGS);

    if (fd < 0)
        return errno == ENOENT ? 0 : open_failed(dirfd, name, e);
    if (ident_fd(fd, &got) < 0 || !same_object(&got, id)) {
        close(fd);
        errno = ESTALE;
        return errprintf(e, "%s: replaced while being removed; not entered",
                         where(dirfd, name, buf, sizeof(buf)));
    }
    if (walk_tree(fd, &got, dirfd, name, e) < 0)
        return -1;
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return errprintf_errno(e, errno, "%s: cannot remove", where(dirfd, name, buf, sizeof(buf)));
    return 0;
}

int safe_remove_tree_at(int dirfd, const char *name, struct err *e)
{
    char buf[SHOWN_MAX];
    struct ident parent, id;

    if (check_name(name, e) < 0)
        return -1;
    if (ident_fd(dirfd, &parent) < 0)
        return errprintf_errno(e, errno, "%s: cannot stat", fd_path(dirfd, buf, sizeof(buf)));
    if (ident_at(dirfd, name, 0, &id) < 0) {
        if (errno == ENOENT)
            return 0;
        return errprintf_errno(e, errno, "%s: cannot stat", where(dirfd, name, buf, sizeof(buf)));
    }
    if (!S_ISDIR(id.mode)) { /* a symlink is removed, never followed */
        if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
            return 0;
        return errprintf_errno(e, errno, "%s: cannot remove", where(dirfd, name, buf, sizeof(buf)));
    }
    if (other_mount(&parent, &id)) {
        errno = EBUSY;
        return errprintf(e, "%s: is a mount point; not entered",
                         where(dirfd, name, buf, sizeof(buf)));
    }
    return remove_dir_at(dirfd, name, &id, e);
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
static const char *remote_fs_name(int fd)
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
    return remote_fs_name(fd) == NULL;
}

bool safe_is_mountpoint_at(int dirfd, const char *name)
{
    struct ident parent, child;

    if (check_name(name, NULL) < 0 || ident_fd(dirfd, &parent) < 0 ||
        ident_at(dirfd, name, 0, &child) < 0)
        return false;
    return other_mount(&parent, &child);
}
