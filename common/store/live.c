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

/* Whether the process /proc/PID, or one of its threads (its leader may have exited while the
 * others run), is in the namespace PIN. */
static bool proc_in_ns(const char *pid, const struct stat *pin)
{
    char path[600];
    struct stat ns;
    DIR *d;
    struct dirent *de;
    bool in = false;

    snprintf(path, sizeof(path), "/proc/%s/ns/mnt", pid);
    if (stat(path, &ns) == 0)
        return ns.st_ino == pin->st_ino && ns.st_dev == pin->st_dev;
    snprintf(path, sizeof(path), "/proc/%s/task", pid);
    if (!(d = opendir(path)))
        return false;
    while (!in && (de = readdir(d))) {
        snprintf(path, sizeof(path), "/proc/%s/task/%s/ns/mnt", pid, de->d_name);
        in = isdigit((unsigned char)de->d_name[0]) && stat(path, &ns) == 0 &&
             ns.st_ino == pin->st_ino && ns.st_dev == pin->st_dev;
    }
    closedir(d);
    return in;
}

/* Whether any process is in the mount namespace pinned at JOBFD/ns; true when it cannot be told. */
static bool ns_in_use(int jobfd)
{
    struct stat pin;
    DIR *d;
    struct dirent *de;
    bool used = false;

    if (fstatat(jobfd, "ns", &pin, AT_SYMLINK_NOFOLLOW) < 0)
        return errno != ENOENT;
    if (!(d = opendir("/proc")))
        return true;
    while (!used && (de = readdir(d)))
        used = isdigit((unsigned char)de->d_name[0]) && proc_in_ns(de->d_name, &pin);
    closedir(d);
    return used;
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
