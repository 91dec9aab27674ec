/* A profile's effective content after inheritance (isolation.yaml(5), "Inheritance"): the
 * planner reads it through profile_view_get, validation through view_build, on invalid policies
 * too (a chain is followed as far as it resolves). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

/* The chain PR, its parent, ... as far as it resolves; *COMPLETE says whether it ended cleanly
 * (an unknown parent or a cycle does not). SORTED, if not NULL, speeds up the lookups. */
static const struct profile **chain_of(const struct policy *p, const struct profile *pr,
                                       const struct profile *const *sorted, size_t *len,
                                       bool *complete)
{
    const struct profile **v = calloc(p->nprofiles + 1, sizeof(*v));
    size_t n = 0;

    *complete = false;
    if (!v)
        return NULL;
    while (pr && n < p->nprofiles) {
        v[n++] = pr;
        if (!pr->inherits) {
            *complete = true;
            break;
        }
        pr = sorted ? profile_find_sorted(sorted, p->nprofiles, pr->inherits)
                    : policy_profile(p, pr->inherits);
    }
    *len = n;
    return v;
}

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* A polydir of Q replaces the inherited one for the same path, in place, or is added. */
static void view_merge_polydirs(struct profile_view *v, const struct profile *q)
{
    for (size_t i = 0; i < q->npolydirs; i++) {
        size_t j = 0;
        while (j < v->npolydirs && !same(v->polydirs[j]->path, q->polydirs[i].path))
            j++;
        v->polydirs[j] = &q->polydirs[i];
        if (j == v->npolydirs)
            v->npolydirs++;
    }
}

/* Hidden paths add up, each once. */
static void view_merge_hide(struct profile_view *v, const struct profile *q)
{
    for (size_t i = 0; i < q->nhide; i++) {
        size_t j = 0;
        while (j < v->nhide && !same(v->hide[j]->path, q->hide[i].path))
            j++;
        if (j == v->nhide)
            v->hide[v->nhide++] = &q->hide[i];
    }
}

/* A variable of Q replaces the inherited one of the same name, in place, or is added. */
static void view_merge_env(struct profile_view *v, const struct profile *q)
{
    for (size_t i = 0; i < q->nenv; i++) {
        size_t j = 0;
        while (j < v->nenv && !same(v->env[j]->name, q->env[i].name))
            j++;
        v->env[j] = &q->env[i];
        if (j == v->nenv)
            v->nenv++;
    }
}

struct profile_view *view_build(const struct policy *p, const struct profile *pr,
                                const struct profile *const *sorted, bool *complete)
{
    struct profile_view *v = calloc(1, sizeof(*v));
    size_t len = 0, np = 0, nm = 0, nh = 0, ne = 0;
    const struct profile **chain = chain_of(p, pr, sorted, &len, complete);

    if (!v || !chain)
        goto fail;
    v->name = pr->name;
    for (size_t k = 0; k < len; k++) {
        np += chain[k]->npolydirs;
        nm += chain[k]->nmounts;
        nh += chain[k]->nhide;
        ne += chain[k]->nenv;
    }
    v->polydirs = calloc(np + 1, sizeof(*v->polydirs));
    v->mounts = calloc(nm + 1, sizeof(*v->mounts));
    v->hide = calloc(nh + 1, sizeof(*v->hide));
    v->env = calloc(ne + 1, sizeof(*v->env));
    if (!v->polydirs || !v->mounts || !v->hide || !v->env)
        goto fail;
    /* Mounts: the profile's first, then its parent's, and so on up. */
    for (size_t k = 0; k < len; k++)
        for (size_t i = 0; i < chain[k]->nmounts; i++)
            v->mounts[v->nmounts++] = &chain[k]->mounts[i];
    /* The rest from the top ancestor down, each level replacing what it redefines. */
    for (size_t k = len; k-- > 0;) {
        view_merge_polydirs(v, chain[k]);
        view_merge_hide(v, chain[k]);
        view_merge_env(v, chain[k]);
    }
    free(chain);
    return v;
fail:
    free(chain);
    profile_view_free(v);
    return NULL;
}

struct profile_view *profile_view_get(const struct policy *p, const char *name)
{
    const struct profile *pr = policy_profile(p, name);
    struct profile_view *v;
    bool complete;

    if (!pr) {
        errno = ENOENT;
        return NULL;
    }
    if (!(v = view_build(p, pr, NULL, &complete))) {
        errno = ENOMEM;
        return NULL;
    }
    if (!complete) {
        profile_view_free(v);
        errno = ENOENT;
        return NULL;
    }
    return v;
}

void profile_view_free(struct profile_view *v)
{
    if (!v)
        return;
    free(v->polydirs);
    free(v->mounts);
    free(v->hide);
    free(v->env);
    free(v);
}
