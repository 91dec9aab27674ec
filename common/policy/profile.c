/* Profiles and what they hold besides mounts (mount.c): polydirs, hidden paths and
 * environment variables, and the inherits reference, resolved by check.c. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

static const char *const profile_keys[] = {"inherits", "polydirs", "mounts", "hide", "env", NULL};
static const char *const polydir_keys[] = {"path", "backing", "scope", "size", NULL};
static const char *const backing_names[] = {"disk", "tmpfs", NULL};
static const char *const scope_names[] = {"job", "user", NULL};

/* --- polydirs ----------------------------------------------------------------------------- */

/* Sort a polydir entry's keys: backing and scope are read at once; path and size, which is
 * judged by the backing, are left in *PATH and *SIZE. */
static bool polydir_collect(struct ctx *c, const struct node *v, struct polydir *d,
                            const struct node **path, const struct node **size)
{
    struct pairs it;
    const struct node *key, *val;
    int r;

    if (!pairs_open(&it, c, v, "a polydir entry (a mapping such as {path: /tmp})", "key"))
        return false;
    while (pairs_next(&it, &key, &val)) {
        if (strcmp(key->text, "path") == 0) {
            *path = val;
        } else if (strcmp(key->text, "backing") == 0) {
            if ((r = read_choice(c, val, "backing", backing_names)) >= 0)
                d->backing = (enum backing)r;
        } else if (strcmp(key->text, "scope") == 0) {
            if ((r = read_choice(c, val, "scope", scope_names)) >= 0)
                d->scope = (enum scope)r;
        } else if (strcmp(key->text, "size") == 0) {
            *size = val;
        } else {
            unknown_key(c, key, polydir_keys, "a polydir entry");
        }
    }
    pairs_close(&it);
    return true;
}

/* A tmpfs polydir's size is a share of the job's memory or bytes; a disk polydir's is bytes
 * (its quota): a share of the job's memory means nothing for a disk. */
static void read_polydir_size(struct ctx *c, const struct node *size, struct polydir *d)
{
    const char *s = want_scalar(c, size, "a size such as 50% or 512M");

    d->size_loc = size->loc;
    if (!s || !read_size(c, s, size->loc, true, &d->size))
        return;
    if (d->backing == BACKING_DISK && d->size.kind == SIZE_PERCENT) {
        error_at(c, size->loc,
                 "a disk polydir's size is absolute (512M, 8G), not \"%s\"; percentages of the "
                 "job's memory are for backing: tmpfs",
                 esc(c, s));
        d->size.kind = SIZE_UNSET;
    }
}

static void read_polydir(struct ctx *c, const struct node *v, struct polydir *d)
{
    const struct node *path = NULL, *size = NULL;

    d->loc = v->loc;
    if (!polydir_collect(c, v, d, &path, &size))
        return;
    if (!path)
        error_at(c, v->loc, "polydir entry has no path; add path: /tmp (for example)");
    else
        d->path = read_path_not_root(c, path, "polydir path", false,
                                     "polydir path cannot be /; name a directory such as /tmp");
    if (size)
        read_polydir_size(c, size, d);
}

static void read_polydirs(struct ctx *c, const struct node *v, struct profile *pr)
{
    if (!(pr->polydirs = want_list(c, v, "polydir entries", sizeof(*pr->polydirs))))
        return;
    for (size_t i = 0; i < v->nkid; i++)
        read_polydir(c, v->kid[i], &pr->polydirs[pr->npolydirs++]);
}

/* --- hide and env ------------------------------------------------------------------------- */

static void read_hide(struct ctx *c, const struct node *v, struct profile *pr)
{
    if (!(pr->hide = want_list(c, v, "paths to hide", sizeof(*pr->hide))))
        return;
    for (size_t i = 0; i < v->nkid; i++) {
        struct path_entry *h = &pr->hide[pr->nhide++];
        h->loc = v->kid[i]->loc;
        h->path = read_path_not_root(c, v->kid[i], "hidden path", false,
                                     "hide cannot cover /; name the directories to hide");
    }
}

