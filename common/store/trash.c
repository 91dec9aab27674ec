/* The store's trash: BASE/trash/ holds what is being removed. Under the store lock a job's
 * directory (or a user's) is only renamed into it, which is instant; the removal walk, which
 * can take minutes on a tree of a million files, runs after the lock is released, so other jobs
 * start meanwhile. Each entry is flock()ed by the one remover that claimed it; an entry left by
 * a remover that died is claimed by the next sweep. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"
#include "util/util.h"
#include "fs/fs.h"

static int trash_dir(struct instance_store *s, struct err *e)
{
    return safe_mkdir_at(s->fd, "trash", 0700, 0, 0, e);
}

static int trash_add(struct trash *t, int fd, const char *name, bool leftover)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 4;
        struct trash_item *items = realloc(t->items, cap * sizeof(*items));
        if (!items)
            return -1;
        t->items = items;
        t->cap = cap;
    }
    t->items[t->n].fd = fd;
    t->items[t->n].leftover = leftover;
    snprintf(t->items[t->n].name, sizeof(t->items[t->n].name), "%s", name);
    t->n++;
    return 0;
}

/* Open and lock the entry NAME of the trash; -1 if it is gone or someone else removes it. */
static int claim(int trashfd, const char *name)
{
    int fd = openat(trashfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A name no other entry has: what it was, which process moved it, and when. */
static void fresh_name(const char *name, char *buf, size_t size)
{
    static unsigned long seq;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, size, "%.24s.%ld.%lld%09ld.%lu", name, (long)getpid(), (long long)ts.tv_sec,
             ts.tv_nsec, seq++);
}

int trash_move(struct instance_store *s, struct trash *t, int dirfd, const char *name,
               struct err *e)
{
    char fresh[64];
    int trashfd = trash_dir(s, e), fd = -1;

    if (trashfd < 0)
        return -1;
    fresh_name(name, fresh, sizeof(fresh));
    if (renameat2(dirfd, name, trashfd, fresh, RENAME_NOREPLACE) < 0) {
        int errnum = errno;
        close(trashfd);
        if (errnum == ENOENT)
            return 0;
        return errprintf_errno(e, errnum, "%s: cannot move %s into the trash", s->path, name);
    }
    /* Claimed at once, so a sweep never takes an entry its remover is about to remove. */
    if ((fd = claim(trashfd, fresh)) < 0 || trash_add(t, fd, fresh, false) < 0) {
        if (fd >= 0)
            close(fd);
        log_warn("%s/trash/%s: left for the next sweep", s->path, fresh);
    }
    close(trashfd);
    return 0;
}

void trash_claim_leftovers(struct instance_store *s, struct trash *t)
{
    int trashfd = store_open_sub(s, "trash", NULL), fd;
    DIR *d;
    struct dirent *de;

    if (trashfd < 0)
        return;
    if (!(d = fdopendir(trashfd))) {
        close(trashfd);
        return;
    }
    while ((de = readdir(d))) {
        /* Dot-names are what the removal walk gave up on: left alone, logged when it did. */
        if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(t->items[0].name))
            continue;
        if ((fd = claim(dirfd(d), de->d_name)) >= 0 && trash_add(t, fd, de->d_name, true) < 0)
            close(fd);
    }
    closedir(d);
}

/* Sized instances first, so that their quotas go with them; an entry already gone is no error. */
static int remove_entry(int trashfd, const char *name, struct err *e)
{
    if (quota_remove_instances_in(trashfd, name, e) < 0)
        return -1;
    if (safe_remove_tree_at(trashfd, name, e) < 0 && errno != ENOENT)
        return -1;
    return 0;
}

/* The last resort, when an entry already failed once: a dot-name the sweep skips, so that no
 * later sweep walks it again; said once, here. */
static void set_aside(struct instance_store *s, int trashfd, const char *name)
{
    char aside[NAME_MAX + 1];

    if (safe_set_aside_at(trashfd, name, aside, sizeof(aside), NULL) == 0)
        log_error("%s/trash/%s could not be removed; moved to %s/trash/%s, which is not swept: "
                  "remove it by hand",
                  s->path, name, s->path, aside);
}

int trash_empty(struct instance_store *s, struct trash *t, struct err *e)
{
    int trashfd = t->n ? store_open_sub(s, "trash", e) : -1, rc = 0;

    if (t->n && trashfd < 0)
        rc = -1;
    for (size_t i = 0; i < t->n; i++) {
        const char *name = t->items[i].name;
        if (trashfd >= 0 && remove_entry(trashfd, name, rc ? NULL : e) < 0) {
            rc = -1;
            if (t->items[i].leftover)
                set_aside(s, trashfd, name);
        }
        close(t->items[i].fd);
    }
    if (trashfd >= 0)
        close(trashfd);
    free(t->items);
    *t = (struct trash){0};
    return rc;
}

/* In the detached remover: stdin, stdout and stderr on /dev/null, and no socket or pipe of the
 * caller kept open (slurmd's listening ports, a prolog's output pipe that slurmd reads to its
 * end). Regular files (logs) and directories (the store) stay. */
static void detach_from_caller(void)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    struct stat st;

    for (int fd = 0; null >= 0 && fd < 3; fd++)
        dup2(null, fd);
    while (d && (de = readdir(d))) {
        int fd = atoi(de->d_name);
        if (fd > 2 && fd != dirfd(d) && fstat(fd, &st) == 0 &&
            (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode)))
            close(fd);
    }
    if (d)
        closedir(d);
    setsid();
}

int trash_finish(struct instance_store *s, struct trash *t, bool detach, int linger, int rc,
                 struct err *e)
{
    instance_store_unlock(s);
    if (detach)
        trash_empty_detached(s, t);
    else if (trash_empty(s, t, rc ? NULL : e) < 0)
        rc = -1;
    if (linger >= 0)
        close(linger);
    return rc;
}

void trash_empty_detached(struct instance_store *s, struct trash *t)
{
    struct err e;
    pid_t pid;

    if (!t->n)
        return;
    if ((pid = fork()) == 0) {
        /* The child exits at once and is reaped here; its child, init's, does the work. */
        if (fork() == 0) {
            detach_from_caller();
            if (trash_empty(s, t, &e) < 0)
                log_error("%s/trash: %s", s->path, e.text);
            _exit(0);
        }
        _exit(0);
    }
    if (pid < 0) {
        if (trash_empty(s, t, &e) < 0)
            log_error("%s/trash: %s", s->path, e.text);
        return;
    }
    waitpid(pid, NULL, 0);
    /* Closing our copies does not release the claims: the remover holds the same files. */
    for (size_t i = 0; i < t->n; i++)
        close(t->items[i].fd);
    free(t->items);
    *t = (struct trash){0};
}
