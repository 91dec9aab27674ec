/* Sizes ("50%" of the job's memory, or bytes: "512M", "8G") and octal modes, as tmpfs takes them.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "policy_int.h"

enum size_problem { SIZE_OK, SIZE_MALFORMED, SIZE_ZERO, SIZE_OVER_100, SIZE_HUGE };

/* "50%", or bytes: "1048576", "512M", "8G" (K, M, G, T: powers of 1024). */
static enum size_problem parse_size(const char *s, struct size_spec *out)
{
    uint64_t v = 0;
    unsigned shift = 0;
    const char *p = s;

    if (*p < '0' || *p > '9')
        return SIZE_MALFORMED;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return SIZE_HUGE;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p[0] == '%' && !p[1]) {
        if (v == 0)
            return SIZE_ZERO;
        if (v > 100)
            return SIZE_OVER_100;
        *out = (struct size_spec){SIZE_PERCENT, v};
        return SIZE_OK;
    }
    if (*p) {
        const char *units = "KkMmGgTt", *u = strchr(units, *p);
        if (!u || p[1])
            return SIZE_MALFORMED;
        shift = 10 * (unsigned)((u - units) / 2 + 1);
    }
    if (v == 0)
        return SIZE_ZERO;
    if (v > (UINT64_MAX >> shift))
        return SIZE_HUGE;
    *out = (struct size_spec){SIZE_BYTES, v << shift};
    return SIZE_OK;
}

/* Read a size; PERCENT_OK for polydirs (share of the job's memory), bytes only for mounts. */
bool read_size(struct ctx *c, const char *s, struct loc at, bool percent_ok, struct size_spec *out)
{
    enum size_problem r = parse_size(s, out);

    if (r == SIZE_OK && out->kind == SIZE_PERCENT && !percent_ok) {
        error_at(c, at,
                 "a tmpfs mount's size is absolute (512M, 8G), not \"%s\"; percentages "
                 "of the job's memory are for polydirs",
                 esc(c, s));
        out->kind = SIZE_UNSET;
        return false;
    }
    switch (r) {
    case SIZE_OK:
        return true;
    case SIZE_ZERO:
        error_at(c, at,
                 "size \"%s\" is zero; give a size above 0, or remove it for the "
                 "kernel's default",
                 esc(c, s));
        break;
    case SIZE_OVER_100:
        error_at(c, at, "size \"%s\" is more than 100%% of the job's memory; use at most 100%%",
                 esc(c, s));
        break;
    case SIZE_HUGE:
        error_at(c, at, "size \"%s\" is too large", esc(c, s));
        break;
    case SIZE_MALFORMED:
        error_at(c, at,
                 "malformed size \"%s\"; write %sa whole number of bytes with an optional "
                 "K, M, G or T suffix (512M, 8G)",
                 esc(c, s), percent_ok ? "a percentage of the job's memory (50%) or " : "");
        break;
    }
    out->kind = SIZE_UNSET;
    out->value = 0;
    return false;
}

/* An octal mode: "0755", "755", "1777". */
bool parse_mode(const char *s, unsigned *mode)
{
    size_t n = strlen(s);
    unsigned v = 0;

    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '7')
            return false;
        v = v * 8 + (unsigned)(s[i] - '0');
    }
    if (v > 07777)
        return false;
    *mode = v;
    return true;
}
