/* libFuzzer target for the policy loader: any bytes are parsed; a policy that loads has the view
 * of every profile built, and every diagnostic is formatted. Lint is left out (it asks NSS and
 * the file system, which would make runs depend on the host). Built and run by t/t0003-fuzz.t. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/util.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct diag_list d;
    struct policy *p;
    char line[2048];

    diag_list_init(&d, "fuzz.yaml");
    p = policy_parse((const char *)data, size, "fuzz.yaml", &d);
    /* A policy is returned exactly when there is no error. */
    if ((p != NULL) != (d.errors == 0))
        __builtin_trap();
    for (size_t i = 0; p && i < p->nprofiles; i++) {
        struct profile_view *v = profile_view_get(p, p->profiles[i].name);
        /* A valid policy resolves every profile's chain. */
        if (!v)
            __builtin_trap();
        for (size_t j = 0; j < v->nmounts; j++)
            if (!v->mounts[j]->target)
                __builtin_trap();
        profile_view_free(v);
    }
    if (p && profile_view_get(p, "none"))
        __builtin_trap();
    for (size_t i = 0; i < d.count; i++) {
        diag_format(&d, i, line, sizeof(line));
        if (!memchr(line, '\0', sizeof(line)))
            __builtin_trap();
    }
    policy_free(p);
    diag_list_free(&d);
    return 0;
}
