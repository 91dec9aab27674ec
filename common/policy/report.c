/* Diagnostics while a policy loads: errors and warnings at a position, capped so that a
 * hopeless file does not bury the first problems, with quoted text escaped and cut short. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

/* Past this many errors (or warnings) the rest are counted, not shown. */
#define MAX_SHOWN 100

static void vreport(struct ctx *c, enum diag_severity sev, struct loc at, const char *fmt,
                    va_list ap) __attribute__((format(printf, 4, 0)));
static void vreport(struct ctx *c, enum diag_severity sev, struct loc at, const char *fmt,
                    va_list ap)
{
    char msg[1024];
    int s = sev == DIAG_ERROR ? 0 : 1;

    if (c->shown[s] >= MAX_SHOWN) {
        if (!c->capped[s])
            diag_add(c->d, sev, 0, 0, "too many %s: only the first %d are shown",
                     s ? "warnings" : "errors", MAX_SHOWN);
        c->capped[s] = true;
        return;
    }
    c->shown[s]++;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    diag_add(c->d, sev, at.line, at.col, "%s", msg);
}

void error_at(struct ctx *c, struct loc at, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(c, DIAG_ERROR, at, fmt, ap);
    va_end(ap);
}

void warn_at(struct ctx *c, struct loc at, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(c, DIAG_WARNING, at, fmt, ap);
    va_end(ap);
}

void out_of_memory(struct ctx *c)
{
    if (!c->oom)
        diag_add(c->d, DIAG_ERROR, 0, 0, "out of memory while reading the policy");
    c->oom = true;
}

void *zalloc(struct ctx *c, size_t n, size_t size)
{
    void *v = calloc(n ? n : 1, size);

    if (!v)
        out_of_memory(c);
    return v;
}

char *dup_str(struct ctx *c, const char *s)
{
    char *v = strdup(s);

    if (!v)
        out_of_memory(c);
    return v;
}

/* S as it may appear inside "..." in a message: escaped, and cut short when long. Up to
 * ESC_SLOTS results can be used in one message. */
const char *esc(struct ctx *c, const char *s)
{
    char *out = c->esc[c->esc_next++ % ESC_SLOTS];
    size_t o = 0, max = sizeof(c->esc[0]);

    for (; *s && o + 8 < max; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f) {
            o += snprintf(out + o, max - o, "\\x%02x", ch);
        } else {
            if (ch == '"' || ch == '\\')
                out[o++] = '\\';
            out[o++] = (char)ch;
        }
    }
    if (*s) {
        /* Do not cut a UTF-8 sequence in half. */
        while (o > 0 && ((unsigned char)out[o - 1] & 0xc0) == 0x80)
            o--;
        if (o > 0 && ((unsigned char)out[o - 1] & 0xc0) == 0xc0)
            o--;
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* For "expected X, got Y": the kind of a collection, or the scalar as written. */
const char *describe(struct ctx *c, const struct node *n)
{
    const char *text;
    char *out;

    if (n->kind == NODE_MAP)
        return "a mapping";
    if (n->kind == NODE_SEQ)
        return "a list";
    if (is_null(n))
        return "nothing";
    text = esc(c, n->text);
    out = c->esc[c->esc_next++ % ESC_SLOTS];
    snprintf(out, sizeof(c->esc[0]), "\"%s\"", text);
    return out;
}
