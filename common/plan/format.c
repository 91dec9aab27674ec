/* Renderings of a plan for isolationctl explain: text for admins, JSON for scripts. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"
#include "plan/plan.h"

/* S as shown to an admin: names from NSS and expanded paths may hold control bytes. Up to four
 * results can be used in one call. */
static const char *shown(const char *s)
{
    static char slot[4][4 * 4096 + 1];
    static unsigned next;

    return esc_ctl(slot[next++ % 4], sizeof(slot[0]), s ? s : "");
}

/* 536870912 -> "512M"; sizes that are not a whole number of units stay in bytes. */
static void human_size(uint64_t b, char *buf, size_t size)
{
    static const char units[] = "KMGT";
    int u = -1;

    while (b && b % 1024 == 0 && u < 3) {
        b /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, size, "%" PRIu64, b);
    else
        snprintf(buf, size, "%" PRIu64 "%c", b, units[u]);
}

static void mount_options(const struct plan_mount *m, char *buf, size_t size)
{
    char sz[32];

    buf[0] = '\0';
    switch (m->type) {
    case MOUNT_BIND:
        snprintf(buf, size, "%s,nosuid,nodev%s", m->readonly ? "ro" : "rw",
                 m->noexec ? ",noexec" : "");
        break;
    case MOUNT_TMPFS:
        human_size(m->size_bytes, sz, sizeof(sz));
        snprintf(buf, size, "%s%s%smode=%04o,nosuid,nodev%s", m->size_bytes ? "size=" : "",
                 m->size_bytes ? sz : "", m->size_bytes ? "," : "", m->mode,
                 m->noexec ? ",noexec" : "");
        break;
    case MOUNT_DIR:
        snprintf(buf, size, "mode=%04o", m->mode);
        break;
    case MOUNT_SYMLINK:
        break;
    }
}

static void print_polydir(const struct plan_polydir *d, FILE *out, int n, const char *file)
{
    char sz[32], what[160];
    const char *per = d->scope == SCOPE_JOB ? "per job" : "per user, shared by their jobs";

    if (d->backing == BACKING_TMPFS && d->percent) {
        human_size(d->size_bytes, sz, sizeof(sz));
        snprintf(what, sizeof(what), "private tmpfs (size %u%% of the job's memory: %s), one %s",
                 d->percent, sz, per);
    } else if (d->backing == BACKING_TMPFS) {
        human_size(d->size_bytes, sz, sizeof(sz));
        snprintf(what, sizeof(what), "private tmpfs (%s%s), one %s",
                 d->size_bytes ? "size " : "kernel default size", d->size_bytes ? sz : "", per);
    } else if (d->size_bytes) {
        human_size(d->size_bytes, sz, sizeof(sz));
        snprintf(what, sizeof(what), "private directory on local disk (size %s, a quota), one %s",
                 sz, per);
    } else {
        snprintf(what, sizeof(what), "private directory on local disk, one %s", per);
    }
    fprintf(out, "  %2d. polydir %s: %s  [%s:%d]\n", n, shown(d->path), what, shown(file), d->line);
}

static void print_mount(const struct plan_mount *m, FILE *out, int n, const char *file)
{
    char opts[128];

    mount_options(m, opts, sizeof(opts));
    fprintf(out, "  %2d. ", n);
    switch (m->type) {
    case MOUNT_BIND:
        fprintf(out, "bind %s -> %s (%s)", shown(m->source), shown(m->target), opts);
        break;
    case MOUNT_SYMLINK:
        fprintf(out, "symlink %s -> %s", shown(m->target), shown(m->source));
        break;
    case MOUNT_TMPFS:
        fprintf(out, "tmpfs %s (%s)", shown(m->target), opts);
        break;
    case MOUNT_DIR:
        fprintf(out, "dir %s (%s)", shown(m->target), opts);
        break;
    }
    fprintf(out, "  [%s:%d]\n", shown(file), m->line);
}

void plan_print_text(const struct plan *plan, const char *file, FILE *out)
{
    int n = 0;

    fprintf(out, "profile: %s\n", shown(plan->profile));
    if (!plan->isolate) {
        fprintf(out, "  no isolation: tasks run in the node's own mount namespace\n");
        return;
    }
    fprintf(out, "operations, in order, inside the job's private mount namespace:\n");
    for (size_t i = 0; i < plan->npolydirs; i++)
        print_polydir(&plan->polydirs[i], out, ++n, file);
    for (size_t i = 0; i < plan->nmounts; i++)
        print_mount(&plan->mounts[i], out, ++n, file);
    for (size_t i = 0; i < plan->nhide; i++)
        fprintf(out, "  %2d. hide %s (empty read-only tmpfs)  [%s:%d]\n", ++n,
                shown(plan->hide[i].path), shown(file), plan->hide[i].line);
    if (plan->nenv)
        fprintf(out, "environment of every task:\n");
    for (size_t i = 0; i < plan->nenv; i++)
        fprintf(out, "  %s=%s  [%s:%d]\n", shown(plan->env[i].name), shown(plan->env[i].value),
                shown(file), plan->env[i].line);
}

static void json_str(const char *s, FILE *out)
{
    if (!s) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = *s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void json_polydirs(const struct plan *plan, FILE *out)
{
    fputs("\"polydirs\": [", out);
    for (size_t i = 0; i < plan->npolydirs; i++) {
        const struct plan_polydir *d = &plan->polydirs[i];
        fprintf(out, "%s{\"path\": ", i ? ", " : "");
        json_str(d->path, out);
        fprintf(out,
                ", \"backing\": \"%s\", \"scope\": \"%s\", \"size\": ", backing_name(d->backing),
                scope_name(d->scope));
        if (d->size_bytes)
            fprintf(out, "%" PRIu64, d->size_bytes);
        else
            fputs("null", out);
        fprintf(out, ", \"line\": %d}", d->line);
    }
    fputs("]", out);
}

static void json_mounts(const struct plan *plan, FILE *out)
{
    char opts[128];

    fputs("\"mounts\": [", out);
    for (size_t i = 0; i < plan->nmounts; i++) {
        const struct plan_mount *m = &plan->mounts[i];
        mount_options(m, opts, sizeof(opts));
        fprintf(out, "%s{\"type\": \"%s\", \"source\": ", i ? ", " : "", mount_type_name(m->type));
        json_str(m->source, out);
        fputs(", \"target\": ", out);
        json_str(m->target, out);
        fputs(", \"options\": ", out);
        json_str(opts[0] ? opts : NULL, out);
        fprintf(out, ", \"readonly\": %s, \"line\": %d}", m->readonly ? "true" : "false", m->line);
    }
    fputs("]", out);
}

void plan_print_json(const struct plan *plan, FILE *out)
{
    fputs("{\"profile\": ", out);
    json_str(plan->profile, out);
    fprintf(out, ", \"isolate\": %s, ", plan->isolate ? "true" : "false");
    json_polydirs(plan, out);
    fputs(", ", out);
    json_mounts(plan, out);
    fputs(", \"hide\": [", out);
    for (size_t i = 0; i < plan->nhide; i++) {
        fputs(i ? ", " : "", out);
        json_str(plan->hide[i].path, out);
    }
    fputs("], \"env\": {", out);
    for (size_t i = 0; i < plan->nenv; i++) {
        fputs(i ? ", " : "", out);
        json_str(plan->env[i].name, out);
        fputs(": ", out);
        json_str(plan->env[i].value, out);
    }
    fputs("}}\n", out);
}
