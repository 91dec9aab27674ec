/* Mount entries: bind, symlink, tmpfs and dir, with their options and their groups: and users:
 * filters. An entry is judged by its type, so the keys are gathered first and read after.
 * Options are a few plain words (ro, noexec, size=, mode=, ...): split at commas here, so that
 * reading a policy does not load libmount. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "policy/policy.h"
#include "policy_int.h"

static const char *const mount_keys[] = {"type",   "source", "target", "options",
                                         "groups", "users",  NULL};

struct mount_nodes {
    const struct node *type, *source, *source_key, *target, *options, *options_key;
};

/* groups: / users: in the string form ("A,B", "~A") or as a YAML list of names. */
static void read_filter(struct ctx *c, const struct node *v, struct filter *f, const char *key)
{
    struct err e;

    f->loc = v->loc;
    if (v->reported)
        return;
    if (v->kind == NODE_MAP) {
        error_at(c, v->loc, "expected %s names (\"A,B\", \"~A\" or a list), got a mapping",
                 strcmp(key, "users") == 0 ? "user" : "group");
        return;
    }
    if (v->kind == NODE_SCALAR) {
        if (filter_parse(f, is_null(v) ? "" : v->text, &e) < 0)
            error_at(c, v->loc, "bad %s filter: %s", key, e.text);
        f->loc = v->loc;
        return;
    }
    if (v->nkid == 0) {
        error_at(c, v->loc, "bad %s filter: the list is empty; remove the key to match everyone",
                 key);
        return;
    }
    for (size_t i = 0; i < v->nkid; i++) {
        const char *name = want_scalar(c, v->kid[i], "a name");
        if (name && filter_add_name(f, name, &e) < 0) {
            error_at(c, v->kid[i]->loc, "bad %s filter: %s", key, e.text);
            filter_clear(f);
            return;
        }
        if (!name) {
            filter_clear(f);
            return;
        }
    }
    f->loc = v->loc;
}

/* The bits of *SEEN: bind_option sets bit i for known[i]; fs_option its own. */
#define BIND_RO (1u << 0)
#define BIND_NOEXEC (1u << 4)
#define FS_NOEXEC 4u

static void bind_option(struct ctx *c, struct loc at, const char *opt, struct mount_entry *m,
                        unsigned *seen)
{
    static const char *const known[] = {"ro", "rw", "nosuid", "nodev", "noexec", "defaults", NULL};
    const char *near;

    for (size_t i = 0; known[i]; i++) {
        if (strcmp(opt, known[i]) == 0) {
            *seen |= 1u << i;
            return;
        }
    }
    if ((near = nearest(opt, known, count_of(known))))
        error_at(c, at, "unknown bind option \"%s\" (did you mean \"%s\"?)", esc(c, opt), near);
    else
        error_at(c, at,
                 "unknown bind option \"%s\"; bind options are ro, rw, nosuid, nodev, "
                 "noexec and defaults",
                 esc(c, opt));
}

/* tmpfs: size=, mode=, noexec (nosuid and nodev are always applied); dir: mode= only. */
static void fs_option(struct ctx *c, struct loc at, const char *opt, struct mount_entry *m,
                      unsigned *seen)
{
    static const char *const names[] = {"", "mode", "size", "", "noexec"};
    bool tmpfs = m->type == MOUNT_TMPFS;
    const char *what = tmpfs ? "tmpfs" : "dir";
    unsigned bit;

    if (strncmp(opt, "mode=", 5) == 0) {
        bit = 1;
        if (!parse_mode(opt + 5, &m->mode))
            error_at(c, at, "malformed mode \"%s\"; write an octal mode such as 0755 or 1777",
                     esc(c, opt + 5));
    } else if (tmpfs && strncmp(opt, "size=", 5) == 0) {
        bit = 2;
        read_size(c, opt + 5, at, false, &m->size);
    } else if (tmpfs && strcmp(opt, "noexec") == 0) {
        bit = FS_NOEXEC;
    } else if (tmpfs && (strcmp(opt, "nosuid") == 0 || strcmp(opt, "nodev") == 0)) {
        return;
    } else {
        error_at(c, at, "unknown %s option \"%s\"; %s", what, esc(c, opt),
                 tmpfs ? "tmpfs options are size=SIZE, mode=OCTAL and noexec"
                       : "the only dir option is mode=OCTAL");
        return;
    }
    if (*seen & bit)
        error_at(c, at, "option \"%s\" is given twice; keep one", names[bit]);
    *seen |= bit;
}

/* Judge each option of S (NAME or NAME=VALUE between commas; empty items, which read_options
 * has reported, are skipped; no option takes a quoted value). An option is shown as written. */
static void judge_options(struct ctx *c, struct loc at, const char *s, struct mount_entry *m,
                          unsigned *seen)
{
    char *copy = dup_str(c, s), *save = NULL;

    for (char *opt = copy ? strtok_r(copy, ",", &save) : NULL; opt;
         opt = strtok_r(NULL, ",", &save)) {
        if (m->type == MOUNT_BIND)
            bind_option(c, at, opt, m, seen);
        else
            fs_option(c, at, opt, m, seen);
    }
    free(copy);
}

