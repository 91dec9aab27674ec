/* CEA's /etc/fstab_user: SOURCE DEST KIND OPTS GROUP_FILTER, one entry a line, applied by the
 * iscript of a tmpfs polydir (a relative DEST lies in it). For each DEST the first entry whose
 * filter matches the user's groups wins, as it does for the policy's mounts: the order is kept.
 * KIND is bind (OPTS: ro or rw, noexec), symlink (SOURCE is the link's text) or tmpfs. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"

#define MAX_FIELDS 6

struct fs_line {
    struct imp *im;
    const char *file;
    int line;
    char *field[MAX_FIELDS];
    size_t nfields;
};

/* Fields split at blanks; a field starting with '#' starts a comment. */
static size_t split_blanks(char *text, char **field, size_t max)
{
    size_t n = 0;
    char *save = NULL;

    for (char *f = strtok_r(text, " \t\r\n\v\f", &save); f && *f != '#';
         f = strtok_r(NULL, " \t\r\n\v\f", &save)) {
        if (n < max)
            field[n] = f;
        n++;
    }
    return n;
}

/* DEST as an absolute path: a relative one lies in the anchor; NULL (said) if it cannot be. */
static char *dest_path(struct fs_line *l, const char *dest)
{
    char *joined, *path;

    if (dest[0] != '/' && !l->im->anchor) {
        imp_say(l->im, l->file, l->line,
                "\"%s\" is relative to the polydir whose iscript applies fstab_user, and no tmpfs "
                "line of namespace.conf has an iscript=; not converted",
                dest);
        return NULL;
    }
    if (dest[0] == '/') {
        path = imp_normalise(dest);
    } else {
        joined = imp_xalloc(malloc(strlen(l->im->anchor) + strlen(dest) + 2));
        sprintf(joined, "%s/%s", l->im->anchor, dest);
        path = imp_normalise(joined);
        free(joined);
    }
    if (!path)
        imp_say(l->im, l->file, l->line,
                "destination \"%s\" is not a path the policy can name (\"..\", or /); not "
                "converted",
                dest);
    return path;
}

/* bind OPTS: ro or rw (the last one wins, as for mount(8)), noexec; defaults, nosuid and nodev
 * change nothing. Into OUT as the policy writes them. */
static void bind_options(struct fs_line *l, const char *text, char *out, size_t size)
{
    char *copy = imp_xalloc(strdup(text)), *save = NULL;
    bool ro = false, noexec = false;

    for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (!strcmp(o, "ro") || !strcmp(o, "rw"))
            ro = o[1] == 'o';
        else if (!strcmp(o, "noexec"))
            noexec = true;
        else if (strcmp(o, "defaults") && strcmp(o, "nosuid") && strcmp(o, "nodev"))
            imp_say(l->im, l->file, l->line,
                    "bind option \"%s\" has no equivalent in the policy; dropped", o);
    }
    free(copy);
    snprintf(out, size, "%s%s", ro ? "ro" : "rw", noexec ? ",noexec" : "");
}

/* GROUP_FILTER checked as the policy reads it, into OUT ("" for everyone); -1 (said) if bad. */
static int group_filter(struct fs_line *l, char *out, size_t size)
{
    struct filter f = {0};
    struct err e;

    out[0] = '\0';
    if (l->nfields < 5)
        return 0;
    if (filter_parse(&f, l->field[4], &e) < 0) {
        imp_say(l->im, l->file, l->line, "group filter \"%s\": %s; not converted", l->field[4],
                e.text);
        return -1;
    }
    filter_format(&f, out, size);
    filter_clear(&f);
    return 0;
}

