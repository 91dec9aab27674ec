/* From the node tree to the model: the top level, partitions and lists of profile names; the
 * profiles themselves are read by profile.c. Each misplaced or malformed value is reported
 * at its own line and column, and reading goes on, so that one run shows every problem. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

static const char *const root_keys[] = {
    "version",         "instance_base",    "on_error", "ssh",        "login",
    "default_profile", "allowed_profiles", "profiles", "partitions", NULL};
static const char *const on_error_names[] = {"deny", "allow", NULL};
static const char *const ssh_names[] = {"deny", "host", NULL};
static const char *const partition_keys[] = {"default_profile", "allowed_profiles", NULL};

/* --- profile names and name lists --------------------------------------------------------- */

char *read_profile_ref(struct ctx *c, const struct node *v, struct loc *at)
{
    const char *s = want_scalar(c, v, "a profile name");

    if (!s)
        return NULL;
    *at = v->loc;
    return dup_str(c, s);
}

static void read_name_list(struct ctx *c, const struct node *v, struct name_list *l)
{
    l->present = true;
    l->loc = v->loc;
    if (v->reported)
        return;
    if (v->kind != NODE_SEQ) {
        if (v->kind == NODE_SCALAR && !is_null(v))
            error_at(c, v->loc, "expected a list of profile names, got %s; write [%s]",
                     describe(c, v), esc(c, v->text));
        else
            error_at(c, v->loc, "expected a list of profile names, got %s", describe(c, v));
        return;
    }
    if (v->nkid == 0) {
        error_at(c, v->loc, "allowed_profiles is empty; list at least one profile (or none)");
        return;
    }
    l->names = zalloc(c, v->nkid, sizeof(*l->names));
    l->locs = zalloc(c, v->nkid, sizeof(*l->locs));
    if (!l->names || !l->locs)
        return;
    for (size_t i = 0; i < v->nkid; i++) {
        struct loc at;
        char *name = read_profile_ref(c, v->kid[i], &at);
        if (!name)
            continue;
        for (size_t j = 0; j < l->count; j++)
            if (strcmp(l->names[j], name) == 0)
                warn_at(c, at,
                        "profile \"%s\" is listed twice (first at line %d, column %d); "
                        "remove one",
                        esc(c, name), l->locs[j].line, l->locs[j].col);
        l->names[l->count] = name;
        l->locs[l->count++] = at;
    }
}

/* --- partitions --------------------------------------------------------------------------- */

static void read_partition(struct ctx *c, const struct node *v, struct partition *part)
{
    struct pairs it;
    const struct node *key, *val;

    if (is_null(v) ||
        !pairs_open(&it, c, v, "a mapping with default_profile or allowed_profiles", "key"))
        return;
    while (pairs_next(&it, &key, &val)) {
        if (strcmp(key->text, "default_profile") == 0)
            part->default_profile = read_profile_ref(c, val, &part->default_loc);
        else if (strcmp(key->text, "allowed_profiles") == 0)
            read_name_list(c, val, &part->allowed);
        else
            unknown_key(c, key, partition_keys, "a partition");
    }
    pairs_close(&it);
}

static void read_partitions(struct ctx *c, const struct node *v)
{
    struct policy *p = c->p;
    struct pairs it;
    const struct node *key, *val;

    if (is_null(v) ||
        !pairs_open(&it, c, v, "a mapping of partition names to settings", "partition"))
        return;
    if (!(p->partitions = zalloc(c, v->nkid / 2, sizeof(*p->partitions))))
        goto out;
    while (pairs_next(&it, &key, &val)) {
        struct partition *part = &p->partitions[p->npartitions];
        if (!(part->name = dup_str(c, key->text)))
            break;
        p->npartitions++;
        part->loc = key->loc;
        if (key->len == 0 || strpbrk(key->text, " \t,"))
            error_at(c, key->loc,
                     "bad partition name \"%s\": Slurm partition names have no "
                     "spaces or commas",
                     esc(c, key->text));
        read_partition(c, val, part);
    }
out:
    pairs_close(&it);
}

/* --- the top level ------------------------------------------------------------------------ */

