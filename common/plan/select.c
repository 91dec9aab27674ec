/* The planner: which profile a job gets (profile_resolve) and the list of profiles it could have
 * asked for (profile_allowed_list), from the policy's default and allowed lists, global and per
 * partition. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "plan/plan.h"

/* The global list; when the key is absent it is just the default profile. */
static bool global_allows(const struct policy *p, const char *name)
{
    if (p->allowed.present)
        return name_list_has(&p->allowed, name);
    return p->default_profile && strcmp(p->default_profile, name) == 0;
}

static bool partition_allows(const struct policy *p, const struct partition *part, const char *name)
{
    if (part && part->allowed.present)
        return name_list_has(&part->allowed, name);
    return global_allows(p, name);
}

/* With no trusted partition, a profile must be allowed everywhere, so that naming another
 * partition in an untrusted environment cannot widen what a job gets. */
static bool allowed_everywhere(const struct policy *p, const char *name)
{
    if (!global_allows(p, name))
        return false;
    for (size_t i = 0; i < p->npartitions; i++)
        if (!partition_allows(p, &p->partitions[i], name))
            return false;
    return true;
}

static bool allowed_in(const struct policy *p, const char *partition, const char *name)
{
    if (!partition)
        return allowed_everywhere(p, name);
    return partition_allows(p, policy_partition(p, partition), name);
}

/* Every name that could be allowed, in policy order: the default, the global list, the
 * partitions' lists. Returns a malloc'd array of COUNT borrowed names (duplicates included). */
static const char **candidates(const struct policy *p, size_t *count)
{
    size_t n = 1 + p->allowed.count;
    const char **v;

    for (size_t i = 0; i < p->npartitions; i++)
        n += p->partitions[i].allowed.count;
    if (!(v = malloc(n * sizeof(*v))))
        return NULL;
    n = 0;
    if (p->default_profile)
        v[n++] = p->default_profile;
    for (size_t i = 0; i < p->allowed.count; i++)
        v[n++] = p->allowed.names[i];
    for (size_t i = 0; i < p->npartitions; i++)
        for (size_t j = 0; j < p->partitions[i].allowed.count; j++)
            v[n++] = p->partitions[i].allowed.names[j];
    *count = n;
    return v;
}

static bool listed_before(const char **v, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(v[j], v[i]) == 0)
            return true;
    return false;
}

void profile_allowed_list(const struct policy *p, const char *partition, char *buf, size_t size)
{
    size_t n = 0, off = 0;
    const char **v = candidates(p, &n);

    if (size == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; v && i < n; i++) {
        if (listed_before(v, i) || !allowed_in(p, partition, v[i]))
            continue;
        int w = snprintf(buf + off, size - off, "%s%s", off ? ", " : "", v[i]);
        if (w < 0 || (size_t)w >= size - off)
            break;
        off += w;
    }
    free(v);
    if (off == 0)
        snprintf(buf, size, "(none)");
}

static const char *default_for(const struct policy *p, const char *partition)
{
    const struct partition *part = partition ? policy_partition(p, partition) : NULL;

    if (part && part->default_profile)
        return part->default_profile;
    return p->default_profile;
}

static const char *canonical_name(const struct policy *p, const char *name)
{
    const struct profile *prof = policy_profile(p, name);

    if (prof)
        return prof->name;
    return strcmp(name, PROFILE_NONE) == 0 ? PROFILE_NONE : NULL;
}

int profile_resolve(const struct policy *p, const char *partition, const char *requested,
                    const char **name, struct err *e)
{
    const char *choice = requested && *requested ? requested : default_for(p, partition);
    const char *canon;
    char allowed[1024];
    char where[300];

    /* NULL: not known from a trusted source; "": none given, the global lists apply. */
    if (partition && *partition)
        snprintf(where, sizeof(where), "in partition \"%s\"", partition);
    else if (partition)
        snprintf(where, sizeof(where), "here");
    else
        snprintf(where, sizeof(where), "here (the job's partition is not known)");
    profile_allowed_list(p, partition, allowed, sizeof(allowed));
    if (!choice)
        return errprintf(e, "the policy names no default profile");
    canon = canonical_name(p, choice);
    if (!canon)
        return errprintf(e, "unknown isolation profile \"%s\"; allowed %s: %s", choice, where,
                         allowed);
    if (!allowed_in(p, partition, canon))
        return errprintf(e, "isolation profile \"%s\" is not allowed %s; allowed: %s", choice,
                         where, allowed);
    *name = canon;
    return 0;
}
