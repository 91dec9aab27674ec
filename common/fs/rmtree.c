/* fs: removing trees (safe_remove_tree_at, safe_empty_dir) and setting aside what stays
 * (safe_set_aside_at); see fs.h.
 *
 * The walk is an explicit stack with one level per directory on the current path: its name in
 * its parent, its identity (dev, inode, mount id) and an open DIR stream. A user can make a tree
 * of any depth, and one descriptor per level would run out long before the tree does, so at
 * most WALK_DEPTH levels are open: a subdirectory found at the deepest level is not entered but
 * moved up, with renameat2(RENAME_NOREPLACE), to a fresh name in the top directory of the walk
 * (MOVED_FMT), and those names are worked through once the top directory has been read. The
 * walk never leaves the one mount it started on, so a move never crosses a mount, and a mount
 * point is neither entered nor moved.
 * So every directory is opened once, read once from its start to its end and never again (no
 * reopening by name, no re-reading): time is O(entries) for a wide tree as for a deep one, with
 * at most WALK_DEPTH + 1 descriptors and memory for one name per moved subtree.
 * Nothing is followed: non-directories are removed with unlinkat (a symlink is removed, never
 * followed), subdirectories are opened with O_NOFOLLOW relative to their parent's fd and must
 * be the object statx saw. What cannot be removed stays with its parents and the walk goes on;
 * the first failure is reported. After a move, those parents are the ones below the moved name:
 * what stays of a deep tree is short. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs.h"
#include "fs_int.h"

#define WALK_DEPTH 64
#define MOVED_FMT ".rm-deep.%lu"
#define SET_ASIDE_TRIES 100

struct level {
    DIR *dir;
    struct ident id;         /* what was opened: a mount is never entered from it */
    bool incomplete;         /* something in it stays, so it cannot be removed */
    char name[NAME_MAX + 1]; /* in the parent level; "" at the top of the walk */
};

struct walk {
    struct level lv[WALK_DEPTH];
    size_t depth;            /* levels in use */
    unsigned long *moved;    /* MOVED_FMT serials in the top directory, still to remove */
    size_t nmoved, capacity; /* of MOVED */
    unsigned long serial;    /* the next fresh MOVED_FMT name to try */
    int label_fd;            /* messages name entries from "<label_fd>/<label_name>" */
    const char *label_name;
    struct err *e;
    int error; /* errno of the first failure, 0 if none */
};

/* The top of the walk, as messages name it. */
static void walk_label(const struct walk *w, char *buf, size_t size)
{
    if (w->label_name)
        safefs_where(w->label_fd, w->label_name, buf, size);
    else
        safefs_fd_path(w->label_fd, buf, size);
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

/* NAME in level T stays because of an error: report it (the first one wins); so does level T. */
static int entry_failed(struct walk *w, size_t t, const char *name, int err, const char *what,
                        bool explain)
{
    walk_error(w, t, name, err, what, explain);
    w->lv[t].incomplete = true;
    return 0;
}

/* Room for one more moved name, before moving: a move is never forgotten. */
static int moved_reserve(struct walk *w)
{
    size_t capacity = w->capacity ? 2 * w->capacity : 64;
    unsigned long *moved;

    if (w->nmoved < w->capacity)
        return 0;
    if (!(moved = realloc(w->moved, capacity * sizeof(*moved))))
        return -1;
    w->moved = moved;
    w->capacity = capacity;
    return 0;
}

/* NAME in level T is a directory too deep to enter from here: move it to a fresh name in the
 * top directory, to be removed from there. RENAME_NOREPLACE: nothing there is ever replaced. */
static int move_up(struct walk *w, size_t t, const char *name)
{
    char fresh[32];

    if (moved_reserve(w) < 0)
        return entry_failed(w, t, name, ENOMEM, "cannot remember a subtree moved up", true);
    for (;; w->serial++) {
        snprintf(fresh, sizeof(fresh), MOVED_FMT, w->serial);
        if (renameat2(dirfd(w->lv[t].dir), name, dirfd(w->lv[0].dir), fresh, RENAME_NOREPLACE) == 0)
            break;
        if (errno == ENOENT)
            return 0;
        if (errno != EEXIST)
            return entry_failed(w, t, name, errno,
                                "too deep to enter here and cannot be moved up; left in place",
                                true);
    }
    w->moved[w->nmoved++] = w->serial++;
    return 0;
}

/* Open the subdirectory NAME of level T, check it is what we looked at, and push it. */
static int walk_descend(struct walk *w, size_t t, const char *name, const struct ident *id)
{
    struct level *l = &w->lv[t + 1];
    struct ident got;
    DIR *d;
    int fd = openat(dirfd(w->lv[t].dir), name, DIR_FLAGS);

    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
        return entry_failed(w, t, name, ESTALE, "replaced while being removed; not entered", false);
    if (fd < 0)
        return entry_failed(w, t, name, errno, "cannot open", true);
    if (safefs_ident_fd(fd, &got) < 0 || !safefs_same_object(&got, id)) {
        close(fd);
        return entry_failed(w, t, name, ESTALE, "replaced while being removed; not entered", false);
    }
    if (!(d = fdopendir(fd))) {
        int err = errno;
        close(fd);
        return entry_failed(w, t, name, err, "cannot read", true);
    }
    *l = (struct level){.dir = d, .id = got};
    snprintf(l->name, sizeof(l->name), "%s", name);
    w->depth = t + 2;
    return 1;
}

/* Remove the entry NAME of level T, or push it if it is a directory to empty first (1). */
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
    if (safefs_ident_at(fd, name, 0, &id) < 0)
        return errno == ENOENT ? 0 : entry_failed(w, t, name, errno, "cannot stat", true);
    if (!S_ISDIR(id.mode)) {
        if (unlinkat(fd, name, 0) == 0 || errno == ENOENT)
            return 0;
        return entry_failed(w, t, name, errno, "cannot remove", true);
    }
    if (safefs_other_mount(&w->lv[t].id, &id))
        return entry_failed(w, t, name, EBUSY, "is a mount point; not entered", false);
    if (t + 1 == WALK_DEPTH)
        return move_up(w, t, name);
    return walk_descend(w, t, name, &id);
}

