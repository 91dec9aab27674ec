/* The imported policy, written as YAML by hand: block style, each entry with the FILE:LINE it
 * comes from as a comment; a scalar is plain only when it is an absolute path of safe bytes, else
 * double-quoted with '"' and '\' escaped and control bytes as \xNN. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "import.h"
#include "util/util.h"

#define PROFILE "imported"

static void scalar(FILE *out, const char *s)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789/_.-+%@=";

    if (s[0] == '/' && s[strspn(s, safe)] == '\0') {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void key(FILE *out, const char *indent, const char *name, const char *value)
{
    fprintf(out, "%s%s: ", indent, name);
    scalar(out, value);
    fputc('\n', out);
}

static void comment_from(FILE *out, const char *from)
{
    char shown[4096];

    fprintf(out, "  # %s\n", esc_ctl(shown, sizeof(shown), from));
}

static void write_polydirs(const struct imp *im, FILE *out)
{
    if (!im->npolydirs)
        return;
    fputs("    polydirs:\n", out);
    for (size_t i = 0; i < im->npolydirs; i++) {
        const struct imp_polydir *pd = &im->polydirs[i];

        fputs("      - path: ", out);
        scalar(out, pd->path);
        comment_from(out, pd->from);
        fprintf(out, "        backing: %s\n        scope: %s\n", backing_name(pd->backing),
                scope_name(pd->scope));
        if (pd->size[0])
            fprintf(out, "        size: %s\n", pd->size);
    }
}

static void write_mounts(const struct imp *im, FILE *out)
{
    if (!im->nmounts)
        return;
    fputs("    mounts:\n", out);
    for (size_t i = 0; i < im->nmounts; i++) {
        const struct imp_mount *m = &im->mounts[i];

        fprintf(out, "      - type: %s", mount_type_name(m->type));
        comment_from(out, m->from);
        if (m->source)
            key(out, "        ", "source", m->source);
        key(out, "        ", "target", m->target);
        if (m->options)
            key(out, "        ", "options", m->options);
        if (m->groups)
            key(out, "        ", "groups", m->groups);
    }
}

int imp_write_policy(const struct imp *im, const char *const *sources, size_t nsources, FILE *out)
{
    char shown[4096];

    fputs("# Made by isolationctl import from:\n", out);
    for (size_t i = 0; i < nsources; i++)
        fprintf(out, "#   %s\n", esc_ctl(shown, sizeof(shown), sources[i]));
    fputs("# The instance prefixes of namespace.conf are not kept: the instances of disk\n"
          "# polydirs live under instance_base. Review this file, then run\n"
          "# isolationctl check and isolationctl explain on it.\n"
          "version: 1\n"
          "default_profile: " PROFILE "\n"
          "profiles:\n",
          out);
    if (!im->npolydirs && !im->nmounts) {
        fputs("  " PROFILE ": {}\n", out);
        return 0;
    }
    fputs("  " PROFILE ":\n", out);
    write_polydirs(im, out);
    write_mounts(im, out);
    return 0;
}
