/* safefs: removing trees (safe_remove_tree_at, safe_empty_dir); see safefs.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safefs.h"
#include "safefs_int.h"

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

    if (fd >= 0 && (safefs_ident_fd(fd, &id) < 0 || !safefs_same_object(&id, &l->id))) {
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
    if (safefs_ident_fd(fd, &got) < 0 || !safefs_same_object(&got, id)) {
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
    if (safefs_ident_at(fd, name, 0, &id) < 0)
        return errno == ENOENT ? 0 : entry_failed(w, t, name, errno, "cannot stat", true);
    if (!S_ISDIR(id.mode)) {
        if (unlinkat(fd, name, 0) == 0 || errno == ENOENT)
            return 0;
        return entry_failed(w, t, name, errno, "cannot remove", true);
    }
    if (safefs_other_mount(&w->lv[t].id, &id))
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
