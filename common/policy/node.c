/* instance_base may name the node (%n), as Slurm's own BasePath does: several slurmds on one
 * host (`slurmd -N NAME`) must never share a job's directory. The policy is read as written;
 * the front end that knows the node expands it once (policy_set_node). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

#define MAX_NODE_LEN 255

bool policy_node_name_ok(const char *node)
{
    size_t n = node ? strlen(node) : 0;

    if (n == 0 || n > MAX_NODE_LEN || strcmp(node, ".") == 0 || strcmp(node, "..") == 0)
        return false;
    for (const char *s = node; *s; s++)
        if (*s == '/' || (unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

int policy_base_expand(const char *base, const char *node, char *out, size_t size)
{
    size_t len = 0;

    if (!policy_node_name_ok(node)) {
        errno = EINVAL;
        return -1;
    }
    for (const char *s = base; *s; s++) {
        const char *add = s;
        size_t n = 1;
        if (s[0] == '%' && (s[1] == 'n' || s[1] == '%')) {
            add = s[1] == 'n' ? node : "%";
            n = strlen(add);
            s++;
        }
        if (len + n >= size) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(out + len, add, n);
        len += n;
    }
    if (size == 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    out[len] = '\0';
    return (int)len;
}

/* Whether PATH is TEMPLATE with each %n replaced by some node name (one path component). */
static bool base_matches(const char *t, const char *path)
{
    while (*t) {
        if (t[0] == '%' && t[1] == 'n') {
            for (size_t n = 1; path[n - 1] && path[n - 1] != '/'; n++)
                if (base_matches(t + 2, path + n))
                    return true;
            return false;
        }
        if (t[0] == '%' && t[1] == '%')
            t++;
        if (*t++ != *path++)
            return false;
    }
    return *path == '\0';
}

int policy_set_node(struct policy *p, const char *node)
{
    char buf[4096];
    char *base;

    if (!strchr(p->instance_base, '%'))
        return 0;
    if (policy_base_expand(p->instance_base, node, buf, sizeof(buf)) < 0 || !(base = strdup(buf)))
        return -1;
    free(p->base_template);
    p->base_template = p->instance_base;
    p->instance_base = base;
    return 0;
}

bool policy_base_of_other_node(const struct policy *p, const char *base)
{
    return p->base_template && strcmp(base, p->instance_base) != 0 &&
           base_matches(p->base_template, base);
}

/* instance_base knows %n and %% only: the user and job expansions of polydirs would make a
 * base per user or job, which the store (one lock, one trash per base) is not. */
bool check_base_expansions(struct ctx *c, const struct node *v)
{
    const char *s = v->text;

    for (const char *p = strchr(s, '%'); p; p = strchr(p + 2, '%')) {
        if (p[1] == 'n' || p[1] == '%')
            continue;
        error_at(c, v->loc,
                 "instance_base \"%s\" has %s; only %%n (the node's name) and %%%% (a literal "
                 "%%) may be used there",
                 esc(c, s), p[1] ? "an expansion other than %n" : "a lone \"%\" at its end");
        return false;
    }
    return true;
}
