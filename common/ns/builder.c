/* ns: building a job's namespace from its plan, in the child that pin.c runs: polydirs, mounts
 * and hides, each made through file descriptors (open_tree, fsopen, move_mount), then the
 * instance base and its records detached and covered. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ns/ns.h"
#include "fs/fs.h"
#include "ns_int.h"

#define MAX_OWN_MOUNTS 256

struct builder {
    const struct ns_request *r;
    int base;     /* the instance base, opened inside the new namespace */
    int *sources; /* per plan mount: the bind source opened before any mount, or -1 */
    uint64_t own[MAX_OWN_MOUNTS + 1]; /* mount ids of the tmpfs mounts the policy made (and the
                                       * base's cover, in which the shared directory is kept) */
    size_t nown;
    int share; /* a clone of the job's shared directory, made before any mount, or -1 */
};

/* Open the parent of PATH, which must lie in a tmpfs B made (created there as needed), and copy
 * the last component to NAME. Only inside a tmpfs this builder made may anything be created:
 * never on the node's real file systems, not even on a host tmpfs such as /run. */
static int open_parent(const struct builder *b, const char *path, char *name, size_t size,
                       struct err *e)
{
    const struct safe_mounts own = {b->own, b->nown};
    int fd;

    char parent[PATH_MAX];
    const char *slash = strrchr(path, '/');

    if (!slash || !slash[1])
        return errprintf(e, "%s: not a path below /", path);
    snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
    snprintf(name, size, "%s", slash + 1);
    if ((fd = safe_resolve(parent[0] ? parent : "/", 0, &own, e)) < 0)
        return -1;
    if (!safe_in_mounts(fd, &own)) {
        close(fd);
        return errprintf(e,
                         "%s: not inside a tmpfs made earlier by the policy; nothing is "
                         "created on the node's own file systems",
                         path);
    }
    return fd;
}

/* --- mounting through file descriptors ------------------------------------------------------- */

static unsigned mount_attrs(bool readonly, bool noexec)
{
    return MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (readonly ? MOUNT_ATTR_RDONLY : 0) |
           (noexec ? MOUNT_ATTR_NOEXEC : 0);
}

/* Attach the detached mount MFD on the object open at TARGET; its mount id goes to *ID. */
static int attach(int mfd, int target, uint64_t *id, const char *what, struct err *e)
{
    if (id)
        *id = safe_mount_id(mfd);
    int rc = move_mount(mfd, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);

    close(mfd);
    if (rc < 0)
        return errprintf_errno(e, errno, "cannot mount %s", what);
    return 0;
}

/* Clone the tree at SOURCE, set its flags on the whole tree before anyone can see it (so a
 * read-only bind is never writable, not even for an instant), and attach it on TARGET. */
static int bind_fd(int source, int target, bool readonly, bool noexec, const char *what,
                   struct err *e)
{
    struct mount_attr attr = {.attr_set = mount_attrs(readonly, noexec)};
    int mfd =
        open_tree(source, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);

