/* ns: running the builder in a child process and pinning the namespace it made, so that it
 * outlives the child; retried on each CPU when the kernel takes the pin for a loop. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
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

/* What the child runs, and where it leaves its answer: in the caller's memory, which it shares. */
struct child {
    int (*fn)(const void *, struct err *);
    const void *arg;
    struct err *e;
};

static int child_start(void *arg)
{
    struct child *c = arg;
    int rc = c->fn(c->arg, c->e);

    return rc == -PIN_LOOP ? PIN_LOOP : rc < 0 ? 1 : 0;
}

#define CHILD_STACK (1024 * 1024)

/* FN runs in a child that shares the caller's memory while the caller waits for it (as
 * posix_spawn's does): nothing of the caller is copied, which in a large slurmstepd costs
 * milliseconds a fork, and a lock another thread holds (the log's) is only waited for. The child
 * is a process of its own (no CLONE_FS, no CLONE_THREAD), so setns and unshare work in it even
 * when the caller has threads. Signals stay blocked in it: no handler of the caller's runs on
 * its stack. */
int ns_run_in_child(int (*fn)(const void *, struct err *), const void *arg, struct err *e)
{
    struct child c = {fn, arg, e};
    sigset_t all, old;
    int status, errnum;
    char *stack;
    pid_t pid;

    stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                 -1, 0);
    if (stack == MAP_FAILED)
        return errprintf_errno(e, errno, "cannot make a stack for the child");
    /* the lowest page stays unmapped-like: an overflow faults instead of writing the caller's */
    if (mprotect(stack, 4096, PROT_NONE) < 0) {
        errnum = errno;
        munmap(stack, CHILD_STACK);
        return errprintf_errno(e, errnum, "cannot make a stack for the child");
    }
    e->text[0] = '\0';
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = clone(child_start, stack + CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
    errnum = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(stack, CHILD_STACK);
    if (pid < 0)
        return errprintf_errno(e, errnum, "cannot start a child");
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
