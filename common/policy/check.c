/* The rules that span the file, checked on the model: every profile reference resolves, no
 * inherits chain loops, each default is in the allowed list that applies to it, the instance base
 * stays clear of polydirs; then each profile's own paths (nesting.c). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

/* --- references ----------------------------------------------------------------------------- */

/* The profile called NAME, from the index of c->sorted; NULL if none (or no index yet). */
static const struct profile *lookup(const struct ctx *c, const char *name)
{
    return c->sorted ? profile_find_sorted(c->sorted, c->p->nprofiles, name) : NULL;
}

/* Report NAME (written at AT, in WHERE) if it names no profile; "none" is fine unless in
 * inherits. Returns true if the reference resolves. */
static bool check_ref(struct ctx *c, const char *name, struct loc at, const char *where,
                      bool none_ok)
{
    const char **names;
    const char *near = NULL;

    if (strcmp(name, PROFILE_NONE) == 0) {
        if (!none_ok)
            error_at(c, at,
                     "a profile cannot inherit \"none\" (no isolation); remove inherits "
                     "or name a profile");
        return none_ok;
    }
    if (lookup(c, name))
        return true;
    if ((names = calloc(c->p->nprofiles + 1, sizeof(*names)))) {
        for (size_t i = 0; i < c->p->nprofiles; i++)
            names[i] = c->p->profiles[i].name;
        near = nearest(name, names, c->p->nprofiles);
        free(names);
    }
    if (near)
        error_at(c, at, "unknown profile \"%s\" in %s (did you mean \"%s\"?)", esc(c, name), where,
                 near);
    else
        error_at(c, at, "unknown profile \"%s\" in %s; define it under profiles:%s", esc(c, name),
                 where, none_ok ? ", or write none for no isolation" : "");
    return false;
}

static void check_refs(struct ctx *c)
{
    struct policy *p = c->p;
    char where[200];

    if (p->default_profile)
        check_ref(c, p->default_profile, p->default_loc, "default_profile", true);
    if (p->login.profile)
        check_ref(c, p->login.profile, p->login.profile_loc, "login: profile", true);
    for (size_t i = 0; i < p->login.nhost_groups; i++) {
        const struct login_host_group *g = &p->login.host_groups[i];
        if (!g->profile)
            continue;
        snprintf(where, sizeof(where), "the profile of login: host group %zu (hosts \"%s\")", i + 1,
                 esc(c, g->hosts ? g->hosts : ""));
        check_ref(c, g->profile, g->profile_loc, where, true);
    }
    for (size_t i = 0; p->allowed.present && i < p->allowed.count; i++)
        check_ref(c, p->allowed.names[i], p->allowed.locs[i], "allowed_profiles", true);
    for (size_t i = 0; i < p->npartitions; i++) {
        const struct partition *part = &p->partitions[i];
        if (part->default_profile) {
            snprintf(where, sizeof(where), "the default_profile of partition \"%s\"",
                     esc(c, part->name));
            check_ref(c, part->default_profile, part->default_loc, where, true);
        }
        snprintf(where, sizeof(where), "the allowed_profiles of partition \"%s\"",
                 esc(c, part->name));
        for (size_t j = 0; j < part->allowed.count; j++)
            check_ref(c, part->allowed.names[j], part->allowed.locs[j], where, true);
    }
    for (size_t i = 0; i < p->nprofiles; i++)
        if (p->profiles[i].inherits)
            check_ref(c, p->profiles[i].inherits, p->profiles[i].inherits_loc, "inherits", false);
}

/* --- inheritance ---------------------------------------------------------------------------- */

static void report_cycle(struct ctx *c, const size_t *path, size_t from, size_t len)
{
    const struct profile *pr = c->p->profiles;
    size_t first = from;
    char text[512];
    size_t off = 0;

    /* Name the cycle from the profile defined first, and report it there. */
    for (size_t k = from; k < len; k++)
        if (path[k] < path[first])
            first = k;
    for (size_t k = 0; k <= len - from && off < sizeof(text); k++) {
        size_t at = from + (first - from + k) % (len - from);
        off += snprintf(text + off, sizeof(text) - off, "%s%s", k ? " -> " : "", pr[path[at]].name);
    }
    error_at(c, pr[path[first]].inherits_loc, "inherits cycle: %s; remove one of these inherits",
             text);
}

/* Walk the inherits chain from profile I, noting it in PATH (*LEN entries); true if it ends at a
 * profile that inherits nothing, or at one already known to; a cycle is reported. */
static bool walk_chain(struct ctx *c, size_t i, unsigned char *state, size_t *path, size_t *len)
{
    for (size_t j = i;;) {
        const struct profile *parent;
        if (state[j] == 2)
            return c->chain_ok[j];
        if (state[j] == 1) {
            size_t from = 0;
            while (path[from] != j)
                from++;
            report_cycle(c, path, from, *len);
            return false;
        }
        state[j] = 1;
        path[(*len)++] = j;
        if (!c->p->profiles[j].inherits)
            return true;
        if (!(parent = lookup(c, c->p->profiles[j].inherits)))
            return false;
        j = (size_t)(parent - c->p->profiles);
    }
}

