/* Paths in a policy are absolute and normalised, so that comparing them as text compares what
 * they name; templates may hold only the expansions the planner knows. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

#define MAX_PATH_LEN 4095

/* Why PATH is not absolute and normalised (no ".", "..", empty component), or NULL. */
static const char *path_problem(const char *path)
{
    const char *s = path;

    if (*path == '\0')
        return "is empty; write an absolute path";
    if (*path != '/')
        return "is relative; write an absolute path, starting with /";
    if (strlen(path) > MAX_PATH_LEN)
        return "is longer than 4095 bytes";
    while (*s == '/') {
        const char *next = strchr(s + 1, '/');
        size_t n = next ? (size_t)(next - s - 1) : strlen(s + 1);
        if (n == 0 && !(s == path && !next))
            return "has an empty component (\"//\" or a trailing \"/\"); remove the extra /";
        if (n == 1 && s[1] == '.')
            return "has a \".\" component; remove it";
        if (n == 2 && s[1] == '.' && s[2] == '.')
            return "has a \"..\" component; write the path without it";
        if (!next)
            break;
        s = next;
    }
    return NULL;
}

/* The first "%" of S that is not %u %U %g %j or %%, or NULL. */
static const char *bad_expansion(const char *s)
{
    for (const char *p = strchr(s, '%'); p; p = strchr(p + 2, '%'))
        if (!p[1] || !strchr("uUgj%", p[1]))
            return p;
    return NULL;
}

bool check_expansions(struct ctx *c, const struct node *v, const char *what)
{
    const char *p = bad_expansion(v->text);
    int n = 1;

    if (!p)
        return true;
    if (!p[1]) {
        error_at(c, v->loc, "%s \"%s\" ends with a lone \"%%\"; write %%%% for a literal %%", what,
                 esc(c, v->text));
        return false;
    }
    while (((unsigned char)p[n + 1] & 0xc0) == 0x80)
        n++;
    error_at(c, v->loc,
             "%s \"%s\" has an unknown expansion \"%%%.*s\"; use %%u (user name), %%U (uid), "
             "%%g (primary group name), %%j (job id) or %%%% (a literal %%)",
             what, esc(c, v->text), n, p + 1);
    return false;
}

/* A path value: absolute and normalised; TEMPLATE paths may hold %-expansions. */
char *read_path(struct ctx *c, const struct node *v, const char *what, bool template)
{
    const char *s = want_scalar(c, v, "an absolute path");
    const char *why;

    if (!s)
        return NULL;
    if ((why = path_problem(s))) {
        error_at(c, v->loc, "%s \"%s\" %s", what, esc(c, s), why);
        return NULL;
    }
    if (template && !check_expansions(c, v, what))
        return NULL;
    return dup_str(c, s);
}

char *read_path_not_root(struct ctx *c, const struct node *v, const char *what, bool template,
                         const char *root_msg)
{
    char *path = read_path(c, v, what, template);

    if (path && strcmp(path, "/") == 0) {
        error_at(c, v->loc, "%s", root_msg);
        free(path);
        return NULL;
    }
    return path;
}
