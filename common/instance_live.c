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

#include "instance_int.h"

#define HOLDER "holder"

/* Field 22 of /proc/PID/stat (start time in clock ticks since boot); 0 if PID is not a live
 * process of root's. */
static unsigned long long proc_start(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long long start = 0;
    struct stat st;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    n = fstat(fd, &st) == 0 && st.st_uid == 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* The name may hold spaces and parentheses: fields start after the last ')'. */
    if (!(p = strrchr(buf, ')')))
        return 0;
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    if (p && sscanf(p + 1, "%llu", &start) != 1)
        start = 0;
    return start;
}

int instance_job_hold(struct instance_store *s, uint32_t job_id, struct err *e)
{
    struct instance_job job;
    char line[64];
    int fd, len, rc = 0;

    len = snprintf(line, sizeof(line), "%ld %llu\n", (long)getpid(), proc_start(getpid()));
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

/* 1: the recorded holder lives; 0: it is gone; -1: none recorded. */
static int holder_alive(int jobfd)
{
    char line[64] = "";
    long pid = 0;
    unsigned long long start = 0;
    int fd = openat(jobfd, HOLDER, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, line, sizeof(line) - 1);
    close(fd);
    if (n <= 0 || sscanf(line, "%ld %llu", &pid, &start) != 2 || pid <= 0)
        return -1;
    return start && proc_start((pid_t)pid) == start;
}

/* Whether any process is in the mount namespace pinned at JOBFD/ns. */
static bool ns_in_use(int jobfd)
{
    struct stat pin, ns;
    char path[300];
    DIR *d;
    struct dirent *de;
    bool used = false;

    if (fstatat(jobfd, "ns", &pin, AT_SYMLINK_NOFOLLOW) < 0 || !(d = opendir("/proc")))
        return false;
    while (!used && (de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        snprintf(path, sizeof(path), "/proc/%s/ns/mnt", de->d_name);
        used = stat(path, &ns) == 0 && ns.st_ino == pin.st_ino && ns.st_dev == pin.st_dev;
    }
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
