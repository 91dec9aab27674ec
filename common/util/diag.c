#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

void diag_list_init(struct diag_list *d, const char *file)
{
    char shown[1024];

    memset(d, 0, sizeof(*d));
    d->file = strdup(esc_ctl(shown, sizeof(shown), file ? file : "<policy>"));
}

void diag_list_free(struct diag_list *d)
{
    for (size_t i = 0; i < d->count; i++)
        free(d->v[i].msg);
    free(d->v);
    free(d->file);
    memset(d, 0, sizeof(*d));
}

void diag_add(struct diag_list *d, enum diag_severity sev, int line, int col, const char *fmt, ...)
{
    char raw[1024], buf[1024];
    va_list ap;
    struct diag *v;

    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    /* One diagnostic, one line, whatever bytes the paths it names hold. */
    esc_ctl(buf, sizeof(buf), raw);
    /* Out of memory while reporting: keep the count so the caller still fails closed. */
    if (sev == DIAG_ERROR)
        d->errors++;
    else
        d->warnings++;
    v = realloc(d->v, (d->count + 1) * sizeof(*v));
    if (!v)
        return;
    d->v = v;
    v[d->count].severity = sev;
    v[d->count].line = line;
    v[d->count].col = col;
    v[d->count].msg = strdup(buf);
    if (v[d->count].msg)
        d->count++;
}

/* Insertion sort: stable, so two diagnostics at one position keep the order they were found in. */
static void sort_by_position(struct diag *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct diag cur = v[i];
        size_t j = i;
        while (j > 0 && (v[j - 1].line > cur.line ||
                         (v[j - 1].line == cur.line && v[j - 1].col > cur.col))) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = cur;
    }
}

void diag_format(const struct diag_list *d, size_t i, char *buf, size_t size)
{
    const struct diag *g = &d->v[i];
    const char *sev = g->severity == DIAG_WARNING ? "warning: " : "";

    if (g->line > 0)
        snprintf(buf, size, "%s:%d:%d: %s%s", d->file, g->line, g->col, sev, g->msg);
    else
        snprintf(buf, size, "%s: %s%s", d->file, sev, g->msg);
}

void diag_print(struct diag_list *d, FILE *out)
{
    char buf[2048];

    sort_by_position(d->v, d->count);
    for (size_t i = 0; i < d->count; i++) {
        diag_format(d, i, buf, sizeof(buf));
        fprintf(out, "%s\n", buf);
    }
}
