/* Whether a job still runs on this node, from what the node itself knows (no question to
 * slurmctld, which may have forgotten the job). With PrologFlags=Contain every job has an extern
 * step for its whole life: its slurmstepd records itself in the job's directory as the holder
 * (pid and start time, so a reused pid does not count). A job whose holder is gone and whose
 * namespace has no process left has ended, whether or not its epilog ran. */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

#define HOLDER "holder"

/* Field 22 of /proc/PID/stat (start time in clock ticks since boot) in *START: the pair of pid
 * and start time names one process for the whole boot. -1 with errno ENOENT when there is no such
 * process or it has died (a zombie no one reaped: a slurmstepd whose parent, after slurmd's
 * restart, is an init that does not reap; a leader that exited while other threads run shows Z
 * too, but with more than one thread, and lives), or another errno when it cannot be told.
 * (No owner check: slurmstepd's /proc files belong to the user while it runs with the user's
 * effective uid.) */
static int proc_start(pid_t pid, unsigned long long *start)
{
    char path[64], buf[1024], *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        errno = n < 0 && errno == ESRCH ? ENOENT : n < 0 ? errno : EIO;
        return -1;
    }
    buf[n] = '\0';
    /* The name may hold spaces and parentheses: fields start after the last ')'. */
    p = strrchr(buf, ')');
    char state = p && p[1] == ' ' ? p[2] : '?';
    long threads = 0;
    for (int field = 2; p && field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (p && field == 19)
            threads = strtol(p + 1, NULL, 10);
    }
    if (!p || sscanf(p + 1, "%llu", start) != 1) {
        errno = EIO;
        return -1;
    }
    if ((state == 'Z' || state == 'X') && threads <= 1) {
        errno = ENOENT;
        return -1;
    }
    return 0;
}

int instance_job_hold(struct instance_store *s, uint32_t job_id, pid_t pid, struct err *e)
{
    struct instance_job job;
    unsigned long long start;
    char line[64];
    int fd, len, rc = 0;

    if (proc_start(pid, &start) < 0)
        return errprintf_errno(e, errno,
                               "job %" PRIu32 ": cannot read its extern step's start time", job_id);
    len = snprintf(line, sizeof(line), "%ld %llu\n", (long)pid, start);
    if (instance_job_open(s, job_id, false, &job, e) < 0)
        return -1;
    unlinkat(job.dirfd, HOLDER ".new", 0);
    fd = openat(job.dirfd, HOLDER ".new", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                0600);
    if (fd < 0 || write(fd, line, len) != len ||
        renameat(job.dirfd, HOLDER ".new", job.dirfd, HOLDER) < 0)
        rc = errprintf_errno(e, errno, "job %" PRIu32 ": cannot record its extern step", job_id);
    if (fd >= 0)
        close(fd);
    instance_job_close(&job);
    return rc;
}

/* 1: the recorded holder lives (or it cannot be told: never call a job dead on an error); 0: it
 * is gone; -1: none recorded. */
static int holder_alive(int jobfd)
{
    char line[64] = "";
    long pid = 0;
    unsigned long long start = 0, now;
    int fd = openat(jobfd, HOLDER, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, line, sizeof(line) - 1);
    close(fd);
    if (n <= 0 || sscanf(line, "%ld %llu", &pid, &start) != 2 || pid <= 0)
        return -1;
    if (proc_start((pid_t)pid, &now) < 0)
        return errno == ENOENT ? 0 : 1;
    return now == start;
}

/* Whether NS is one of the N namespaces PINS; mark it in USED. */
static void mark_ns(const struct stat *ns, const struct stat *pins, size_t n, bool *used)
{
    for (size_t i = 0; i < n; i++)
        if (ns->st_ino == pins[i].st_ino && ns->st_dev == pins[i].st_dev)
            used[i] = true;
}

/* Mark in USED the namespaces of PINS that the process /proc/PID, or one of its threads (its
 * leader may have exited while the others run), is in. */
static void proc_mark(const char *pid, const struct stat *pins, size_t n, bool *used)
{
    char path[600];
    struct stat ns;
    DIR *d;
    struct dirent *de;

    snprintf(path, sizeof(path), "/proc/%s/ns/mnt", pid);
    if (stat(path, &ns) == 0) {
        mark_ns(&ns, pins, n, used);
        return;
    }
    snprintf(path, sizeof(path), "/proc/%s/task", pid);
    if (!(d = opendir(path)))
        return;
    while ((de = readdir(d))) {
        snprintf(path, sizeof(path), "/proc/%s/task/%s/ns/mnt", pid, de->d_name);
        if (isdigit((unsigned char)de->d_name[0]) && stat(path, &ns) == 0)
            mark_ns(&ns, pins, n, used);
    }
    closedir(d);
}

/* Which of the N namespaces PINS some process is in (USED); all of them when it cannot be told.
 * One pass over /proc, whatever N. */
static void pins_in_use(const struct stat *pins, size_t n, bool *used)
{
    DIR *d = opendir("/proc");
    struct dirent *de;

    for (size_t i = 0; i < n; i++)
        used[i] = !d;
    while (d && (de = readdir(d)))
        if (isdigit((unsigned char)de->d_name[0]))
            proc_mark(de->d_name, pins, n, used);
    if (d)
        closedir(d);
}

/* Whether any process is in the mount namespace pinned at JOBFD/ns; true when it cannot be told. */
static bool ns_in_use(int jobfd)
{
    struct stat pin;
    bool used;

    if (fstatat(jobfd, "ns", &pin, AT_SYMLINK_NOFOLLOW) < 0)
        return errno != ENOENT;
    pins_in_use(&pin, 1, &used);
    return used;
}

void store_jobs_in_use(const int *jobfds, size_t n, bool *used)
{
    struct stat *pins = calloc(n + 1, sizeof(*pins));
    size_t *of = calloc(n + 1, sizeof(*of)); /* the job of each pin */
    bool *pin_used = calloc(n + 1, sizeof(*pin_used));
    size_t npins = 0;

    for (size_t i = 0; i < n; i++) {
        used[i] = true;
        if (!pins || !of || !pin_used || holder_alive(jobfds[i]) == 1)
            continue;
        if (fstatat(jobfds[i], "ns", &pins[npins], AT_SYMLINK_NOFOLLOW) == 0)
            of[npins++] = i;
        else if (errno == ENOENT)
            used[i] = false;
    }
    if (npins)
        pins_in_use(pins, npins, pin_used);
    for (size_t k = 0; k < npins; k++)
        used[of[k]] = pin_used[k];
    free(pins);
    free(of);
    free(pin_used);
}

int store_job_alive(int jobfd)
{
    int holder = holder_alive(jobfd);

    if (holder != 0)
        return holder;
    return ns_in_use(jobfd) ? 1 : 0;
}

bool instance_job_in_use(struct instance_store *s, uint32_t job_id)
{
    struct instance_job job;
    struct err ignored;
    bool alive;

    if (instance_job_open(s, job_id, false, &job, &ignored) < 0)
        return false;
    alive = holder_alive(job.dirfd) == 1 || ns_in_use(job.dirfd);
    instance_job_close(&job);
    return alive;
}
