/* Libraries loaded the first time something needs them: libmount when a mount table or a mount
 * option string is read, libyaml when a policy is parsed.
 *
 * Linking them would load them, libmount with libblkid, libselinux and libpcre2 and their
 * constructors, into every process that loads the plugin: srun, and every step's slurmstepd,
 * which need neither when the job has a record (libmount's chain costs about 0.45 ms per process
 * on the 2-CPU machine of bench/, libyaml 0.07 ms). The prolog, isolationctl and the policy
 * checker load them on first use, once per process. */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "util/util.h"

/* dlopen SONAME into *HANDLE; false with the reason in FAILURE. Never closed: what the library
 * returned may still be in use, and a reload costs what this saves. */
static bool open_lib(const char *soname, const char *what, void **handle, char *failure,
                     size_t size)
{
    if ((*handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL)))
        return true;
    snprintf(failure, size, "cannot load %s (%s): %s", soname, what, dlerror());
    return false;
}

static void no_symbol(const char *soname, const char *missing, char *failure, size_t size)
{
    snprintf(failure, size, "%s has no %s: the library is older than this build's", soname,
             missing);
}

#define LAZY_SYMBOL(f)                                                                             \
    if (!missing && !(api.f = (__typeof__(api.f))dlsym(h, #f)))                                    \
        missing = #f;

/* Each library: its table, the reason it could not be loaded, and its pthread_once. */
#define LAZY_LIB(name, soname, what, FUNCS)                                                        \
    static struct name api_##name;                                                                 \
    static char failure_##name[512];                                                               \
    static pthread_once_t once_##name = PTHREAD_ONCE_INIT;                                         \
    static void load_##name(void)                                                                  \
    {                                                                                              \
        struct name api = {0};                                                                     \
        const char *missing = NULL;                                                                \
        void *h;                                                                                   \
        if (!open_lib(soname, what, &h, failure_##name, sizeof(failure_##name)))                   \
            return;                                                                                \
        FUNCS(LAZY_SYMBOL)                                                                         \
        if (missing)                                                                               \
            no_symbol(soname, missing, failure_##name, sizeof(failure_##name));                    \
        else                                                                                       \
            api_##name = api;                                                                      \
    }                                                                                              \
    const struct name *name##_get(struct err *e)                                                   \
    {                                                                                              \
        pthread_once(&once_##name, load_##name);                                                   \
        if (failure_##name[0]) {                                                                   \
            errprintf(e, "%s", failure_##name);                                                    \
            return NULL;                                                                           \
        }                                                                                          \
        return &api_##name;                                                                        \
    }

LAZY_LIB(libmount, LIBMOUNT_SONAME, "util-linux's libmount", LIBMOUNT_FUNCS)
LAZY_LIB(libyaml, LIBYAML_SONAME, "the YAML parser", LIBYAML_FUNCS)