/* Where the policy cannot put TARGET: inside a polydir; a symlink outside a tmpfs entry. */
static int target_ok(struct fs_line *l, const char *target, enum mount_type type)
{
    const struct imp *im = l->im;
    const struct imp_mount *above = NULL;

    for (size_t i = 0; i < im->npolydirs; i++)
        if (imp_path_within(target, im->polydirs[i].path)) {
            imp_say(l->im, l->file, l->line,
                    "%s lies in the polydir %s (%s): the policy makes no mount inside a polydir; "
                    "not converted",
                    target, im->polydirs[i].path, im->polydirs[i].from);
            return -1;
        }
    if (type != MOUNT_SYMLINK)
        return 0;
    for (size_t i = 0; i < im->nmounts; i++) {
        const char *t = im->mounts[i].target;
        if (strcmp(t, target) && imp_path_within(target, t) &&
            (!above || strlen(t) > strlen(above->target)))
            above = &im->mounts[i];
    }
    if (above && above->type == MOUNT_TMPFS)
        return 0;
    imp_say(l->im, l->file, l->line,
            "symlink %s is not inside a tmpfs: the policy makes symlinks only in its own tmpfs "
            "entries, never on the node's file systems; not converted",
            target);
    return -1;
}

static int kind_of(struct fs_line *l, enum mount_type *type)
{
    const char *kind = l->field[2];

    if (!strcmp(kind, "bind"))
        *type = MOUNT_BIND;
    else if (!strcmp(kind, "symlink"))
        *type = MOUNT_SYMLINK;
    else if (!strcmp(kind, "tmpfs"))
        *type = MOUNT_TMPFS;
    else
        return imp_say(l->im, l->file, l->line,
                       "kind \"%s\" has no equivalent (bind, symlink and tmpfs have); not "
                       "converted",
                       kind),
               -1;
    return 0;
}

/* The SOURCE of a bind (a host path) or a symlink (its text), as the policy writes it. */
static char *source_of(struct fs_line *l, enum mount_type type)
{
    char *path, *out;

    if (type == MOUNT_TMPFS)
        return NULL;
    if (type == MOUNT_SYMLINK)
        return imp_percent(l->field[0]);
    if (!(path = imp_normalise(l->field[0]))) {
        imp_say(l->im, l->file, l->line,
                "bind source \"%s\" is not an absolute path without \"..\"; not converted",
                l->field[0]);
        return NULL;
    }
    out = imp_percent(path);
    free(path);
    return out;
}

static void convert_entry(struct fs_line *l)
{
    struct imp_mount m = {0};
    char groups[1024], options[256] = "", size[32];
    const char *opts = l->nfields > 3 ? l->field[3] : "defaults";
    char *path = NULL;

    if (kind_of(l, &m.type) < 0 || group_filter(l, groups, sizeof(groups)) < 0 ||
        !(path = dest_path(l, l->field[1])) || target_ok(l, path, m.type) < 0)
        goto out;
    if (!(m.source = source_of(l, m.type)) && m.type != MOUNT_TMPFS)
        goto out;
    if (m.type == MOUNT_BIND)
        bind_options(l, opts, options, sizeof(options));
    else if (m.type == MOUNT_TMPFS)
        imp_tmpfs_options(l->im, l->file, l->line, opts, true, size, sizeof(size), options,
                          sizeof(options));
    m.target = imp_percent(path);
    m.options = options[0] ? options : NULL;
    m.groups = groups[0] ? groups : NULL;
    m.from = imp_from(l->file, l->line);
    imp_add_mount(l->im, &m);
out:
    free(m.source);
    free(m.target);
    free(m.from);
    free(path);
}

static void process_line(struct imp *im, const char *file, int lineno, char *text)
{
    struct fs_line l = {.im = im, .file = file, .line = lineno};

    l.nfields = split_blanks(text, l.field, MAX_FIELDS);
    if (l.nfields == 0)
        return;
    if (l.nfields < 3 || l.nfields > 5) {
        imp_say(im, file, lineno,
                "an entry is SOURCE DEST KIND [OPTS [GROUP_FILTER]], here %zu fields; not "
                "converted",
                l.nfields);
        return;
    }
    convert_entry(&l);
}

int imp_read_fstab_user(struct imp *im, const char *path)
{
    return imp_read_lines(im, path, process_line);
}
