/* Reading the tree's values by what they should be: a scalar, a mapping of names (each once),
 * a list, one of a few words. A value of the wrong kind is reported at its own position. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

/* The text of scalar N, or NULL after reporting that WHAT was expected. */
const char *want_scalar(struct ctx *c, const struct node *n, const char *what)
{
    if (n->reported)
        return NULL;
    if (n->kind != NODE_SCALAR || is_null(n)) {
        error_at(c, n->loc, "expected %s, got %s", what, describe(c, n));
        return NULL;
    }
    return n->text;
}

struct keyed {
    const char *key;
    size_t pair;
    struct loc loc;
};

static int cmp_keyed(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    int r = strcmp(x->key, y->key);

    if (r)
        return r;
    return x->pair < y->pair ? -1 : x->pair > y->pair;
}

/* Which pairs of MAP to skip: keys that are not names, and repeats (each reported; WHAT names
 * what the keys are). Returns a calloc'd array of one flag per pair, or NULL when out of memory. */
static bool *map_skips(struct ctx *c, const struct node *map, const char *what)
{
    size_t n = map->nkid / 2, k = 0;
    bool *skip = zalloc(c, n, sizeof(*skip));
    struct keyed *v = zalloc(c, n, sizeof(*v));

    if (!skip || !v) {
        free(v);
        free(skip);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const struct node *key = map->kid[2 * i];
        if (key->kind != NODE_SCALAR) {
            error_at(c, key->loc, "expected a name as the key, got %s", describe(c, key));
            skip[i] = true;
            continue;
        }
        v[k++] = (struct keyed){key->text, i, key->loc};
    }
    qsort(v, k, sizeof(*v), cmp_keyed);
    for (size_t i = 1; i < k; i++) {
        size_t first = i;
        while (first > 0 && strcmp(v[first - 1].key, v[i].key) == 0)
            first--;
        if (first == i)
            continue;
        error_at(c, v[i].loc, "duplicate %s \"%s\" (first at line %d, column %d); keep one", what,
                 esc(c, v[i].key), v[first].loc.line, v[first].loc.col);
        skip[v[i].pair] = true;
    }
    free(v);
    return skip;
}

bool pairs_open(struct pairs *it, struct ctx *c, const struct node *v, const char *expected,
                const char *what)
{
    it->map = v;
    it->i = 0;
    it->skip = NULL;
    if (v->kind != NODE_MAP) {
        error_at(c, v->loc, "expected %s, got %s", expected, describe(c, v));
        return false;
    }
    it->skip = map_skips(c, v, what);
    return it->skip != NULL;
}

bool pairs_next(struct pairs *it, const struct node **key, const struct node **val)
{
    size_t n = it->map->nkid / 2;

    while (it->i < n && it->skip[it->i])
        it->i++;
    if (it->i == n)
        return false;
    *key = it->map->kid[2 * it->i];
    *val = it->map->kid[2 * it->i + 1];
    it->i++;
    return true;
}

void pairs_close(struct pairs *it)
{
    free(it->skip);
    it->skip = NULL;
}

void *want_list(struct ctx *c, const struct node *v, const char *what, size_t size)
{
    if (is_null(v))
        return NULL;
    if (v->kind != NODE_SEQ) {
        error_at(c, v->loc, "expected a list of %s, got %s", what, describe(c, v));
        return NULL;
    }
    return zalloc(c, v->nkid, size);
}

void unknown_key(struct ctx *c, const struct node *key, const char *const *known, const char *where)
{
    const char *near = nearest(key->text, known, count_of(known));
    char list[256] = "";
    size_t off = 0;

    if (near) {
        error_at(c, key->loc, "unknown key \"%s\" (did you mean \"%s\"?)", esc(c, key->text), near);
        return;
    }
    for (size_t i = 0; known[i] && off < sizeof(list); i++)
        off += snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "", known[i]);
    error_at(c, key->loc, "unknown key \"%s\" in %s; expected one of: %s", esc(c, key->text), where,
             list);
}

/* One of CHOICES (NULL-terminated), by index; -1 after reporting. */
int read_choice(struct ctx *c, const struct node *v, const char *key, const char *const *choices)
{
    char list[128] = "";
    size_t off = 0, n = count_of(choices);
    const char *near;

    if (v->kind == NODE_SCALAR && !is_null(v))
        for (size_t i = 0; i < n; i++)
            if (strcmp(v->text, choices[i]) == 0)
                return (int)i;
    for (size_t i = 0; i < n && off < sizeof(list); i++)
        off += snprintf(list + off, sizeof(list) - off, "%s%s",
                        i == 0       ? ""
                        : i + 1 == n ? " or "
                                     : ", ",
                        choices[i]);
    if (!want_scalar(c, v, list))
        return -1;
    if ((near = nearest(v->text, choices, n)))
        error_at(c, v->loc, "unknown %s \"%s\" (did you mean \"%s\"?)", key, esc(c, v->text), near);
    else
        error_at(c, v->loc, "unknown %s \"%s\"; use %s", key, esc(c, v->text), list);
    return -1;
}