/* The top directory has been read: go on with the subtrees moved up to it, one at a time. A
 * name also seen by readdir is already gone (ENOENT) or had its error reported. */
static int walk_moved(struct walk *w)
{
    char name[32];

    while (w->nmoved > 0) {
        snprintf(name, sizeof(name), MOVED_FMT, w->moved[--w->nmoved]);
        if (walk_entry(w, 0, name, DT_UNKNOWN) > 0)
            return 1;
    }
    return 0;
}

/* Work through the directory on top until it is read to the end (0) or a subdirectory was
 * pushed (1). */
static int walk_step(struct walk *w)
{
    size_t t = w->depth - 1;
    struct dirent *de;

    for (;;) {
        errno = 0;
        if (!(de = readdir(w->lv[t].dir)))
            break;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (walk_entry(w, t, de->d_name, de->d_type) > 0)
            return 1;
    }
    if (errno) {
        walk_error(w, t, NULL, errno, "cannot read the directory", true);
        w->lv[t].incomplete = true;
    }
    return t == 0 ? walk_moved(w) : 0;
}

/* The directory on top is done: remove it from its parent, unless something in it stays. */
static void walk_pop(struct walk *w)
{
    size_t t = --w->depth;
    struct level *l = &w->lv[t];

    closedir(l->dir);
    l->dir = NULL;
    if (t == 0)
        return;
    if (l->incomplete)
        w->lv[t - 1].incomplete = true;
    else if (unlinkat(dirfd(w->lv[t - 1].dir), l->name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        entry_failed(w, t - 1, l->name, errno, "cannot remove", true);
}

/* Empty the directory open on FD (taken over), which is ID; messages name it from LABEL_FD
 * and LABEL_NAME. */
static int walk_tree(int fd, const struct ident *id, int label_fd, const char *label_name,
                     struct err *e)
{
    struct walk *w = calloc(1, sizeof(*w));
    DIR *d = w ? fdopendir(fd) : NULL;
    int err;

    if (!d) {
        char buf[SHOWN_MAX];
        err = w ? errno : ENOMEM;
        close(fd);
        free(w);
        safefs_fd_path(label_fd, buf, sizeof(buf));
        return errprintf_errno(e, err, "%s%s%s: cannot read", buf, label_name ? "/" : "",
                               label_name ? label_name : "");
    }
    w->label_fd = label_fd;
    w->label_name = label_name;
    w->e = e;
    w->lv[0].dir = d;
    w->lv[0].id = *id;
    w->depth = 1;
    while (w->depth > 0)
        if (walk_step(w) == 0)
            walk_pop(w);
    err = w->error;
    free(w->moved);
    free(w);
    errno = err;
    return err ? -1 : 0;
}

int safe_empty_dir(int fd, struct err *e)
{
    char buf[SHOWN_MAX];
    struct ident id;
    int nfd;

    if (safefs_ident_fd(fd, &id) < 0)
        return errprintf_errno(e, errno, "%s: cannot stat", safefs_fd_path(fd, buf, sizeof(buf)));
    if (!S_ISDIR(id.mode)) {
        errno = ENOTDIR;
        return errprintf(e, "%s: is a %s, expected a directory",
                         safefs_fd_path(fd, buf, sizeof(buf)), safefs_kind(id.mode));
    }
    /* a new open file description: reading it must not move the caller's offset */
    nfd = openat(fd, ".", DIR_FLAGS);
    if (nfd < 0)
        return errprintf_errno(e, errno, "%s: cannot open", safefs_fd_path(fd, buf, sizeof(buf)));
    return walk_tree(nfd, &id, fd, NULL, e);
}

/* NAME in DIRFD is the directory ID: empty it through its own fd, then remove it. */
static int remove_dir_at(int dirfd, const char *name, const struct ident *id, struct err *e)
{
    char buf[SHOWN_MAX];
    struct ident got;
    int fd = openat(dirfd, name, DIR_FLAGS);

    if (fd < 0)
        return errno == ENOENT ? 0 : safefs_open_failed(dirfd, name, e);
    if (safefs_ident_fd(fd, &got) < 0 || !safefs_same_object(&got, id)) {
        close(fd);
        errno = ESTALE;
        return errprintf(e, "%s: replaced while being removed; not entered",
                         safefs_where(dirfd, name, buf, sizeof(buf)));
    }
    if (walk_tree(fd, &got, dirfd, name, e) < 0)
        return -1;
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return errprintf_errno(e, errno, "%s: cannot remove",
                               safefs_where(dirfd, name, buf, sizeof(buf)));
    return 0;
}

int safe_remove_tree_at(int dirfd, const char *name, struct err *e)
{
    char buf[SHOWN_MAX];
    struct ident parent, id;

    if (safefs_check_name(name, e) < 0)
        return -1;
    if (safefs_ident_fd(dirfd, &parent) < 0)
        return errprintf_errno(e, errno, "%s: cannot stat",
                               safefs_fd_path(dirfd, buf, sizeof(buf)));
    if (safefs_ident_at(dirfd, name, 0, &id) < 0) {
        if (errno == ENOENT)
            return 0;
        return errprintf_errno(e, errno, "%s: cannot stat",
                               safefs_where(dirfd, name, buf, sizeof(buf)));
    }
    if (!S_ISDIR(id.mode)) { /* a symlink is removed, never followed */
        if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
            return 0;
        return errprintf_errno(e, errno, "%s: cannot remove",
                               safefs_where(dirfd, name, buf, sizeof(buf)));
    }
    if (safefs_other_mount(&parent, &id)) {
        errno = EBUSY;
        return errprintf(e, "%s: is a mount point; not entered",
                         safefs_where(dirfd, name, buf, sizeof(buf)));
    }
    return remove_dir_at(dirfd, name, &id, e);
}

int safe_set_aside_at(int dirfd, const char *name, char *aside, size_t size, struct err *e)
{
    char buf[SHOWN_MAX];
    unsigned n;

    if (safefs_check_name(name, e) < 0)
        return -1;
    for (n = 0; n < SET_ASIDE_TRIES; n++) {
        int len = snprintf(aside, size, ".%.200s.left-%u", name, n);
        if (len < 0 || (size_t)len >= size) {
            errno = ENAMETOOLONG;
            return errprintf(e, "%s: no room to name it aside",
                             safefs_where(dirfd, name, buf, sizeof(buf)));
        }
        if (renameat2(dirfd, name, dirfd, aside, RENAME_NOREPLACE) == 0)
            return 0;
        if (errno != EEXIST)
            return errprintf_errno(e, errno, "%s: cannot set it aside",
                                   safefs_where(dirfd, name, buf, sizeof(buf)));
    }
    errno = EEXIST;
    return errprintf(e, "%s: cannot set it aside: .%.200s.left-0 to -%u all exist",
                     safefs_where(dirfd, name, buf, sizeof(buf)), name, SET_ASIDE_TRIES - 1);
}