static void read_version(struct ctx *c, const struct node *v)
{
    const char *s = want_scalar(c, v, "the format version, 1");

    if (!s)
        return;
    if (strcmp(s, "1") != 0) {
        error_at(c, v->loc, "unsupported version \"%s\"; this spank-isolation reads version %d",
                 esc(c, s), POLICY_VERSION);
        return;
    }
    c->p->version = POLICY_VERSION;
}

static void read_instance_base(struct ctx *c, const struct node *v)
{
    char *base = read_path_not_root(c, v, "instance_base", false,
                                    "instance_base cannot be /; use a root-only directory such "
                                    "as " POLICY_DEFAULT_INSTANCE_BASE);

    if (base && !check_base_expansions(c, v)) {
        free(base);
        base = NULL;
    }
    c->base_written = true;
    c->base_loc = v->loc;
    c->p->base_loc = v->loc;
    free(c->p->instance_base);
    c->p->instance_base = base;
}

static void read_top_key(struct ctx *c, const struct node *key, const struct node *val,
                         bool *seen_version, bool *seen_default)
{
    struct policy *p = c->p;
    int r;

    if (strcmp(key->text, "version") == 0) {
        *seen_version = true;
        read_version(c, val);
    } else if (strcmp(key->text, "instance_base") == 0) {
        read_instance_base(c, val);
    } else if (strcmp(key->text, "on_error") == 0) {
        if ((r = read_choice(c, val, "on_error", on_error_names)) >= 0)
            p->on_error = (enum on_error)r;
    } else if (strcmp(key->text, "login") == 0) {
        read_login(c, val);
    } else if (strcmp(key->text, "ssh") == 0) {
        if ((r = read_choice(c, val, "ssh", ssh_names)) >= 0)
            p->ssh = (enum ssh_access)r;
    } else if (strcmp(key->text, "default_profile") == 0) {
        *seen_default = true;
        p->default_profile = read_profile_ref(c, val, &p->default_loc);
    } else if (strcmp(key->text, "allowed_profiles") == 0) {
        read_name_list(c, val, &p->allowed);
    } else if (strcmp(key->text, "profiles") == 0) {
        read_profiles(c, val);
    } else if (strcmp(key->text, "partitions") == 0) {
        read_partitions(c, val);
    } else if (is_profile_key(key->text)) {
        error_at(c, key->loc,
                 "unknown key \"%s\" at the top level; %s belongs inside a profile "
                 "(profiles: NAME: %s: ...)",
                 key->text, key->text, key->text);
    } else {
        unknown_key(c, key, root_keys, "the policy");
    }
}

static void read_root(struct ctx *c, const struct node *root)
{
    bool seen_version = false, seen_default = false;
    struct pairs it;
    const struct node *key, *val;

    if (!pairs_open(&it, c, root,
                    "a mapping of policy keys (version, default_profile, profiles...) at the top "
                    "level",
                    "key"))
        return;
    while (pairs_next(&it, &key, &val))
        read_top_key(c, key, val, &seen_version, &seen_default);
    pairs_close(&it);
    if (!seen_version)
        error_at(c, root->loc, "missing version; add `version: %d` at the top of the policy",
                 POLICY_VERSION);
    if (!seen_default)
        error_at(c, root->loc,
                 "missing default_profile; add `default_profile: NAME`, the "
                 "profile jobs get when they ask for none");
}

/* The global allowed list defaults to the default profile alone (present stays false). */
static void default_allowed(struct ctx *c)
{
    struct policy *p = c->p;

    if (p->allowed.present || !p->default_profile)
        return;
    p->allowed.names = zalloc(c, 1, sizeof(*p->allowed.names));
    p->allowed.locs = zalloc(c, 1, sizeof(*p->allowed.locs));
    if (!p->allowed.names || !p->allowed.locs ||
        !(p->allowed.names[0] = dup_str(c, p->default_profile)))
        return;
    p->allowed.locs[0] = p->default_loc;
    p->allowed.loc = p->default_loc;
    p->allowed.count = 1;
}

void build_model(struct ctx *c, const struct node *root)
{
    read_root(c, root);
    default_allowed(c);
}
