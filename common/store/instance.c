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
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "store_int.h"
#include "util/util.h"
#include "fs/fs.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

static void fd_path(int fd, char *buf, size_t size)
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
        fd_path(fd, p, sizeof(p));
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
    fd_path(fd, p, sizeof(p));
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
static void record_base(const char *base)
{
    int fd = open_bases(true);
    char line[4200], *kept = NULL;
    size_t len = 0;
    FILE *f, *out = NULL;
    struct stat st;

    if (fd < 0 || !(f = fdopen(fd, "r+"))) {
        if (fd >= 0)
            close(fd);
        log_warn("cannot record the instance base %s in %s/bases", base, rundir);
        return;
    }
    if (!(out = open_memstream(&kept, &len)))
        goto out;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '/' && strcmp(line, base) != 0 && lstat(line, &st) == 0)
            fprintf(out, "%s\n", line);
    }
    fprintf(out, "%s\n", base);
    fclose(out);
    if (ftruncate(fd, 0) < 0 || fseek(f, 0, SEEK_SET) < 0 || fwrite(kept, 1, len, f) != len)
        log_warn("cannot record the instance base %s in %s/bases", base, rundir);
out:
    free(kept);
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

struct cleanup {
    uint32_t job_id;
    const char *done; /* the base already cleaned */
    int rc;
};

static void cleanup_under(const char *base, void *arg)
{
    struct cleanup *c = arg;
    struct instance_store *s;
    struct err e;

    if (c->done && strcmp(base, c->done) == 0)
        return;
    if ((s = instance_store_open(base, false, &e))) {
        if (instance_job_remove(s, c->job_id, &e) < 0) {
            log_error("job %" PRIu32 ": cannot remove its instances under %s: %s", c->job_id, base,
                      e.text);
            c->rc = -1;
        }
        instance_store_close(s);
    } else if (errno != ENOENT) {
        log_error("job %" PRIu32 ": %s", c->job_id, e.text);
        c->rc = -1;
    }
}