    if (mfd < 0)
        return errprintf_errno(e, errno, "cannot clone %s", what);
    if (mount_setattr(mfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0) {
        close(mfd);
        return errprintf_errno(e, errno, "cannot set the flags of %s", what);
    }
    return attach(mfd, target, NULL, what, e);
}

/* A new tmpfs with nosuid,nodev (and ro/noexec), sized and owned as asked, on TARGET. */
static int tmpfs_fd(int target, uint64_t size, mode_t mode, uid_t uid, gid_t gid, bool readonly,
                    bool noexec, uint64_t *id, const char *what, struct err *e)
{
    char num[32];
    int fs = fsopen("tmpfs", FSOPEN_CLOEXEC), mfd;

    if (fs < 0)
        return errprintf_errno(e, errno, "%s: cannot create a tmpfs", what);
    snprintf(num, sizeof(num), "%o", (unsigned)mode);
    int rc = fsconfig(fs, FSCONFIG_SET_STRING, "mode", num, 0);
    snprintf(num, sizeof(num), "%lu", (unsigned long)uid);
    rc = rc ? rc : fsconfig(fs, FSCONFIG_SET_STRING, "uid", num, 0);
    snprintf(num, sizeof(num), "%lu", (unsigned long)gid);
    rc = rc ? rc : fsconfig(fs, FSCONFIG_SET_STRING, "gid", num, 0);
    snprintf(num, sizeof(num), "%" PRIu64, size);
    rc = rc ? rc : (size ? fsconfig(fs, FSCONFIG_SET_STRING, "size", num, 0) : 0);
    rc = rc ? rc : fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
    if (rc < 0) {
        errprintf_errno(e, errno, "%s: cannot configure the tmpfs (size %s, mode %o)", what, num,
                        (unsigned)mode);
        close(fs);
        return -1;
    }
    mfd = fsmount(fs, FSMOUNT_CLOEXEC, mount_attrs(readonly, noexec));
    close(fs);
    if (mfd < 0)
        return errprintf_errno(e, errno, "%s: cannot mount the tmpfs", what);
    return attach(mfd, target, id, what, e);
}

/* --- the steps of a plan --------------------------------------------------------------------- */

static int apply_polydir(struct builder *b, size_t i, struct err *e)
{
    const struct plan_polydir *d = &b->r->plan->polydirs[i];
    const char *rel = b->r->instance_paths[i];
    int target = safe_resolve(d->path, 0, NULL, e), src, rc;

    if (target < 0)
        return -1;
    if (!rel || !*rel) {
        rc = tmpfs_fd(target, d->size_bytes, b->r->host_modes[i], b->r->uid, b->r->gid, false,
                      false, NULL, d->path, e);
    } else if ((src = safe_open_dir_path_at(b->base, rel, e)) < 0) {
        rc = -1;
    } else {
        rc = bind_fd(src, target, false, false, d->path, e);
        close(src);
    }
    close(target);
    return rc;
}

/* The mount point of a bind inside a policy tmpfs: a directory, or an empty file for a file. */
static int make_bind_target(const struct builder *b, const struct plan_mount *m, int source,
                            struct err *e)
{
    char name[NAME_MAX + 1];
    struct stat st;
    int parent, rc = 0;

    if (fstat(source, &st) < 0)
        return errprintf_errno(e, errno, "%s", m->source);
    if ((parent = open_parent(b, m->target, name, sizeof(name), e)) < 0)
        return -1;
    if (S_ISDIR(st.st_mode)) {
        if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST)
            rc = errprintf_errno(e, errno, "%s: cannot create the mount point", m->target);
    } else {
        int fd = openat(parent, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
            rc = errprintf_errno(e, errno, "%s: cannot create the mount point", m->target);
        else
            close(fd);
    }
    close(parent);
    return rc;
}

static int apply_link_or_dir(const struct builder *b, const struct plan_mount *m, struct err *e)
{
    char name[NAME_MAX + 1];
    int parent = open_parent(b, m->target, name, sizeof(name), e), rc = 0;

    if (parent < 0)
        return -1;
    if (m->type == MOUNT_SYMLINK) {
        if (symlinkat(m->source, parent, name) < 0)
            rc = errprintf_errno(e, errno, "%s: cannot create the symlink", m->target);
    } else if (mkdirat(parent, name, 0) < 0 && errno != EEXIST) {
        rc = errprintf_errno(e, errno, "%s: cannot create the directory", m->target);
    } else {
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fchmod(fd, m->mode) < 0)
            rc = errprintf_errno(e, errno, "%s: cannot set its mode", m->target);
        if (fd >= 0)
            close(fd);
    }
    close(parent);
    return rc;
}

static int apply_mount(struct builder *b, size_t i, struct err *e)
{
    const struct plan_mount *m = &b->r->plan->mounts[i];
    int target, rc;

    if (m->type == MOUNT_SYMLINK || m->type == MOUNT_DIR)
        return apply_link_or_dir(b, m, e);
    if (m->type == MOUNT_BIND && m->in_tmpfs && make_bind_target(b, m, b->sources[i], e) < 0)
        return -1;
    if ((target = safe_resolve(m->target, 0, NULL, e)) < 0)
        return -1;
    if (m->type == MOUNT_TMPFS && b->nown == MAX_OWN_MOUNTS)
        rc =
            errprintf(e, "%s: more than %d tmpfs mounts in one profile", m->target, MAX_OWN_MOUNTS);
    else if (m->type == MOUNT_TMPFS)
        rc = tmpfs_fd(target, m->size_bytes, m->mode, 0, 0, m->readonly, m->noexec,
                      &b->own[b->nown++], m->target, e);
    else
        rc = bind_fd(b->sources[i], target, m->readonly, m->noexec, m->target, e);
    close(target);
    return rc;
}

