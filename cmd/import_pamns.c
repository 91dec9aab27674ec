/* namespace.conf(5) as pam_namespace really reads it: a '#' anywhere cuts the line (even inside
 * quotes), fields are split as argv_parse splits them ("..." quoting, \n \t \b escapes), the
 * method's flags are matched by prefix and split at ':' with empty pieces skipped, create='s mode
 * goes through strtoul(..., 0), and the user list names users who are exempt (or, after a
 * leading '~', the only ones polyinstantiated). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "import.h"

#define MAX_FIELDS 8

enum method { M_NONE, M_USER, M_CONTEXT, M_LEVEL, M_TMPDIR, M_TMPFS };

/* One line of namespace.conf, once split. */
struct ns_line {
    struct imp *im;
    const char *file;
    int line;
    char *field[MAX_FIELDS];
    size_t nfields;
    enum method method;
    const char *method_name;
    bool create, noinit, shared;
    char *create_text; /* create=... as written */
    bool mode_set;
    unsigned long mode;
    bool iscript;
    char *iscript_path; /* NULL: iscript without a path (the default script) */
    char *mntopts;      /* the last mntopts= of a tmpfs line */
    char *path;         /* the polydir, normalised */
};

static const char *const method_names[] = {"", "user", "context", "level", "tmpdir", "tmpfs"};

/* Split LINE into fields as pam_namespace's argv_parse does, into BUF (as long as LINE). */
static size_t split_fields(const char *line, char *buf, char **field, size_t max)
{
    size_t n = 0;
    bool in_field = false, quoted = false;
    char *o = buf;

    for (const char *p = line; *p; p++) {
        char ch = *p;

        if (!in_field) {
            if (isspace((unsigned char)ch))
                continue;
            in_field = true;
            if (n < max)
                field[n] = o;
            n++;
        }
        if (quoted) {
            if (ch == '"')
                quoted = false;
            else
                *o++ = ch;
            continue;
        }
        if (isspace((unsigned char)ch)) {
            *o++ = '\0';
            in_field = false;
            continue;
        }
        if (ch == '"') {
            quoted = true;
            continue;
        }
        if (ch == '\\') {
            ch = *++p;
            if (ch == '\0')
                ch = '\\', p--;
            else if (ch == 'n' || ch == 't' || ch == 'b')
                ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : '\b';
        }
        *o++ = ch;
    }
    if (in_field)
        *o = '\0';
    return n;
}

/* create=MODE,OWNER,GROUP: MODE as strtoul(MODE, NULL, 0) reads it, so 755 is decimal. */
static void create_params(struct ns_line *l, const char *text)
{
    const char *p = text + strlen("create");
    char mode[64];
    size_t n;

    l->create = true;
    free(l->create_text);
    l->create_text = imp_xalloc(strdup(text));
    if (*p != '=')
        return;
    n = strcspn(p + 1, ",");
    snprintf(mode, sizeof(mode), "%.*s", (int)n, p + 1);
    l->mode_set = false;
    if (*mode) {
        errno = 0;
        unsigned long v = strtoul(mode, NULL, 0);
        if (errno == 0) {
            l->mode = (mode_t)v & 07777;
            l->mode_set = true;
        }
    }
}

static void flag(struct ns_line *l, const char *f)
{
    static const char *const names[] = {"create", "noinit", "iscript", "shared", "mntopts"};
    size_t i;

    for (i = 0; i < 5 && strncmp(f, names[i], strlen(names[i])) != 0; i++)
        ;
    const char *rest = i < 5 ? f + strlen(names[i]) : NULL;
    if (i == 0) {
        create_params(l, f);
    } else if (i == 1) {
        l->noinit = true;
    } else if (i == 2) {
        l->iscript = true;
        if (rest[0] == '=' && rest[1]) {
            free(l->iscript_path);
            l->iscript_path = imp_xalloc(malloc(strlen(l->im->nsd) + strlen(rest) + 2));
            if (rest[1] == '/')
                strcpy(l->iscript_path, rest + 1);
            else
                sprintf(l->iscript_path, "%s/%s", l->im->nsd, rest + 1);
        }
    } else if (i == 3) {
        l->shared = true;
    } else if (i == 4 && rest[0] == '=' && l->method != M_TMPFS) {
        imp_note(l->file, l->line,
                 "mntopts= applies to the tmpfs method only; pam_namespace "
                 "ignores it here, and so does the policy");
    } else if (i == 4 && rest[0] == '=') {
        free(l->mntopts);
        l->mntopts = imp_xalloc(strdup(rest + 1));
    } else if (i == 5) {
        imp_note(l->file, l->line, "unknown option \"%s\" ignored, as pam_namespace ignores it", f);
    }
}

