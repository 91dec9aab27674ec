/* ns: running the builder in a child process and pinning the namespace it made, so that it
 * outlives the child; retried on each CPU when the kernel takes the pin for a loop. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ns/ns.h"
#include "ns_int.h"

/* Back in the host namespace, bind this namespace's file onto the pin. */
static int pin(int hostns, int pinfd, struct err *e)
{
    char src[64], dst[64];
    int self = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);

    if (self < 0)
        return errprintf_errno(e, errno, "cannot open the new namespace");
    if (setns(hostns, CLONE_NEWNS) < 0) {
        close(self);
        return errprintf_errno(e, errno, "cannot return to the host namespace");
    }
    snprintf(src, sizeof(src), "/proc/self/fd/%d", self);
    snprintf(dst, sizeof(dst), "/proc/self/fd/%d", pinfd);
    int rc = mount(src, dst, NULL, MS_BIND, NULL);
    close(self);
    if (rc < 0 && errno == EINVAL) {
        errprintf_errno(e, errno, "cannot pin the namespace (the kernel sees a loop)");
        return -PIN_LOOP;
    }
    if (rc < 0)
        return errprintf_errno(e, errno, "cannot pin the namespace");
    return 0;
}

static int child_main(const struct ns_request *r, struct err *e)
{
    int hostns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    int pinfd =
        openat(r->pin_dirfd, r->pin_name, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

    if (hostns < 0 || pinfd < 0)
        return errprintf_errno(e, errno, "cannot prepare the pin");
    if (ns_build_here(r, e) < 0)
        return -1;
    return pin(hostns, pinfd, e);
}

/* Run FN in a forked child (single-threaded, so setns is allowed) and carry its message back. */
int ns_run_in_child(int (*fn)(const void *, struct err *), const void *arg, struct err *e)
{
    int fds[2], status;
    ssize_t n;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0)
        return errprintf_errno(e, errno, "pipe");
    if ((pid = fork()) < 0) {
        close(fds[0]);
        close(fds[1]);
        return errprintf_errno(e, errno, "fork");
    }
    if (pid == 0) {
        struct err ce = {""};
        close(fds[0]);
        int rc = fn(arg, &ce);
        if (rc < 0 && write(fds[1], ce.text, strlen(ce.text)) < 0)
            _exit(2);
        _exit(rc == -PIN_LOOP ? PIN_LOOP : rc < 0 ? 1 : 0);
    }
    close(fds[1]);
    e->text[0] = '\0';
    n = read(fds[0], e->text, sizeof(e->text) - 1);
    e->text[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return errprintf_errno(e, errno, "waitpid");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (!e->text[0])
        errprintf(e, "the child died (status 0x%x)", status);
    return WIFEXITED(status) && WEXITSTATUS(status) == PIN_LOOP ? -PIN_LOOP : -1;
}

struct build_args {
    const struct ns_request *r;
    int cpu; /* -1: wherever the scheduler puts the builder */
};

static int build_fn(const void *arg, struct err *e)
{
    const struct build_args *a = arg;

    if (a->cpu >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(a->cpu, &one);
        sched_setaffinity(0, sizeof(one), &one);
    }
    return child_main(a->r, e);
}

/* The kernel refuses to pin a namespace it takes for older than the pinning one (a loop). Newer
 * kernels number namespaces from per-CPU batches, so one made later on another CPU can look
 * older: then build again on each CPU in turn, one of which numbers higher. (A CPU the builder
 * may not use just leaves it where it is.) */
int nsjob_build(const struct ns_request *r, struct err *e)
{
    struct build_args a = {r, -1};
    long ncpus = sysconf(_SC_NPROCESSORS_ONLN);
    int rc = ns_run_in_child(build_fn, &a, e);

    for (a.cpu = 0; rc == -PIN_LOOP && a.cpu < ncpus && a.cpu < CPU_SETSIZE; a.cpu++)
        rc = ns_run_in_child(build_fn, &a, e);
    return rc < 0 ? -1 : 0;
}
