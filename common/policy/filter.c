#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

static bool name_ok(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (isspace((unsigned char)s[i]) || s[i] == ',' || s[i] == '~' || s[i] == ':')
            return false;
    return true;
}

static int push(struct filter *f, const char *s, size_t n)
{
    char **v = realloc(f->names, (f->count + 1) * sizeof(*v));
    char *copy;

    if (!v)
        return -1;
    f->names = v;
    if (!(copy = strndup(s, n)))
        return -1;
    v[f->count++] = copy;
    return 0;
}

void filter_clear(struct filter *f)
{
    for (size_t i = 0; i < f->count; i++)
        free(f->names[i]);
    free(f->names);
    f->names = NULL;
    f->count = 0;
    f->negate = false;
    f->present = false;
}

int filter_parse(struct filter *f, const char *text, struct err *e)
{
    const char *p = text;

    filter_clear(f);
    f->present = true;
    if (*p == '~') {
        f->negate = true;
        p++;
    }
    if (*p == '\0') {
        bool negated = f->negate;
        filter_clear(f);
        return errprintf(e, negated ? "\"~\" must be followed by group names, as in \"~A,B\""
                                    : "empty filter; remove the key to match everyone");
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);

        if (n == 0) {
            filter_clear(f);
            return errprintf(e, "empty name in filter \"%s\" (stray comma?)", text);
        }
        if (!name_ok(p, n)) {
            filter_clear(f);
            return errprintf(e,
                             "bad name \"%.*s\" in filter \"%s\": names are separated by "
                             "commas, without spaces, and only the first may carry \"~\"",
                             (int)n, p, text);
        }
        if (push(f, p, n) < 0) {
            filter_clear(f);
            return errprintf(e, "out of memory");
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

int filter_add_name(struct filter *f, const char *name, struct err *e)
{
    if (!name_ok(name, strlen(name)))
        return errprintf(e,
                         "bad name \"%s\" in a filter list: a list holds plain names; "
                         "write the string form \"~A,B\" to negate",
                         name);
    f->present = true;
    if (push(f, name, strlen(name)) < 0)
        return errprintf(e, "out of memory");
    return 0;
}

bool filter_match(const struct filter *f, const char *const *names, size_t count)
{
    bool hit = false;

    if (!f->present)
        return true;
    for (size_t i = 0; i < f->count && !hit; i++)
        for (size_t j = 0; j < count && !hit; j++)
            hit = names[j] && strcmp(f->names[i], names[j]) == 0;
    return f->negate ? !hit : hit;
}

void filter_format(const struct filter *f, char *buf, size_t size)
{
    size_t off = 0;

    if (size == 0)
        return;
    buf[0] = '\0';
    if (!f->present)
        return;
    if (f->negate && off + 1 < size)
        buf[off++] = '~';
    for (size_t i = 0; i < f->count; i++) {
        int n = snprintf(buf + off, size - off, "%s%s", i ? "," : "", f->names[i]);
        if (n < 0 || (size_t)n >= size - off)
            break;
        off += n;
    }
    buf[off < size ? off : size - 1] = '\0';
}