/* A hidden path is covered by an empty read-only tmpfs; a path missing here has nothing to hide,
 * unless others could create or rename it (SAFE_RESOLVE_STRICT). */
static int apply_hide(const struct plan_path *h, struct err *e)
{
    struct err why;
    int target = safe_resolve(h->path, SAFE_RESOLVE_STRICT, NULL, &why), rc;

    if (target < 0 && errno == ENOENT)
        return 0;
    if (target < 0)
        return errprintf(e, "hide (policy line %d): %s", h->line, why.text);
    rc = tmpfs_fd(target, 4096, 0755, 0, 0, true, true, NULL, h->path, e);
    close(target);
    return rc;
}

/* Other jobs' instances (below the base) and pins (below its records): drop this namespace's
 * copy of them all, then cover what is left, so nothing in the job can reach either. */
static int hide_store_dir(const char *path, const char *what, struct err *e)
{
    int fd;

    if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL)
        return errprintf_errno(e, errno, "cannot detach the %s %s", what, path);
    if ((fd = safe_resolve(path, 0, NULL, e)) < 0)
        return -1;
    int rc = tmpfs_fd(fd, 4096, 0, 0, 0, true, true, NULL, path, e);
    close(fd);
    return rc;
}

/* PATH is DIR or lies below it (both clean and absolute). */
static bool path_within(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    if (strcmp(dir, "/") == 0)
        return true;
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* The shared directory is cloned while the base is still mounted: the cover detaches it. */
static int clone_share(struct builder *b, struct err *e)
{
    struct mount_attr attr = {.attr_set = mount_attrs(false, true)};
    int fd;

    if (!path_within(b->r->share, b->r->instance_base))
        return errprintf(e, "%s: not below the instance base %s", b->r->share,
                         b->r->instance_base);
    if ((fd = safe_resolve(b->r->share, 0, NULL, e)) < 0)
        return -1;
    b->share = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    close(fd);
    if (b->share < 0)
        return errprintf_errno(e, errno, "cannot clone %s", b->r->share);
    if (mount_setattr(b->share, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
        return errprintf_errno(e, errno, "cannot set the flags of %s", b->r->share);
    return 0;
}

/* Make the cover of the base (open on FD) read-only, not what is mounted in it. */
static int cover_readonly(int fd, const char *base, struct err *e)
{
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};

    if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
        return errprintf_errno(e, errno, "cannot make the cover of %s read-only", base);
    return 0;
}

/* The base is covered like the records, except for the job's shared directory, bound back at its
 * own path for slurmstepd's PMIx directories: the cover is root's, 0711, read-only once the bind
 * is in; the directories on the way are made in it. */
static int cover_base_but_share(struct builder *b, struct err *e)
{
    const char *base = b->r->instance_base;
    char name[NAME_MAX + 1];
    int fd, parent = -1, target = -1, rc = -1;

    if (umount2(base, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL)
        return errprintf_errno(e, errno, "cannot detach the instance base %s", base);
    if ((fd = safe_resolve(base, 0, NULL, e)) < 0)
        return -1;
    rc = tmpfs_fd(fd, 65536, 0711, 0, 0, false, true, &b->own[b->nown++], base, e);
    close(fd);
    if (rc < 0 || (parent = open_parent(b, b->r->share, name, sizeof(name), e)) < 0)
        return -1;
    rc = -1;
    if (mkdirat(parent, name, 0711) < 0 && errno != EEXIST)
        errprintf_errno(e, errno, "cannot make %s in the cover of the base", b->r->share);
    else if ((target = openat(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        errprintf_errno(e, errno, "cannot open %s in the cover of the base", b->r->share);
    else if (attach(b->share, target, NULL, b->r->share, e) == 0 &&
             (fd = safe_resolve(base, 0, NULL, e)) >= 0) {
        rc = cover_readonly(fd, base, e);
        close(fd);
    }
    if (target >= 0)
        close(target);
    close(parent);
    return rc;
}

/* The records of every instance base the node has used sit side by side in one directory
 * (RUNDIR/store), each a mount of its own (the store makes it so): an earlier policy's base has
 * jobs, pins and user tmpfs instances there too. Detach each here, with everything below it: one
 * call per base, where reading the mount table would cost milliseconds on a node with thousands
 * of mounts. The store directory itself (should an admin mount something there) stays: the
 * records in it are covered below. */
static int detach_all_records(const char *records, struct err *e)
{
    char store[PATH_MAX];
    const char *slash = strrchr(records, '/');
    struct dirent *de;
    int path, fd, rc = 0;
    DIR *d;

    if (!slash || slash == records)
        return 0;
    snprintf(store, sizeof(store), "%.*s", (int)(slash - records), records);
    if ((path = safe_resolve(store, 0, NULL, e)) < 0)
        return -1;
    fd = openat(path, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* the resolved fd is O_PATH */
    close(path);
    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return errprintf_errno(e, errno, "cannot list %s", store);
    }
    /* Keep going after an error, report the first. */
    errno = 0;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
            safe_unmount_at(dirfd(d), de->d_name, rc ? NULL : e) < 0)
            rc = -1;
        errno = 0;
    }
    if (errno && rc == 0)
        rc = errprintf_errno(e, errno, "cannot list %s", store);
    closedir(d);
    return rc;
}

/* The records hold every job's pin: a copy of them here would keep those namespaces alive. */
static int hide_store(struct builder *b, struct err *e)
{
    if ((b->share >= 0 ? cover_base_but_share(b, e)
                       : hide_store_dir(b->r->instance_base, "instance base", e)) < 0)
        return -1;
    if (!b->r->records)
        return 0;
    if (detach_all_records(b->r->records, e) < 0)
        return -1;
    return hide_store_dir(b->r->records, "instance records", e);
}

/* Bind sources resolve in the host's view: open them all before the first mount covers any. */
static int open_sources(struct builder *b, struct err *e)
{
    const struct plan *plan = b->r->plan;

    struct err why;

    for (size_t i = 0; i < plan->nmounts; i++) {
        b->sources[i] = -1;
        /* A bind of a tree holding the base would carry every job's pin and tmpfs along. */
        if (plan->mounts[i].type == MOUNT_BIND &&
            (path_within(b->r->instance_base, plan->mounts[i].source)))
            return errprintf(e, "bind source %s (policy line %d) contains the instance base %s",
                             plan->mounts[i].source, plan->mounts[i].line, b->r->instance_base);
        if (plan->mounts[i].type == MOUNT_BIND && b->r->records &&
            path_within(b->r->records, plan->mounts[i].source))
            return errprintf(e, "bind source %s (policy line %d) contains the instance records %s",
                             plan->mounts[i].source, plan->mounts[i].line, b->r->records);
        if (plan->mounts[i].type == MOUNT_BIND &&
            (b->sources[i] =
                 safe_resolve(plan->mounts[i].source, SAFE_RESOLVE_STRICT, NULL, &why)) < 0)
            return errprintf(e, "bind source (policy line %d): %s", plan->mounts[i].line, why.text);
    }
    return 0;
}

static int build(struct builder *b, struct err *e)
{
    const struct plan *plan = b->r->plan;

    if (unshare(CLONE_NEWNS) < 0)
        return errprintf_errno(e, errno, "cannot create a mount namespace");
    /* Slave, not private: host mounts (autofs, NFS) still appear; ours never leak out. */
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return errprintf_errno(e, errno, "cannot make / a slave mount");
    if ((b->base = safe_open_root_dir(b->r->instance_base, false, e)) < 0)
        return -1;
    if (open_sources(b, e) < 0)
        return -1;
    if (b->r->share && clone_share(b, e) < 0)
        return -1;
    for (size_t i = 0; i < plan->npolydirs; i++)
        if (apply_polydir(b, i, e) < 0)
            return -1;
    for (size_t i = 0; i < plan->nmounts; i++)
        if (apply_mount(b, i, e) < 0)
            return -1;
    for (size_t i = 0; i < plan->nhide; i++)
        if (apply_hide(&plan->hide[i], e) < 0)
            return -1;
    return hide_store(b, e);
}

int ns_build_here(const struct ns_request *r, struct err *e)
{
    struct builder b = {.r = r, .base = -1, .share = -1};

    int rc;

    if (!(b.sources = calloc(r->plan->nmounts + 1, sizeof(*b.sources))))
        return errprintf(e, "out of memory");
    rc = build(&b, e);
    free(b.sources); /* the child shares its caller's heap (ns_run_in_child) */
    return rc;
}
