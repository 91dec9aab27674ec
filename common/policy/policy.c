/* The policy model of policy.h: freeing it, finding profiles and partitions in it by name, and
 * the names of its enumerations. Loading it starts in read.c. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "policy_int.h"

const char *const mount_type_names[] = {"bind", "symlink", "tmpfs", "dir", NULL};

void name_list_free(struct name_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->names[i]);
    free(l->names);
    free(l->locs);
}

static void profile_free(struct profile *pr)
{
    for (size_t i = 0; i < pr->npolydirs; i++)
        free(pr->polydirs[i].path);
    for (size_t i = 0; i < pr->nmounts; i++) {
        struct mount_entry *m = &pr->mounts[i];
        free(m->source);
        free(m->target);
        free(m->options);
        filter_clear(&m->groups);
        filter_clear(&m->users);
    }
    for (size_t i = 0; i < pr->nhide; i++)
        free(pr->hide[i].path);
    for (size_t i = 0; i < pr->nenv; i++) {
        free(pr->env[i].name);
        free(pr->env[i].value);
    }
    free(pr->polydirs);
    free(pr->mounts);
    free(pr->hide);
    free(pr->env);
    free(pr->inherits);
    free(pr->name);
}

void policy_free(struct policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nprofiles; i++)
        profile_free(&p->profiles[i]);
    for (size_t i = 0; i < p->npartitions; i++) {
        free(p->partitions[i].name);
        free(p->partitions[i].default_profile);
        name_list_free(&p->partitions[i].allowed);
    }
    name_list_free(&p->allowed);
    login_free(&p->login);
    free(p->base_template);
    free(p->profiles);
    free(p->partitions);
    free(p->default_profile);
    free(p->instance_base);
    free(p->file);
    free(p);
}

const struct profile *policy_profile(const struct policy *p, const char *name)
{
    for (size_t i = 0; name && i < p->nprofiles; i++)
        if (strcmp(p->profiles[i].name, name) == 0)
            return &p->profiles[i];
    return NULL;
}

const struct partition *policy_partition(const struct policy *p, const char *name)
{
    for (size_t i = 0; name && i < p->npartitions; i++)
        if (strcmp(p->partitions[i].name, name) == 0)
            return &p->partitions[i];
    return NULL;
}

int profile_cmp_name(const void *a, const void *b)
{
    const struct profile *const *x = a, *const *y = b;

    return strcmp((*x)->name, (*y)->name);
}

const struct profile *profile_find_sorted(const struct profile *const *sorted, size_t n,
                                          const char *name)
{
    struct profile key = {.name = (char *)name};
    const struct profile *kp = &key;
    const struct profile *const *hit = bsearch(&kp, sorted, n, sizeof(*sorted), profile_cmp_name);

    return hit ? *hit : NULL;
}

bool name_list_has(const struct name_list *l, const char *name)
{
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->names[i], name) == 0)
            return true;
    return false;
}

const char *backing_name(enum backing b)
{
    return b == BACKING_TMPFS ? "tmpfs" : "disk";
}

const char *scope_name(enum scope s)
{
    return s == SCOPE_USER ? "user" : "job";
}

const char *mount_type_name(enum mount_type t)
{
    return (unsigned)t < 4 ? mount_type_names[t] : "?";
}