/* The flags an entry's options set (SEEN: bind_option's or fs_option's bits): ro for a bind,
 * noexec for a bind or a tmpfs. */
static unsigned option_flags(unsigned seen, enum mount_type type)
{
    unsigned flags = 0;

    if (type == MOUNT_BIND && (seen & BIND_RO))
        flags |= MOUNT_OPT_RO;
    if ((type == MOUNT_BIND && (seen & BIND_NOEXEC)) || (type == MOUNT_TMPFS && (seen & FS_NOEXEC)))
        flags |= MOUNT_OPT_NOEXEC;
    return flags;
}

static void read_options(struct ctx *c, const struct node *v, struct mount_entry *m)
{
    const char *s = want_scalar(c, v, "a comma-separated string of options such as \"ro,noexec\"");
    unsigned seen = 0;

    if (!s || !(m->options = dup_str(c, s)))
        return;
    if (!*s) {
        error_at(c, v->loc, "options is empty; remove it for the defaults");
        return;
    }
    if (s[0] == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,"))
        error_at(c, v->loc, "empty option in \"%s\" (stray comma?)", esc(c, s));
    /* no option takes a quoted value: a quote is a mistake (mount(8) would read "a,b" as one) */
    if (strchr(s, '"')) {
        error_at(c, v->loc, "options \"%s\" hold a double quote; no option takes a quoted value",
                 esc(c, s));
        return;
    }
    judge_options(c, v->loc, s, m, &seen);
    m->flags = option_flags(seen, m->type);
    if (m->type == MOUNT_BIND && (seen & 3) == 3)
        error_at(c, v->loc, "options \"%s\" ask for both ro and rw; keep one", esc(c, s));
}

/* Sort a mount entry's keys into N; report unknown ones. */
static bool mount_collect(struct ctx *c, const struct node *v, struct mount_nodes *n,
                          struct mount_entry *m)
{
    struct pairs it;
    const struct node *key, *val;

    if (!pairs_open(&it, c, v, "a mount entry (a mapping with type and target)", "key"))
        return false;
    while (pairs_next(&it, &key, &val)) {
        if (strcmp(key->text, "type") == 0) {
            n->type = val;
        } else if (strcmp(key->text, "source") == 0) {
            n->source = val;
            n->source_key = key;
        } else if (strcmp(key->text, "target") == 0) {
            n->target = val;
        } else if (strcmp(key->text, "options") == 0) {
            n->options = val;
            n->options_key = key;
        } else if (strcmp(key->text, "groups") == 0) {
            read_filter(c, val, &m->groups, "groups");
        } else if (strcmp(key->text, "users") == 0) {
            read_filter(c, val, &m->users, "users");
        } else {
            unknown_key(c, key, mount_keys, "a mount entry");
        }
    }
    pairs_close(&it);
    return true;
}

static void read_mount_source(struct ctx *c, const struct mount_nodes *n, struct mount_entry *m)
{
    const char *name = mount_type_names[m->type];

    if (m->type == MOUNT_TMPFS || m->type == MOUNT_DIR) {
        if (n->source)
            error_at(c, n->source_key->loc, "a %s entry takes no source; remove it", name);
        return;
    }
    if (!n->source) {
        error_at(c, m->loc, "%s entry has no source; add source: %s", name,
                 m->type == MOUNT_BIND ? "/path/on/the/host" : "LINK-TEXT");
        return;
    }
    if (m->type == MOUNT_BIND) {
        m->source = read_path(c, n->source, "bind source", true);
        return;
    }
    const char *s = want_scalar(c, n->source, "the symlink's text");
    if (s && check_expansions(c, n->source, "symlink source"))
        m->source = dup_str(c, s);
}

static void read_mount(struct ctx *c, const struct node *v, struct mount_entry *m)
{
    struct mount_nodes n = {0};
    char *target = NULL;
    int type;

    m->loc = v->loc;
    if (!mount_collect(c, v, &n, m))
        return;
    if (n.target)
        target =
            read_path_not_root(c, n.target, "mount target", true, "a mount target cannot be /");
    if (!n.type) {
        error_at(c, v->loc, "mount entry has no type; add type: bind, symlink, tmpfs or dir");
        free(target);
        return;
    }
    if ((type = read_choice(c, n.type, "mount type", mount_type_names)) < 0) {
        /* Without a type the rest cannot be judged; the target is left out of later checks. */
        free(target);
        return;
    }
    m->type = (enum mount_type)type;
    m->target = target;
    if (m->type == MOUNT_TMPFS || m->type == MOUNT_DIR)
        m->mode = 0755;
    if (!n.target)
        error_at(c, v->loc, "%s entry has no target; add target: /path", mount_type_names[type]);
    read_mount_source(c, &n, m);
    if (n.options && m->type == MOUNT_SYMLINK)
        error_at(c, n.options_key->loc, "a symlink entry takes no options; remove them");
    else if (n.options)
        read_options(c, n.options, m);
}

void read_mounts(struct ctx *c, const struct node *v, struct profile *pr)
{
    if (!(pr->mounts = want_list(c, v, "mount entries", sizeof(*pr->mounts))))
        return;
    for (size_t i = 0; i < v->nkid; i++)
        read_mount(c, v->kid[i], &pr->mounts[pr->nmounts++]);
}