/* METHOD[:FLAG...]; pieces are split at ':' with empty ones skipped (strtok). */
static int parse_method(struct ns_line *l, char *text)
{
    char *save = NULL, *piece = strtok_r(text, ":", &save);

    l->method = M_NONE;
    for (int i = M_USER; piece && i <= M_TMPFS; i++)
        if (strcmp(piece, method_names[i]) == 0)
            l->method = (enum method)i;
    if (l->method == M_NONE)
        return -1;
    l->method_name = method_names[l->method];
    while ((piece = strtok_r(NULL, ":", &save)))
        flag(l, piece);
    return 0;
}

/* A line pam_namespace refuses: it fails every session unless run with ignore_config_error. */
static void refused(struct ns_line *l, const char *why)
{
    imp_say(l->im, l->file, l->line,
            "pam_namespace refuses this line (%s): sessions fail unless it runs with "
            "ignore_config_error; not converted",
            why);
}

static bool has_variable(const char *s)
{
    return strstr(s, "$HOME") || strstr(s, "$USER");
}

/* The polydir and instance prefix fields, as pam_namespace checks them; -1 (said) to skip. */
static int check_paths(struct ns_line *l)
{
    const char *dir = l->field[0], *prefix = l->field[1];

    if (has_variable(dir)) {
        imp_say(l->im, l->file, l->line,
                "polydir \"%s\" depends on the user ($HOME, $USER): the policy's polydirs are "
                "the same paths for every job; not converted",
                dir);
        return -1;
    }
    if (dir[0] != '/' ||
        (l->method != M_TMPFS && prefix[0] != '/' && strncmp(prefix, "$HOME", 5) != 0)) {
        refused(l, "paths must start with '/'");
        return -1;
    }
    if (strstr(dir, "..") || strstr(prefix, "..")) {
        refused(l, "paths may not contain \"..\"");
        return -1;
    }
    if (!(l->path = imp_normalise(dir))) {
        imp_say(l->im, l->file, l->line,
                "polydir \"%s\" is the root directory, which the policy cannot "
                "polyinstantiate; not converted",
                dir);
        return -1;
    }
    if (l->method != M_TMPFS && strstr(prefix, "$HOME"))
        imp_say(l->im, l->file, l->line,
                "instance prefix \"%s\" keeps the instances in the user's home; the policy keeps "
                "them under instance_base on the node, so what users left there is not in %s",
                prefix, l->path);
    return 0;
}

/* The user list: names exempt from polyinstantiation, or after '~' the only ones it is for.
 * Returns -1 when nobody is polyinstantiated (a lone "~"): nothing to convert. */
static int check_users(struct ns_line *l)
{
    const char *list = l->nfields > 3 ? l->field[3] : "";
    bool only = list[0] == '~';
    char names[1024] = "";
    size_t n = 0;

    for (const char *p = list + only; *p;) {
        size_t len = strcspn(p, ",");
        if (len)
            snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%.*s", n++ ? "," : "",
                     (int)len, p);
        p += len + (p[len] == ',');
    }
    if (only && n == 0) {
        imp_note(l->file, l->line,
                 "the user list \"%s\" names nobody: pam_namespace "
                 "polyinstantiates %s for no one; nothing to convert",
                 list, l->path);
        return -1;
    }
    if (only)
        imp_say(l->im, l->file, l->line,
                "only %s get a private %s (a leading '~'); the policy has no per-user polydirs: "
                "every job gets it",
                names, l->path);
    else if (n)
        imp_say(l->im, l->file, l->line,
                "%s %s exempt from %s's polyinstantiation; the policy has no per-user "
                "exemption: their jobs get a private %s too",
                names, n > 1 ? "are" : "is", l->path, l->path);
    return 0;
}