int instance_job_cleanup(const char *base, uint32_t job_id)
{
    struct cleanup c = {job_id, NULL, 0};

    if (base) {
        cleanup_under(base, &c);
        c.done = base;
    }
    instance_for_each_base(cleanup_under, &c);
    return c.rc;
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

/* --- names -------------------------------------------------------------------------------- */

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

void store_job_name(uint32_t job_id, char *buf, size_t size)
{
    snprintf(buf, size, "%" PRIu32, job_id);
}

/* --- jobs --------------------------------------------------------------------------------- */

int store_open_sub(struct instance_store *s, const char *name, struct err *e)
{
    return safe_open_dir_at(s->fd, name, e);
}

int store_open_rec(struct instance_store *s, const char *name, struct err *e)
{
    return safe_open_dir_at(s->rfd, name, e);
}

/* TOP/ID in directory SUB of the base (DATA) or of the records, made root 0700 with CREATE. */
static int open_id_dir(struct instance_store *s, bool data, const char *sub, const char *id,
                       bool create, struct err *e)
{
    int top = data ? store_open_sub(s, sub, e) : store_open_rec(s, sub, e), fd;

    if (top < 0)
        return -1;
    fd = create ? safe_mkdir_at(top, id, 0700, 0, 0, e) : safe_open_dir_at(top, id, e);
    close(top);
    return fd;
}

int instance_job_open(struct instance_store *s, uint32_t job_id, bool create,
                      struct instance_job *job, struct err *e)
{
    char name[16];

    job->job_id = job_id;
    store_job_name(job_id, name, sizeof(name));
    job->dirfd = open_id_dir(s, false, "job", name, create, e);
    return job->dirfd < 0 ? -1 : 0;
}

void instance_job_close(struct instance_job *job)
{
    if (job->dirfd >= 0)
        close(job->dirfd);
    job->dirfd = -1;
}

/* The user's directory: in the base (DATA: its instances) or in the records (its jobs/). */
static int open_user_dir(struct instance_store *s, bool data, uid_t uid, bool create, struct err *e)
{
    char name[32];

    snprintf(name, sizeof(name), "%lu", (unsigned long)uid);
    return open_id_dir(s, data, "user", name, create, e);
}

/* Record job JOB_ID as a user of UID's instances: RECORDS/user/UID/jobs/JOBID. */
static int add_user_ref(struct instance_store *s, uid_t uid, uint32_t job_id, struct err *e)
{
    char name[16];
    int ufd = open_user_dir(s, false, uid, true, e), jobs, fd;

    if (ufd < 0)
        return -1;
    store_job_name(job_id, name, sizeof(name));
    jobs = safe_mkdir_at(ufd, "jobs", 0700, 0, 0, e);
    close(ufd);
    if (jobs < 0)
        return -1;
    fd = openat(jobs, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    close(jobs);
    if (fd < 0)
        return errprintf_errno(e, errno, "cannot record job %s as a user of its instances", name);
    close(fd);
    return 0;
}

int instance_user_jobs(struct instance_store *s, uid_t uid, void (*fn)(uint32_t, void *), void *arg,
                       struct err *e)
{
    int ufd = open_user_dir(s, false, uid, false, e), jobs = -1;
    struct dirent *de;
    DIR *d = NULL;

    if (ufd >= 0)
        jobs = safe_open_dir_at(ufd, "jobs", e);
    if (jobs >= 0 && !(d = fdopendir(jobs)))
        close(jobs);
    if (ufd >= 0)
        close(ufd);
    if (!d)
        return -1;
    while ((de = readdir(d))) {
        char *end;
        unsigned long id = strtoul(de->d_name, &end, 10);
        if (de->d_name[0] != '.' && !*end && id <= UINT32_MAX)
            fn((uint32_t)id, arg);
    }
    closedir(d);
    return 0;
}

static int mount_tmpfs_at(int dirfd, const char *name, uint64_t size, mode_t mode, uid_t uid,
                          gid_t gid, struct err *e)
{
    char opts[128], p[64];
    int fd = safe_open_dir_at(dirfd, name, e);
    int rc;

    if (fd < 0)
        return -1;
    fd_path(fd, p, sizeof(p));
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
    int ufd = open_user_dir(s, true, uid, true, e);
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
    if (fd >= 0 && add_user_ref(s, uid, job->job_id, e) < 0) {
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
    if ((jfd = open_id_dir(s, true, "job", id, true, e)) < 0)
        return -1;
    fd = d->size_bytes ? quota_mkdir_at(jfd, name, d->size_bytes, mode, uid, gid, e)
                       : safe_mkdir_at(jfd, name, mode, uid, gid, e);
    close(jfd);
    return fd;
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

/* --- state -------------------------------------------------------------------------------- */

static void read_boot_id(char *buf, size_t size)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

    buf[0] = '\0';
    if (f) {
        if (fgets(buf, size, f))
            buf[strcspn(buf, "\n")] = '\0';
        fclose(f);
    }
}

/* Values are written with \n and \\ escaped, so one line is one key. */
static void put_escaped(FILE *f, const char *key, const char *v)
{
    fprintf(f, "%s=", key);
    for (; *v; v++) {
        if (*v == '\n')
            fputs("\\n", f);
        else if (*v == '\\')
            fputs("\\\\", f);
        else
            fputc(*v, f);
    }
    fputc('\n', f);
}

static void unescape(char *s)
{
    char *w = s;

    for (char *r = s; *r; r++) {
        if (*r == '\\' && r[1] == 'n') {
            *w++ = '\n';
            r++;
        } else if (*r == '\\' && r[1] == '\\') {
            *w++ = '\\';
            r++;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

int instance_state_write(struct instance_job *job, const struct job_state *st, struct err *e)
{
    char boot[40];
    int fd;
    FILE *f;

    read_boot_id(boot, sizeof(boot));
    unlinkat(job->dirfd, "state.new", 0);
    fd =
        openat(job->dirfd, "state.new", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        if (fd >= 0)
            close(fd);
        return errprintf_errno(e, errno, "job %" PRIu32 ": cannot write its state", job->job_id);
    }
    fprintf(f, "boot_id=%s\nuid=%lu\ngid=%lu\nisolated=%d\n", boot, (unsigned long)st->uid,
            (unsigned long)st->gid, st->isolated ? 1 : 0);
    put_escaped(f, "profile", st->profile);
    put_escaped(f, "error", st->error);
    for (char **v = st->env; v && *v; v++)
        put_escaped(f, "env", *v);
    for (char **v = st->resize; v && *v; v++)
        put_escaped(f, "resize", *v);
    if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
        fclose(f);
        return errprintf_errno(e, errno, "job %" PRIu32 ": cannot write its state", job->job_id);
    }
    fclose(f);
    if (renameat(job->dirfd, "state.new", job->dirfd, "state") < 0)
        return errprintf_errno(e, errno, "job %" PRIu32 ": cannot write its state", job->job_id);
    return 0;
}

static void strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

void job_state_clear(struct job_state *st)
{
    strv_free(st->env);
    strv_free(st->resize);
    memset(st, 0, sizeof(*st));
}

/* Append a copy of S to the NULL-terminated vector *V. */
static int strv_add(char ***v, const char *s)
{
    size_t n = 0;
    char **nv;

    while (*v && (*v)[n])
        n++;
    if (!(nv = realloc(*v, (n + 2) * sizeof(*nv))))
        return -1;
    *v = nv;
    if (!(nv[n] = strdup(s)))
        return -1;
    nv[n + 1] = NULL;
    return 0;
}

static int state_set(struct job_state *st, char *key, char *val)
{
    unescape(val);
    if (strcmp(key, "boot_id") == 0)
        snprintf(st->boot_id, sizeof(st->boot_id), "%s", val);
    else if (strcmp(key, "uid") == 0)
        st->uid = strtoul(val, NULL, 10);
    else if (strcmp(key, "gid") == 0)
        st->gid = strtoul(val, NULL, 10);
    else if (strcmp(key, "isolated") == 0)
        st->isolated = strcmp(val, "1") == 0;
    else if (strcmp(key, "profile") == 0)
        snprintf(st->profile, sizeof(st->profile), "%s", val);
    else if (strcmp(key, "error") == 0)
        snprintf(st->error, sizeof(st->error), "%s", val);
    else if (strcmp(key, "env") == 0)
        return strv_add(&st->env, val);
    else if (strcmp(key, "resize") == 0)
        return strv_add(&st->resize, val);
    return 0;
}

static int read_state_at(int jobfd, struct job_state *st, struct err *e)
{
    int fd = openat(jobfd, "state", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    char line[8192];
    FILE *f;
    int rc = 0;

    memset(st, 0, sizeof(*st));
    if (fd < 0)
        return errprintf_errno(e, errno, "no state");
    if (!(f = fdopen(fd, "r"))) {
        close(fd);
        return errprintf_errno(e, errno, "cannot read state");
    }
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '=');
        line[strcspn(line, "\n")] = '\0';
        if (!eq)
            continue;
        *eq = '\0';
        rc = state_set(st, line, eq + 1);
    }
    fclose(f);
    if (rc < 0) {
        job_state_clear(st);
        return errprintf(e, "out of memory");
    }
    return 0;
}

int instance_state_read(struct instance_store *s, uint32_t job_id, struct job_state *st,
                        struct err *e)
{
    struct instance_job job;
    int rc;

    memset(st, 0, sizeof(*st));
    if (instance_job_open(s, job_id, false, &job, e) < 0)
        return -1;
    rc = read_state_at(job.dirfd, st, e);
    instance_job_close(&job);
    return rc;
}

bool instance_job_marked(struct instance_store *s, uint32_t job_id, const char *name)
{
    struct instance_job job;
    struct stat st;
    bool marked;

    if (instance_job_open(s, job_id, false, &job, NULL) < 0)
        return false;
    marked = fstatat(job.dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
    instance_job_close(&job);
    return marked;
}

void instance_job_mark(struct instance_store *s, uint32_t job_id, const char *name)
{
    struct instance_job job;
    int fd;

    if (instance_job_open(s, job_id, false, &job, NULL) < 0)
        return;
    fd = openat(job.dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    instance_job_close(&job);
}

/* --- pins --------------------------------------------------------------------------------- */

static int pin_open_at(int jobfd)
{
    struct statfs sf;
    int fd = openat(jobfd, "ns", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        return -1;
    if (fstatfs(fd, &sf) < 0 || sf.f_type != NSFS_MAGIC) {
        close(fd);
        errno = ENOENT;
        return -1;
    }
    return fd;
}

int instance_pin_open(struct instance_store *s, uint32_t job_id, struct err *e)
{
    struct instance_job job;
    int fd;

    if (instance_job_open(s, job_id, false, &job, e) < 0)
        return -1;
    fd = pin_open_at(job.dirfd);
    instance_job_close(&job);
    if (fd < 0)
        return errprintf_errno(e, errno, "job %" PRIu32 ": no namespace pinned", job_id);
    return fd;
}

/* Detach every mount stacked on NAME in DIRFD (a pin, or a user's tmpfs instance). */
static int unmount_at(int dirfd, const char *name, struct err *e)
{
    char p[64];

    for (int i = 0; i < 16 && safe_is_mountpoint_at(dirfd, name); i++) {
        int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return errprintf_errno(e, errno, "cannot open %s to unmount it", name);
        fd_path(fd, p, sizeof(p));
        int rc = umount2(p, MNT_DETACH);
        close(fd);
        if (rc < 0)
            return errprintf_errno(e, errno, "cannot unmount %s", name);
    }
    return 0;
}

/* --- removal ------------------------------------------------------------------------------ */

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

/* Detach the tmpfs instances of a user and move the directory into the trash. */
static int trash_user_dir(struct instance_store *s, struct trash *t, int users, const char *uidname,
                          struct err *e)
{
    int fd = safe_open_dir_at(users, uidname, e);
    int rc = 0;
    DIR *d;
    struct dirent *de;

    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    if (!(d = fdopendir(fd))) {
        close(fd);
        return errprintf_errno(e, errno, "user %s: cannot list instances", uidname);
    }
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            if (unmount_at(dirfd(d), de->d_name, e) < 0)
                rc = -1;
    closedir(d);
    if (rc == 0)
        rc = trash_move(s, t, users, uidname, e);
    return rc;
}

static bool dir_is_empty(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d;
    struct dirent *de;
    bool empty = true;

    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    while (empty && (de = readdir(d)))
        empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
    closedir(d);
    return empty;
}

/* Whether some job still holds a reference on the user UIDNAME's instances. */
static bool user_in_use(int recusers, const char *uidname)
{
    int ufd = safe_open_dir_at(recusers, uidname, NULL);
    bool used;

    /* An error is no proof that no job uses them: only "no such record" is. */
    if (ufd < 0)
        return errno != ENOENT;
    if (faccessat(ufd, "jobs", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
        used = errno != ENOENT;
    else
        used = !dir_is_empty(ufd, "jobs");
    close(ufd);
    return used;
}

/* The open directory DIRFD listed through a descriptor of its own (DIRFD stays open); NULL if it
 * cannot be. */
static DIR *list_open_dir(int dirfd)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);

    if (!d && fd >= 0)
        close(fd);
    return d;
}

/* Drop JOB_ID's reference in every user's record. */
static void drop_user_refs(int recusers, uint32_t job_id)
{
    char jname[16];
    DIR *d = list_open_dir(recusers);
    struct dirent *de;
    int jobs;

    if (!d)
        return;
    store_job_name(job_id, jname, sizeof(jname));
    while ((de = readdir(d))) {
        int ufd = de->d_name[0] == '.' ? -1 : safe_open_dir_at(recusers, de->d_name, NULL);
        if (ufd >= 0 && (jobs = safe_open_dir_at(ufd, "jobs", NULL)) >= 0) {
            unlinkat(jobs, jname, 0);
            close(jobs);
        }
        if (ufd >= 0)
            close(ufd);
    }
    closedir(d);
}

/* Move the instances of users no job references into the trash (an instance directory without
 * a record is from an earlier boot, or from a builder that died: it held the lock). */
static int trash_unused_users(struct instance_store *s, struct trash *t, int recusers,
                              struct err *e)
{
    DIR *d = store_list_sub(s, "user", e);
    struct dirent *de;
    int rc = 0;

    if (!d)
        return errno == ENOENT ? 0 : -1;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && !user_in_use(recusers, de->d_name) &&
            trash_user_dir(s, t, dirfd(d), de->d_name, rc ? NULL : e) < 0)
            rc = -1;
    closedir(d);
    return rc;
}

/* Remove the records of users no job references (small and root-only: removed under the lock). */
static void forget_unused_users(int recusers)
{
    DIR *d = list_open_dir(recusers);
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && !user_in_use(recusers, de->d_name))
            safe_remove_tree_at(recusers, de->d_name, NULL);
    closedir(d);
}

/* Drop JOB's references (JOB_ID 0: drop none), and move the instances of users no job
 * references any more into the trash. */
static int release_users(struct instance_store *s, struct trash *t, uint32_t job_id, struct err *e)
{
    int recusers = store_open_rec(s, "user", e), rc;

    if (recusers < 0)
        return errno == ENOENT ? 0 : -1;
    if (job_id)
        drop_user_refs(recusers, job_id);
    rc = trash_unused_users(s, t, recusers, e);
    if (rc == 0)
        forget_unused_users(recusers);
    close(recusers);
    return rc;
}

/* Tearing a job's namespace down frees its tmpfs instances, which takes the kernel tens of
 * milliseconds per GiB. A child enters the namespace before the pin goes (a task inside keeps it
 * alive) and leaves it once we are done, so the teardown happens in the child, not the epilog.
 * Returns the write end the child waits on (close it to let the child go), or -1. */
/* The lingering process: its parent exits at once and is reaped, so that the one that stays,
 * init's to reap, leaves no zombie in slurmd. */
static void linger_child(int nsfd, int ready, int go)
{
    char c;

    if (fork() != 0)
        _exit(0);
    if (setns(nsfd, CLONE_NEWNS) == 0 && write(ready, "", 1) == 1)
        while (read(go, &c, 1) < 0 && errno == EINTR)
            ;
    _exit(0);
}

static int linger_in(int jobfd)
{
    int nsfd = pin_open_at(jobfd), ready[2], go[2];
    char c;
    pid_t pid;

    if (nsfd < 0)
        return -1;
    if (pipe2(ready, O_CLOEXEC) < 0) {
        close(nsfd);
        return -1;
    }
    if (pipe2(go, O_CLOEXEC) < 0) {
        close(ready[0]);
        close(ready[1]);
        close(nsfd);
        return -1;
    }
    if ((pid = fork()) == 0) {
        close(ready[0]);
        close(go[1]);
        linger_child(nsfd, ready[1], go[0]);
    }
    close(nsfd);
    close(ready[1]);
    close(go[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    /* Wait until the lingering process is inside (or gone): then the pin is no longer the last
     * hold. */
    while (pid > 0 && read(ready[0], &c, 1) < 0 && errno == EINTR)
        ;
    close(ready[0]);
    if (pid < 0) {
        close(go[1]);
        return -1;
    }
    return go[1];
}

/* Move the job's disk instances, BASE/job/JOBID, into the trash. */
static int trash_job_data(struct instance_store *s, struct trash *t, const char *name,
                          struct err *e)
{
    int jobs = store_open_sub(s, "job", e), rc;

    if (jobs < 0)
        return errno == ENOENT ? 0 : -1;
    rc = trash_move(s, t, jobs, name, e);
    close(jobs);
    return rc;
}

/* Unpin the job, drop its user references, move its instances into the trash and remove its
 * record (small and root-only): all that must be done under the store lock, and all quick. */
static int detach_job_locked(struct instance_store *s, struct trash *t, uint32_t job_id,
                             int *linger, struct err *e)
{
    char name[16];
    int jobs, rc = 0;

    store_job_name(job_id, name, sizeof(name));
    if ((jobs = store_open_rec(s, "job", e)) < 0)
        return errno == ENOENT ? 0 : -1;
    int jfd = safe_open_dir_at(jobs, name, NULL);
    if (jfd >= 0) {
        if (*linger < 0)
            *linger = linger_in(jfd);
        rc = unmount_at(jfd, "ns", e);
        close(jfd);
    }
    if (release_users(s, t, job_id, rc ? NULL : e) < 0)
        rc = -1;
    if (rc == 0)
        rc = trash_job_data(s, t, name, e);
    /* The record goes last: instances without one are swept, a record without a pin too. */
    if (rc == 0 && safe_remove_tree_at(jobs, name, e) < 0 && errno != ENOENT)
        rc = -1;
    close(jobs);
    return rc;
}

/* Everything of the job into the trash under the lock, then emptied without it (here, or with
 * DETACH by a detached process): removing a million files must not stall other jobs' starts. */
static int remove_job(struct instance_store *s, uint32_t job_id, bool detach, struct err *e)
{
    struct trash t = {0};
    int linger = -1, rc;

    if (instance_store_lock(s, e) < 0)
        return -1;
    rc = detach_job_locked(s, &t, job_id, &linger, e);
    instance_store_unlock(s);
    if (detach)
        trash_empty_detached(s, &t);
    else if (trash_empty(s, &t, rc ? NULL : e) < 0)
        rc = -1;
    if (linger >= 0)
        close(linger);
    return rc;
}

int instance_job_remove(struct instance_store *s, uint32_t job_id, struct err *e)
{
    return remove_job(s, job_id, false, e);
}

int instance_job_discard(struct instance_store *s, uint32_t job_id, struct err *e)
{
    return remove_job(s, job_id, true, e);
}

/* Whether BASE/job/JOBID exists. */
static bool has_job_data(struct instance_store *s, uint32_t job_id)
{
    char name[16];
    int fd;

    store_job_name(job_id, name, sizeof(name));
    if ((fd = open_id_dir(s, true, "job", name, false, NULL)) < 0)
        return false;
    close(fd);
    return true;
}

bool instance_job_exists(struct instance_store *s, uint32_t job_id)
{
    struct instance_job job;

    if (instance_job_open(s, job_id, false, &job, NULL) < 0)
        return has_job_data(s, job_id);
    instance_job_close(&job);
    return true;
}

/* A record is not this job's when it names another user (a job id belongs to one user), or
 * when the job it was made for has ended (store_job_alive). */
static bool record_is_stale(int jobfd, uid_t uid)
{
    struct job_state st;
    bool stale = false;

    if (read_state_at(jobfd, &st, NULL) == 0)
        stale = st.uid != uid;
    job_state_clear(&st);
    return stale || store_job_alive(jobfd) == 0;
}

/* Whether job JOB_ID has a record that is stale for UID (see record_is_stale), or instances
 * and no record (seen under the lock, no builder is making them: it makes the record first). */
static bool job_record_stale(struct instance_store *s, uint32_t job_id, uid_t uid)
{
    struct instance_job job;
    bool stale;

    if (instance_job_open(s, job_id, false, &job, NULL) < 0)
        return has_job_data(s, job_id);
    stale = record_is_stale(job.dirfd, uid);
    instance_job_close(&job);
    return stale;
}

int instance_job_drop_stale(struct instance_store *s, uint32_t job_id, uid_t uid, struct err *e)
{
    struct trash t = {0};
    int linger = -1, rc = 0;

    /* Every step asks: the common answer, a current record, costs no lock. */
    if (!job_record_stale(s, job_id, uid))
        return 0;
    if (instance_store_lock(s, e) < 0)
        return -1;
    if (job_record_stale(s, job_id, uid))
        rc = detach_job_locked(s, &t, job_id, &linger, e) < 0 ? -1 : 1;
    instance_store_unlock(s);
    if (trash_empty(s, &t, rc < 0 ? NULL : e) < 0 && rc >= 0)
        rc = -1;
    if (linger >= 0)
        close(linger);
    return rc;
}

/* A job is stale when it has ended on this node (its extern step is gone and its namespace
 * empty), or when its namespace is gone and it was set up in an earlier boot (or never finished:
 * its builder holds the store lock until the state is written). A job that may still run is
 * never stale. */
static bool job_is_stale(int jobs, const char *name, const char *boot)
{
    struct job_state st;
    int jfd = safe_open_dir_at(jobs, name, NULL);
    int pin, alive;
    bool stale;

    if (jfd < 0)
        return false;
    if ((alive = store_job_alive(jfd)) >= 0 || (pin = pin_open_at(jfd)) >= 0) {
        if (alive < 0)
            close(pin);
        close(jfd);
        return alive == 0;
    }
    if (read_state_at(jfd, &st, NULL) < 0)
        stale = true;
    else
        stale = strcmp(st.boot_id, boot) != 0;
    job_state_clear(&st);
    close(jfd);
    return stale;
}

/* The job id a directory NAME of ours spells; false for "05" or "+5": leave what we did not
 * name. */
static bool job_id_of(const char *name, uint32_t *id)
{
    char *end, canon[16];
    unsigned long v = strtoul(name, &end, 10);

    if (name[0] == '.' || *end || v > UINT32_MAX)
        return false;
    store_job_name((uint32_t)v, canon, sizeof(canon));
    *id = (uint32_t)v;
    return strcmp(canon, name) == 0;
}

static int sweep_jobs(struct instance_store *s, struct trash *t, int *linger, struct err *e,
                      int *removed)
{
    char boot[40];
    DIR *d = store_list_rec(s, "job", e);
    int rc = 0;
    struct dirent *de;
    uint32_t id;

    if (!d)
        return errno == ENOENT ? 0 : -1;
    read_boot_id(boot, sizeof(boot));
    while ((de = readdir(d))) {
        if (!job_id_of(de->d_name, &id) || !job_is_stale(dirfd(d), de->d_name, boot))
            continue;
        log_warn("removing instances of job %" PRIu32 ": it has ended, but no epilog removed them",
                 id);
        if (detach_job_locked(s, t, id, linger, rc ? NULL : e) < 0)
            rc = -1;
        else
            (*removed)++;
    }
    closedir(d);
    return rc;
}

/* Move job instances without a record into the trash: /run was emptied by a reboot, or their
 * builder died (it holds the lock while it makes both, so none is being built now). */
static int sweep_orphans(struct instance_store *s, struct trash *t, struct err *e, int *removed)
{
    DIR *d = store_list_sub(s, "job", e);
    int recs = store_open_rec(s, "job", e), rc = 0;
    struct dirent *de;
    uint32_t id;

    if (!d || recs < 0) {
        if (d)
            closedir(d);
        if (recs >= 0)
            close(recs);
        return errno == ENOENT ? 0 : -1;
    }
    while ((de = readdir(d))) {
        if (!job_id_of(de->d_name, &id) ||
            faccessat(recs, de->d_name, F_OK, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
            continue;
        log_warn("removing instances of job %" PRIu32 ": the job has no record (an earlier boot)",
                 id);
        if (trash_move(s, t, dirfd(d), de->d_name, rc ? NULL : e) < 0)
            rc = -1;
        else
            (*removed)++;
    }
    closedir(d);
    close(recs);
    return rc;
}

/* Drop references held by jobs that no longer have a record. */
static int sweep_user_refs(struct instance_store *s)
{
    int users = store_open_rec(s, "user", NULL);
    int jobs = store_open_rec(s, "job", NULL);
    DIR *d;
    struct dirent *de, *je;

    if (users < 0 || jobs < 0 || !(d = fdopendir(users))) {
        if (users >= 0)
            close(users);
        if (jobs >= 0)
            close(jobs);
        return 0;
    }
    while ((de = readdir(d))) {
        int ufd = de->d_name[0] == '.' ? -1 : safe_open_dir_at(dirfd(d), de->d_name, NULL);
        int rfd = ufd < 0 ? -1 : safe_open_dir_at(ufd, "jobs", NULL);
        DIR *rd = rfd < 0 ? NULL : fdopendir(rfd);
        while (rd && (je = readdir(rd))) {
            struct stat st;
            if (je->d_name[0] != '.' && fstatat(jobs, je->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                unlinkat(dirfd(rd), je->d_name, 0);
        }
        if (rd)
            closedir(rd);
        else if (rfd >= 0)
            close(rfd);
        if (ufd >= 0)
            close(ufd);
    }
    closedir(d);
    close(jobs);
    return 0;
}

int instance_sweep(struct instance_store *s, bool detach, struct err *e)
{
    struct trash t = {0};
    int removed = 0, linger = -1, rc;

    if (instance_store_lock(s, e) < 0)
        return -1;
    trash_claim_leftovers(s, &t);
    rc = sweep_jobs(s, &t, &linger, e, &removed);
    if (sweep_orphans(s, &t, rc ? NULL : e, &removed) < 0)
        rc = -1;
    sweep_user_refs(s);
    if (release_users(s, &t, 0, rc ? NULL : e) < 0)
        rc = -1;
    instance_store_unlock(s);
    if (detach)
        trash_empty_detached(s, &t);
    else if (trash_empty(s, &t, rc ? NULL : e) < 0)
        rc = -1;
    if (linger >= 0)
        close(linger);
    return rc < 0 ? -1 : removed;
}

bool instance_sweep_due(struct instance_store *s, int seconds)
{
    struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    struct stat st;
    time_t t = time(NULL);
    int fd;

    if (fstatat(s->rfd, ".swept", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_mtime <= t &&
        t - st.st_mtime < seconds)
        return false;
    fd = openat(s->rfd, ".swept", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
        futimens(fd, now);
        close(fd);
    }
    return true;
}