static bool env_name_ok(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

/* A variable needs a name the shell accepts and a string value (possibly empty); else reported. */
static bool env_entry_ok(struct ctx *c, const struct node *key, const struct node *val)
{
    if (!env_name_ok(key->text)) {
        error_at(c, key->loc,
                 "bad variable name \"%s\": use letters, digits and \"_\", "
                 "not starting with a digit",
                 esc(c, key->text));
        return false;
    }
    if (is_null(val)) {
        error_at(c, val->loc,
                 "expected a string value for %s, got nothing; write %s: \"\" "
                 "for an empty value",
                 key->text, key->text);
        return false;
    }
    if (val->kind != NODE_SCALAR) {
        error_at(c, val->loc, "expected a string value for %s, got %s", key->text,
                 describe(c, val));
        return false;
    }
    return true;
}

static void read_env(struct ctx *c, const struct node *v, struct profile *pr)
{
    struct pairs it;
    const struct node *key, *val;

    if (is_null(v) ||
        !pairs_open(&it, c, v, "a mapping of variables (such as {TMPDIR: /tmp})", "variable"))
        return;
    if (!(pr->env = zalloc(c, v->nkid / 2, sizeof(*pr->env))))
        goto out;
    while (pairs_next(&it, &key, &val)) {
        if (!env_entry_ok(c, key, val))
            continue;
        struct env_var *e = &pr->env[pr->nenv++];
        e->loc = key->loc;
        e->name = dup_str(c, key->text);
        e->value = dup_str(c, val->text);
    }
out:
    pairs_close(&it);
}

/* --- profiles ----------------------------------------------------------------------------- */

bool is_profile_key(const char *key)
{
    for (size_t i = 0; profile_keys[i]; i++)
        if (strcmp(key, profile_keys[i]) == 0)
            return true;
    return false;
}

static void read_profile_body(struct ctx *c, const struct node *v, struct profile *pr)
{
    struct pairs it;
    const struct node *key, *val;

    if (is_null(v) ||
        !pairs_open(&it, c, v, "a profile (a mapping with polydirs, mounts, hide, env or inherits)",
                    "key"))
        return;
    while (pairs_next(&it, &key, &val)) {
        if (strcmp(key->text, "inherits") == 0)
            pr->inherits = read_profile_ref(c, val, &pr->inherits_loc);
        else if (strcmp(key->text, "polydirs") == 0)
            read_polydirs(c, val, pr);
        else if (strcmp(key->text, "mounts") == 0)
            read_mounts(c, val, pr);
        else if (strcmp(key->text, "hide") == 0)
            read_hide(c, val, pr);
        else if (strcmp(key->text, "env") == 0)
            read_env(c, val, pr);
        else
            unknown_key(c, key, profile_keys, "a profile");
    }
    pairs_close(&it);
}

static bool profile_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > MAX_NAME_LEN || s[0] == '-' || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

/* A profile's name is how users ask for it: "none" is taken, and it must be easy to type. */
static void check_profile_name(struct ctx *c, const struct profile *pr)
{
    if (strcmp(pr->name, PROFILE_NONE) == 0)
        error_at(c, pr->loc,
                 "the profile name \"none\" is reserved (it means no "
                 "isolation); rename this profile");
    else if (!profile_name_ok(pr->name))
        error_at(c, pr->loc,
                 "bad profile name \"%s\": use up to %d letters, digits, \".\", "
                 "\"_\" and \"-\", not starting with \".\" or \"-\"",
                 esc(c, pr->name), MAX_NAME_LEN);
}

void read_profiles(struct ctx *c, const struct node *v)
{
    struct policy *p = c->p;
    struct pairs it;
    const struct node *key, *val;

    if (is_null(v))
        return;
    /* Without a mapping of profiles, references to profiles cannot be judged. */
    if (v->kind != NODE_MAP)
        c->profiles_bad = true;
    if (!pairs_open(&it, c, v, "a mapping of profile names to profiles", "profile"))
        return;
    if (!(p->profiles = zalloc(c, v->nkid / 2, sizeof(*p->profiles))))
        goto out;
    while (pairs_next(&it, &key, &val)) {
        struct profile *pr = &p->profiles[p->nprofiles];
        if (!(pr->name = dup_str(c, key->text)))
            break;
        p->nprofiles++;
        pr->loc = key->loc;
        check_profile_name(c, pr);
        read_profile_body(c, val, pr);
    }
out:
    pairs_close(&it);
}