/* Follow every inherits chain; report cycles; note which profiles have a sound chain. */
static void check_cycles(struct ctx *c)
{
    size_t n = c->p->nprofiles;
    unsigned char *state = zalloc(c, n, 1); /* 0 unseen, 1 on the current path, 2 done */
    size_t *path = zalloc(c, n, sizeof(*path));

    if (!state || !path || !(c->chain_ok = zalloc(c, n, sizeof(*c->chain_ok))))
        goto out;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        bool ok = walk_chain(c, i, state, path, &len);
        for (size_t k = 0; k < len; k++) {
            state[path[k]] = 2;
            c->chain_ok[path[k]] = ok;
        }
    }
out:
    free(state);
    free(path);
}

/* --- defaults and allowed lists ------------------------------------------------------------- */

static void list_text(struct ctx *c, const struct name_list *l, char *buf, size_t size)
{
    size_t off = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < l->count && off < size; i++)
        off += snprintf(buf + off, size - off, "%s%s", i ? ", " : "", esc(c, l->names[i]));
}

/* A name that check_refs accepts; an unknown one is reported there, once. */
static bool resolves(const struct ctx *c, const char *name)
{
    return strcmp(name, PROFILE_NONE) == 0 || lookup(c, name);
}

/* A partition's default (its own, or the global one where it lists its own allowed profiles)
 * must be in the allowed list that applies to it. */
static void check_partition_default(struct ctx *c, const struct partition *part)
{
    const struct policy *p = c->p;
    const struct name_list *allowed = part->allowed.present ? &part->allowed : &p->allowed;
    const char *dflt = part->default_profile ? part->default_profile : p->default_profile;
    char list[512];

    if (!part->default_profile && !part->allowed.present)
        return;
    if (!dflt || !allowed->count || !resolves(c, dflt) || name_list_has(allowed, dflt))
        return;
    list_text(c, allowed, list, sizeof(list));
    if (part->default_profile)
        error_at(c, part->default_loc,
                 "partition \"%s\": default_profile \"%s\" is not in "
                 "its allowed_profiles [%s]; add it there or choose one of those",
                 esc(c, part->name), esc(c, dflt), list);
    else
        error_at(c, part->allowed.loc,
                 "partition \"%s\": the global default_profile \"%s\" "
                 "is not in its allowed_profiles [%s]; give the partition a default_profile "
                 "from that list, or add %s to it",
                 esc(c, part->name), esc(c, dflt), list, esc(c, dflt));
}

/* A default must be in the allowed list that applies to it; "none" must be listed explicitly. */
static void check_defaults(struct ctx *c)
{
    struct policy *p = c->p;
    char list[512];

    if (p->default_profile && !p->allowed.present && strcmp(p->default_profile, PROFILE_NONE) == 0)
        error_at(c, p->default_loc,
                 "default_profile \"none\" turns isolation off by default; "
                 "confirm it by listing none in allowed_profiles");
    if (p->default_profile && p->allowed.present && p->allowed.count &&
        resolves(c, p->default_profile) && !name_list_has(&p->allowed, p->default_profile)) {
        list_text(c, &p->allowed, list, sizeof(list));
        error_at(c, p->default_loc,
                 "default_profile \"%s\" is not in allowed_profiles [%s]; add "
                 "it there or choose one of those",
                 esc(c, p->default_profile), list);
    }
    for (size_t i = 0; i < p->npartitions; i++)
        check_partition_default(c, &p->partitions[i]);
}

/* PATH is DIR or lies below it. */
static bool path_within(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    if (strcmp(dir, "/") == 0)
        return true;
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static void check_instance_base(struct ctx *c)
{
    const struct policy *p = c->p;
    const char *base = p->instance_base;

    for (size_t i = 0; base && i < p->nprofiles; i++) {
        for (size_t j = 0; j < p->profiles[i].npolydirs; j++) {
            const struct polydir *d = &p->profiles[i].polydirs[j];
            const char *how;
            if (!d->path)
                continue;
            if (strcmp(base, d->path) == 0)
                how = "is also";
            else if (path_within(base, d->path))
                how = "lies inside";
            else if (path_within(d->path, base))
                how = "contains";
            else
                continue;
            error_at(c, c->base_written ? c->base_loc : d->loc,
                     "instance_base \"%s\" %s polydir \"%s\" (profile \"%s\", line %d); choose a "
                     "root-only directory outside every polydir, such as %s",
                     esc(c, base), how, esc(c, d->path), esc(c, p->profiles[i].name), d->loc.line,
                     POLICY_DEFAULT_INSTANCE_BASE);
            return;
        }
    }
}

void check_model(struct ctx *c)
{
    struct policy *p = c->p;

    if (!(c->sorted = zalloc(c, p->nprofiles, sizeof(*c->sorted))))
        return;
    for (size_t i = 0; i < p->nprofiles; i++)
        c->sorted[i] = &p->profiles[i];
    qsort(c->sorted, p->nprofiles, sizeof(*c->sorted), profile_cmp_name);
    if (c->profiles_bad)
        return;
    check_refs(c);
    check_cycles(c);
    if (c->oom)
        return;
    check_defaults(c);
    check_instance_base(c);
    check_profiles(c);
}
