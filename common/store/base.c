/* The store's two roots and its lock. BASE holds the users' data; its records (RUNDIR/store/ESC)
 * hold the root-only state. Both are opened from checked directories and, when set up, made
 * private self-bind mounts. Every base a prolog used is listed in RUNDIR/bases, so that an epilog
 * finds it again whatever the policy says by then. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "store_int.h"
#include "util/util.h"
#include "fs/fs.h"

void store_fd_path(int fd, char *buf, size_t size)
{
    snprintf(buf, size, "/proc/self/fd/%d", fd);
}

static bool is_mount_root(int fd)
{
    struct statx stx;

    if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx) < 0)
        return false;
    return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
           (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* Pins can only live on a private mount: on a shared one the pin would propagate into the very
 * namespace it pins. So the records (and BASE, for user tmpfs instances) become a bind mount of
 * themselves, made private. Returns a new fd on
 * the (possibly new) mount, or -1. */
static int make_private_mount(const char *path, int fd, struct err *e)
{
    char p[64];

    if (!is_mount_root(fd)) {
        store_fd_path(fd, p, sizeof(p));
        if (mount(p, p, NULL, MS_BIND, NULL) < 0) {
            errprintf_errno(e, errno, "%s: cannot bind it onto itself", path);
            close(fd);
            return -1;
        }
        close(fd);
        /* The old fd still points below the new mount: reopen through the path. */
        if ((fd = safe_open_root_dir(path, false, e)) < 0)
            return -1;
    }
    store_fd_path(fd, p, sizeof(p));
    if (mount(NULL, p, NULL, MS_PRIVATE, NULL) < 0) {
        errprintf_errno(e, errno, "%s: cannot make it a private mount", path);
        close(fd);
        return -1;
    }
    return fd;
}

static char rundir[256] = INSTANCE_RUNDIR;

void instance_set_rundir(const char *dir)
{
    snprintf(rundir, sizeof(rundir), "%s", dir);
}

/* RUNDIR/bases, opened for reading and appending, locked; -1 if it cannot be. */
static int open_bases(bool create)
{
    int dir = safe_open_root_dir(rundir, create, NULL), fd;

    if (dir < 0)
        return -1;
    fd = openat(dir, "bases", O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    close(dir);
    if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Add BASE to the record, dropping bases that no longer exist; a failure only costs the cleanup
 * after a later policy change, so it is logged, not fatal. */
/* The file as it should be: the bases it lists that still exist, BASE last (the current one).
 * Rewritten only if that differs, so a node's prologs do not all write it. */
static void record_base(const char *base)
{
    int fd = open_bases(true);
    char line[4200], *kept = NULL, *was = NULL;
    size_t len = 0, wlen = 0;
    FILE *f, *out = NULL, *old = NULL;
    struct stat st;

    if (fd < 0 || !(f = fdopen(fd, "r+"))) {
        if (fd >= 0)
            close(fd);
        log_warn("cannot record the instance base %s in %s/bases", base, rundir);
        return;
    }
    if (!(out = open_memstream(&kept, &len)) || !(old = open_memstream(&was, &wlen)))
        goto out;
    while (fgets(line, sizeof(line), f)) {
        fputs(line, old);
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '/' && strcmp(line, base) != 0 && lstat(line, &st) == 0)
            fprintf(out, "%s\n", line);
    }
    fprintf(out, "%s\n", base);
    fclose(out);
    fclose(old);
    out = old = NULL;
    if (len == wlen && memcmp(kept, was, len) == 0)
        goto out;
    if (ftruncate(fd, 0) < 0 || fseek(f, 0, SEEK_SET) < 0 || fwrite(kept, 1, len, f) != len)
        log_warn("cannot record the instance base %s in %s/bases", base, rundir);
out:
    if (out)
        fclose(out);
    if (old)
        fclose(old);
    free(kept);
    free(was);
    fclose(f);
}

void instance_for_each_base(void (*fn)(const char *base, void *arg), void *arg)
{
    int fd = open_bases(false);
    char line[4200];
    FILE *f;

    if (fd < 0 || !(f = fdopen(fd, "r"))) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '/')
            fn(line, arg);
    }
    fclose(f);
}

/* RUNDIR/store/NAME: the record store of the base named NAME (escaped), made with SETUP. */
static int open_rec_dir(const char *name, bool setup, struct err *e)
{
    int run = safe_open_root_dir(rundir, setup, e), top, fd = -1;

    if (run < 0)
        return -1;
    top = setup ? safe_mkdir_at(run, "store", 0700, 0, 0, e) : safe_open_dir_at(run, "store", e);
    close(run);
    if (top < 0)
        return -1;
    fd = setup ? safe_mkdir_at(top, name, 0700, 0, 0, e) : safe_open_dir_at(top, name, e);
    close(top);
    return fd;
}

/* Make directory NAME in FD (root 0700), for the store's layout. */
static int make_sub(int fd, const char *name, struct err *e)
{
    int d = safe_mkdir_at(fd, name, 0700, 0, 0, e);

    if (d < 0)
        return -1;
    close(d);
    return 0;
}

/* The records live apart from the base, so that a user who fills the base's file system cannot
 * stop other jobs' records, pins and lock from being written. */
