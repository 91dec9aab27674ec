/* libmount, loaded the first time something reads a mount table or a mount option string.
 *
 * Linking it would load it, with libblkid, libselinux and libpcre2 and their constructors, into
 * every process that loads the plugin: srun, and every step's slurmstepd, which need none of it
 * when the job has a record (about 0.45 ms per process on the 2-CPU machine of bench/). The
 * prolog, isolationctl and the policy checker load it on first use, once per process. */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "util/util.h"

static struct libmount api;
static char failure[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    void *h = dlopen(LIBMOUNT_SONAME, RTLD_NOW | RTLD_LOCAL);
    const char *missing = NULL;

    if (!h) {
        snprintf(failure, sizeof(failure), "cannot load %s (util-linux's libmount): %s",
                 LIBMOUNT_SONAME, dlerror());
        return;
    }
#define LIBMOUNT_LOAD(f)                                                                           \
    if (!missing && !(api.f = (__typeof__(api.f))dlsym(h, #f)))                                    \
        missing = #f;
    LIBMOUNT_FUNCS(LIBMOUNT_LOAD)
#undef LIBMOUNT_LOAD
    if (missing)
        snprintf(failure, sizeof(failure), "%s has no %s: libmount is older than this build's",
                 LIBMOUNT_SONAME, missing);
    /* never closed: what it returned may still be in use, and a reload costs what this saves */
}

const struct libmount *libmount_get(struct err *e)
{
    pthread_once(&once, load);
    if (failure[0]) {
        errprintf(e, "%s", failure);
        return NULL;
    }
    return &api;
}