/* create=, shared: what the policy has no word for. */
static void check_flags(struct ns_line *l)
{
    const char *mode = l->mode_set ? l->create_text + strlen("create=") : "";

    if (l->create && l->mode_set && mode[0] != '0')
        imp_say(l->im, l->file, l->line,
                "%s: pam_namespace creates %s when it is missing, with mode 0%lo (strtoul reads "
                "\"%.*s\" as a decimal number; octal needs a leading 0); the policy never creates "
                "a polydir: make %s exist on the nodes",
                l->create_text, l->path, l->mode, (int)strcspn(mode, ","), mode, l->path);
    else if (l->create && l->mode_set)
        imp_say(l->im, l->file, l->line,
                "%s: pam_namespace creates %s when it is missing, with mode 0%lo; the policy "
                "never creates a polydir: make %s exist on the nodes",
                l->create_text, l->path, l->mode, l->path);
    else if (l->create)
        imp_say(l->im, l->file, l->line,
                "%s: pam_namespace creates %s when it is missing; the policy never creates a "
                "polydir: make %s exist on the nodes",
                l->create_text, l->path, l->path);
    if (l->shared && l->method != M_CONTEXT && l->method != M_LEVEL)
        imp_note(l->file, l->line,
                 "shared applies to the context and level methods only; pam_namespace ignores "
                 "it here");
}

/* An init script runs when the instance is set up, unless noinit: iscript= or namespace.init. */
static void check_scripts(struct ns_line *l, bool anchor)
{
    const char *script = l->iscript_path ? l->iscript_path : l->im->init_script;

    if (l->noinit || !script)
        return;
    if (anchor)
        imp_say(l->im, l->file, l->line,
                "%s runs when %s is set up; the policy runs no script: fstab_user's entries are "
                "imported under %s as the script would make them, anything else it does is not",
                script, l->path, l->path);
    else
        imp_say(l->im, l->file, l->line,
                "%s runs when %s is set up (%s); the policy runs no script: what it does is not "
                "converted",
                script, l->path, l->iscript_path ? "iscript=" : "namespace.init");
}

/* The policy cannot hold L's path next to what it already has: said, and true. */
static bool overlaps(struct ns_line *l, bool anchor)
{
    const struct imp *im = l->im;

    if (imp_path_within(POLICY_DEFAULT_INSTANCE_BASE, l->path) ||
        imp_path_within(l->path, POLICY_DEFAULT_INSTANCE_BASE)) {
        imp_say(l->im, l->file, l->line,
                "%s overlaps the policy's instance_base (" POLICY_DEFAULT_INSTANCE_BASE
                "); not converted",
                l->path);
        return true;
    }
    if (!anchor && im->anchor &&
        (imp_path_within(l->path, im->anchor) || imp_path_within(im->anchor, l->path))) {
        imp_say(l->im, l->file, l->line,
                "%s overlaps %s, the tmpfs fstab_user's entries are made in: the policy makes no "
                "mount inside a polydir; not converted",
                l->path, im->anchor);
        return true;
    }
    for (size_t i = 0; i < im->npolydirs; i++) {
        const struct imp_polydir *q = &im->polydirs[i];
        if (!anchor && strcmp(q->path, l->path) == 0)
            continue;
        if (imp_path_within(l->path, q->path) || imp_path_within(q->path, l->path)) {
            imp_say(l->im, l->file, l->line,
                    "%s and the polydir %s (%s) are nested: the policy %s; not converted", l->path,
                    q->path, q->from,
                    anchor ? "makes no mount inside a polydir" : "does not nest polydirs");
            return true;
        }
    }
    return false;
}

static void add_polydir(struct ns_line *l, enum backing b, enum scope s, const char *size)
{
    struct imp *im = l->im;
    struct imp_polydir pd = {.path = l->path, .backing = b, .scope = s};

    if (overlaps(l, false))
        return;
    snprintf(pd.size, sizeof(pd.size), "%s", size);
    pd.from = imp_from(l->file, l->line);
    for (size_t i = 0; i < im->npolydirs; i++) {
        struct imp_polydir *q = &im->polydirs[i];
        if (strcmp(q->path, l->path) != 0)
            continue;
        imp_say(im, l->file, l->line,
                "%s is polyinstantiated again (first at %s): pam_namespace mounts this instance "
                "over that one, so the policy keeps this line's",
                l->path, q->from);
        free(q->from);
        *q = (struct imp_polydir){q->path, b, s, "", pd.from};
        memcpy(q->size, pd.size, sizeof(q->size));
        return;
    }
    imp_add_polydir(im, &pd);
    free(pd.from);
}

