/* tmpfs options as the kernel reads them (size= through memparse, base 0 with K M G T P E
 * suffixes; mode= in octal), turned into what the policy says: a tmpfs mount's options or a
 * polydir's size. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"

char *imp_percent(const char *s)
{
    char *out = imp_xalloc(malloc(2 * strlen(s) + 1)), *o = out;

    for (; *s; s++) {
        *o++ = *s;
        if (*s == '%')
            *o++ = '%';
    }
    *o = '\0';
    return out;
}

int imp_tmpfs_size(const char *text, char *out, size_t size, const char **why)
{
    static const char units[] = "kKmMgGtTpPeE", sfx[] = "KMGT";
    unsigned long long v;
    unsigned shift = 0;
    char *end;
    int k = 0;

    *why = "not a size the kernel reads";
    if (!isdigit((unsigned char)text[0]))
        return -1;
    errno = 0;
    v = strtoull(text, &end, 0);
    if (errno)
        return *why = "too large", -1;
    if (*end == '%')
        return *why = "a share of the node's memory for tmpfs, where the policy's percentages "
                      "are of the job's memory: write the size you mean by hand",
               -1;
    if (*end) {
        const char *u = strchr(units, *end);
        if (!u || end[1])
            return -1;
        shift = 10 * (unsigned)((u - units) / 2 + 1);
    }
    if (v == 0)
        return *why = "0 is no limit for tmpfs, which the policy cannot ask for", -1;
    if (v > (ULLONG_MAX >> shift))
        return *why = "too large", -1;
    v <<= shift;
    while (k < 4 && v % 1024 == 0)
        v /= 1024, k++;
    snprintf(out, size, "%llu%.*s", v, k ? 1 : 0, k ? sfx + k - 1 : "");
    return 0;
}

/* A tmpfs mode= as the kernel reads it: octal, at most 07777. */
static int tmpfs_mode(const char *text, unsigned *mode)
{
    char *end;
    unsigned long v;

    if (!*text || text[strspn(text, "01234567")])
        return -1;
    errno = 0;
    v = strtoul(text, &end, 8);
    if (errno || v > 07777)
        return -1;
    *mode = (unsigned)v;
    return 0;
}

struct tmpfs_ctx {
    struct imp *im;
    const char *file;
    int line;
    bool mount;
    char *size;
    size_t ssize;
    unsigned mode;
    bool noexec;
};

static void tmpfs_option(struct tmpfs_ctx *c, const char *o)
{
    const char *why;

    if (!strcmp(o, "nosuid") || !strcmp(o, "nodev") || !strcmp(o, "defaults") || !strcmp(o, "rw"))
        return;
    if (!strcmp(o, "noexec") && c->mount) {
        c->noexec = true;
    } else if (!strcmp(o, "noexec")) {
        imp_say(c->im, c->file, c->line,
                "noexec: the policy cannot make a polydir noexec; "
                "dropped");
    } else if (!strncmp(o, "size=", 5)) {
        if (imp_tmpfs_size(o + 5, c->size, c->ssize, &why) < 0)
            imp_say(c->im, c->file, c->line, "%s: %s; dropped (the kernel's default applies)", o,
                    why);
    } else if (!strncmp(o, "mode=", 5) && !c->mount) {
        imp_say(c->im, c->file, c->line,
                "%s: the plugin sets the mode of a polydir's instance itself; dropped", o);
    } else if (!strncmp(o, "mode=", 5)) {
        if (tmpfs_mode(o + 5, &c->mode) < 0)
            imp_say(c->im, c->file, c->line, "%s is not an octal mode the kernel reads; dropped",
                    o);
    } else {
        imp_say(c->im, c->file, c->line,
                "tmpfs option \"%s\" has no equivalent in the policy; dropped", o);
    }
}

void imp_tmpfs_options(struct imp *im, const char *file, int line, const char *text, bool mount,
                       char *size, size_t ssize, char *options, size_t osize)
{
    struct tmpfs_ctx c = {im, file, line, mount, size, ssize, 01777, false};
    char *copy = imp_xalloc(strdup(text ? text : "")), *save = NULL;

    size[0] = '\0';
    for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save))
        tmpfs_option(&c, o);
    free(copy);
    if (!mount)
        return;
    snprintf(options, osize, "%s%s%smode=%04o%s", size[0] ? "size=" : "", size, size[0] ? "," : "",
             c.mode, c.noexec ? ",noexec" : "");
}
