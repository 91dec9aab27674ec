/* Shared set-up for tests that mount: a private mount namespace and a root-only scratch dir. */
#ifndef ISO_TESTFS_H
#define ISO_TESTFS_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

/* A set-up step that fails makes the rest meaningless: stop with the reason. */
#define must(call)                                                                                 \
    do {                                                                                           \
        if ((call) < 0) {                                                                          \
            printf("Bail out! set-up failed: %s: %s\n", #call, strerror(errno));                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Everything the test mounts stays in its own namespace and vanishes with it. Also returns a
 * fresh directory, root 0700, under /var/lib (not /tmp: the base may not live under a
 * world-writable directory). */
static inline const char *testfs_setup(void)
{
    static char dir[] = "/var/lib/isolation-test-XXXXXX";

    if (geteuid() != 0)
        skip_all("needs root to create mount namespaces");
    if (unshare(CLONE_NEWNS) < 0)
        skip_all("cannot create a mount namespace here");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        skip_all("cannot make / private");
    if (!mkdtemp(dir))
        skip_all("cannot create a scratch directory under /var/lib");
    chmod(dir, 0700);
    /* A tmpfs keeps the scratch space off the real disk and is dropped with the namespace. */
    if (mount("tmpfs", dir, "tmpfs", 0, "mode=0700") < 0)
        skip_all("cannot mount a tmpfs");
    return dir;
}

static inline void testfs_cleanup(const char *dir)
{
    umount2(dir, MNT_DETACH);
    rmdir(dir);
}

static inline int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static inline char *read_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f)
        return NULL;
    n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

#endif