/* The tmpfs whose iscript applies fstab_user: a tmpfs mount, so that its entries can go in. */
static void add_anchor(struct ns_line *l, const char *options)
{
    struct imp_mount m = {.type = MOUNT_TMPFS, .options = (char *)options};

    if (overlaps(l, true))
        return;
    l->im->anchor = imp_xalloc(strdup(l->path));
    m.target = imp_percent(l->path);
    m.from = imp_from(l->file, l->line);
    imp_add_mount(l->im, &m);
    free(m.target);
    free(m.from);
}

/* SELinux methods: converted as pam_namespace without SELinux runs them, by user; -1 if not. */
static int selinux_method(struct ns_line *l)
{
    if (l->shared) {
        imp_say(l->im, l->file, l->line,
                "method %s with shared: instances per SELinux %s, shared among users, have no "
                "equivalent (pam_namespace without SELinux skips this line); not converted",
                l->method_name, l->method == M_LEVEL ? "level" : "context");
        return -1;
    }
    imp_say(l->im, l->file, l->line,
            "method %s makes instances per SELinux %s and user; the policy does not label "
            "instances: converted as method user (one instance per user), as pam_namespace "
            "does without SELinux",
            l->method_name, l->method == M_LEVEL ? "level" : "context");
    return 0;
}

static void convert_method(struct ns_line *l)
{
    bool anchor = l->method == M_TMPFS && l->iscript_path && l->im->want_anchor && !l->im->anchor;
    char size[32] = "", options[256] = "";

    check_scripts(l, anchor);
    if (l->method == M_CONTEXT || l->method == M_LEVEL) {
        if (selinux_method(l) == 0)
            add_polydir(l, BACKING_DISK, SCOPE_USER, "");
    } else if (l->method == M_USER) {
        add_polydir(l, BACKING_DISK, SCOPE_USER, "");
    } else if (l->method == M_TMPDIR) {
        add_polydir(l, BACKING_DISK, SCOPE_JOB, "");
    } else {
        imp_tmpfs_options(l->im, l->file, l->line, l->mntopts, anchor, size, sizeof(size), options,
                          sizeof(options));
        if (anchor)
            add_anchor(l, options);
        else
            add_polydir(l, BACKING_TMPFS, SCOPE_JOB, size);
    }
}

static void convert_line(struct ns_line *l)
{
    static const char *const missing[] = {"", "no instance prefix", "no method"};
    char method[256];

    if (l->nfields < 3 || !l->field[0][0]) {
        refused(l, l->nfields < 3 ? missing[l->nfields] : "an empty polydir");
        return;
    }
    snprintf(method, sizeof(method), "%s", l->field[2]);
    if (parse_method(l, l->field[2]) < 0) {
        char why[300];
        snprintf(why, sizeof(why), "unknown method \"%.*s\"", (int)strcspn(method, ":"), method);
        refused(l, why);
        return;
    }
    if (check_paths(l) < 0 || check_users(l) < 0)
        return;
    if (l->nfields > 4)
        imp_note(l->file, l->line,
                 "fields after the fourth are ignored, as pam_namespace "
                 "ignores them");
    check_flags(l);
    convert_method(l);
}

/* One line, as pam_namespace's process_line sees it: leading blanks skipped, cut at the first
 * '#' (wherever it is: quotes do not protect it) and at the newline. */
static void process_line(struct imp *im, const char *file, int lineno, char *text)
{
    struct ns_line l = {.im = im, .file = file, .line = lineno};
    char *buf;

    while (*text && isspace((unsigned char)*text))
        text++;
    text[strcspn(text, "#\n")] = '\0';
    if (!*text)
        return;
    buf = imp_xalloc(malloc(strlen(text) + 1));
    l.nfields = split_fields(text, buf, l.field, MAX_FIELDS);
    convert_line(&l);
    free(buf);
    free(l.create_text);
    free(l.iscript_path);
    free(l.mntopts);
    free(l.path);
}

int imp_read_namespace_conf(struct imp *im, const char *path)
{
    return imp_read_lines(im, path, process_line);
}
