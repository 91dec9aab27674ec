/* ns: entering a job's namespace, resizing a tmpfs inside it, and the host's view of a polydir. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "ns/ns.h"
#include "fs/fs.h"
#include "ns_int.h"

void nsjob_current(char *buf, size_t size)
{
    struct stat st;

    buf[0] = '\0';
    if (stat("/proc/self/ns/mnt", &st) == 0)
        snprintf(buf, size, "%lu:%lu", (unsigned long)st.st_dev, (unsigned long)st.st_ino);
}

bool nsjob_is_current(int nsfd)
{
    struct stat here, pin;

    return stat("/proc/self/ns/mnt", &here) == 0 && fstat(nsfd, &pin) == 0 &&
           here.st_dev == pin.st_dev && here.st_ino == pin.st_ino;
}

static int resize_in_child(int nsfd, const char *path, uint64_t bytes, struct err *e)
{
    char num[32];
    struct statfs sf;
    int fd, fs = -1, rc = -1;

    if (setns(nsfd, CLONE_NEWNS) < 0)
        return errprintf_errno(e, errno, "cannot enter the job's namespace");
    if ((fd = safe_resolve(path, 0, NULL, e)) < 0)
        return -1;
    if (fstatfs(fd, &sf) < 0 || sf.f_type != 0x01021994) {
        errprintf(e, "%s is not a tmpfs in the job's namespace", path);
        goto out;
    }
    snprintf(num, sizeof(num), "%" PRIu64, bytes);
    if ((fs = fspick(fd, "", FSPICK_EMPTY_PATH | FSPICK_CLOEXEC)) < 0 ||
        fsconfig(fs, FSCONFIG_SET_STRING, "size", num, 0) < 0 ||
        fsconfig(fs, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) < 0) {
        errprintf_errno(e, errno, "%s: cannot set its size to %s bytes", path, num);
        goto out;
    }
    rc = 0;
out:
    if (fs >= 0)
        close(fs);
    close(fd);
    return rc;
}

struct resize_args {
    int nsfd;
    const char *path;
    uint64_t bytes;
};

static int resize_fn(const void *arg, struct err *e)
{
    const struct resize_args *a = arg;

    return resize_in_child(a->nsfd, a->path, a->bytes, e);
}

int nsjob_resize_tmpfs(int nsfd, const char *path, uint64_t bytes, struct err *e)
{
    struct resize_args a = {nsfd, path, bytes};

    return ns_run_in_child(resize_fn, &a, e);
}

int nsjob_enter(int nsfd, struct err *e)
{
    if (setns(nsfd, CLONE_NEWNS) == 0)
        return 0;
    if (errno == EINVAL)
        return errprintf_errno(e, errno,
                               "cannot enter the job's namespace (has another plugin "
                               "started a thread in the task?)");
    return errprintf_errno(e, errno, "cannot enter the job's namespace");
}

int nsjob_host_mode(const char *path, mode_t *mode, struct err *e)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errprintf_errno(e, errno, "polydir %s", path);
    if (!S_ISDIR(st.st_mode))
        return errprintf(e, "polydir %s is not a directory on this node", path);
    *mode = st.st_mode & 07777;
    return 0;
}