static int open_records(struct instance_store *s, bool setup, struct err *e)
{
    char name[PATH_MAX * 4 + 8];
    int fd;

    instance_name(s->path, name, sizeof(name));
    if (strlen(name) > NAME_MAX)
        return errprintf_errno(e, ENAMETOOLONG,
                               "instance base %s: path too long to name its records under %s/store",
                               s->path, rundir);
    if (asprintf(&s->rpath, "%s/store/%s", rundir, name) < 0) {
        s->rpath = NULL;
        return errprintf(e, "out of memory");
    }
    if ((fd = open_rec_dir(name, setup, e)) < 0)
        return -1;
    if (setup && (fd = make_private_mount(s->rpath, fd, e)) < 0)
        return -1;
    s->rfd = fd;
    if (setup && (make_sub(fd, "job", e) < 0 || make_sub(fd, "user", e) < 0))
        return -1;
    return 0;
}

struct instance_store *instance_store_open(const char *base, bool setup, struct err *e)
{
    struct instance_store *s = calloc(1, sizeof(*s));
    int fd;

    if (!s || !(s->path = strdup(base))) {
        free(s);
        errprintf(e, "out of memory");
        return NULL;
    }
    s->fd = s->rfd = s->lockfd = -1;
    if ((fd = safe_open_root_dir(base, setup, e)) < 0)
        goto fail;
    if (setup && (fd = make_private_mount(base, fd, e)) < 0)
        goto fail;
    s->fd = fd;
    if (setup &&
        (make_sub(fd, "job", e) < 0 || make_sub(fd, "user", e) < 0 || make_sub(fd, "trash", e) < 0))
        goto fail;
    if (open_records(s, setup, e) < 0)
        goto fail;
    if (setup)
        record_base(base);
    return s;
fail:
    instance_store_close(s);
    return NULL;
}

void instance_store_close(struct instance_store *s)
{
    if (!s)
        return;
    if (s->lockfd >= 0)
        close(s->lockfd);
    if (s->fd >= 0)
        close(s->fd);
    if (s->rfd >= 0)
        close(s->rfd);
    free(s->path);
    free(s->rpath);
    free(s);
}

const char *instance_store_path(const struct instance_store *s)
{
    return s->path;
}

const char *instance_store_records(const struct instance_store *s)
{
    return s->rpath;
}

int instance_store_lock(struct instance_store *s, struct err *e)
{
    struct stat st;

    if (s->lockfd < 0) {
        s->lockfd = openat(s->rfd, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (s->lockfd < 0)
            return errprintf_errno(e, errno, "%s/.lock", s->rpath);
        if (fstat(s->lockfd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0) {
            close(s->lockfd);
            s->lockfd = -1;
            return errprintf(e, "%s/.lock: not a regular file owned by root", s->rpath);
        }
    }
    while (flock(s->lockfd, LOCK_EX) < 0)
        if (errno != EINTR)
            return errprintf_errno(e, errno, "%s/.lock: cannot lock", s->rpath);
    return 0;
}

void instance_store_unlock(struct instance_store *s)
{
    if (s->lockfd >= 0)
        flock(s->lockfd, LOCK_UN);
}

int store_open_sub(struct instance_store *s, const char *name, struct err *e)
{
    return safe_open_dir_at(s->fd, name, e);
}

int store_open_rec(struct instance_store *s, const char *name, struct err *e)
{
    return safe_open_dir_at(s->rfd, name, e);
}

/* DIRFD/NAME opened for listing (DIRFD is kept); NULL if it cannot be. */
static DIR *list_at(int dirfd, const char *where, const char *name, struct err *e)
{
    int fd = safe_open_dir_at(dirfd, name, e);
    DIR *d;

    if (fd < 0)
        return NULL;
    if (!(d = fdopendir(fd))) {
        errprintf_errno(e, errno, "%s/%s: cannot list it", where, name);
        close(fd);
    }
    return d;
}

DIR *store_list_sub(struct instance_store *s, const char *name, struct err *e)
{
    return list_at(s->fd, s->path, name, e);
}

DIR *store_list_rec(struct instance_store *s, const char *name, struct err *e)
{
    return list_at(s->rfd, s->rpath, name, e);
}

int instance_login_lock(struct err *e)
{
    int dir = safe_open_root_dir(rundir, true, e), fd;
    struct stat st;

    if (dir < 0)
        return -1;
    fd = openat(dir, "login.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    close(dir);
    if (fd < 0)
        return errprintf_errno(e, errno, "%s/login.lock", rundir);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0) {
        close(fd);
        return errprintf(e, "%s/login.lock: not a regular file owned by root", rundir);
    }
    while (flock(fd, LOCK_EX) < 0)
        if (errno != EINTR) {
            close(fd);
            return errprintf_errno(e, errno, "%s/login.lock: cannot lock", rundir);
        }
    return fd;
}

bool instance_record_exists(const char *base, uint32_t job_id)
{
    char name[4200], id[16];
    int fd, jobs;
    bool found;

    instance_name(base, name, sizeof(name));
    if ((fd = open_rec_dir(name, false, NULL)) < 0)
        return errno != ENOENT; /* when it cannot be told: yes */
    jobs = safe_open_dir_at(fd, "job", NULL);
    close(fd);
    if (jobs < 0)
        return errno != ENOENT;
    store_job_name(job_id, id, sizeof(id));
    found = faccessat(jobs, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
    close(jobs);
    return found;
}
