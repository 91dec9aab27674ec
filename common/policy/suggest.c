/* "Did you mean ...?": the known word nearest to a misspelt key, value or profile name. */
#include "config.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "policy_int.h"

/* Optimal string alignment distance (a transposition counts as one edit); words are short. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    size_t d[MAX_NAME_LEN + 1][MAX_NAME_LEN + 1];

    if (n > MAX_NAME_LEN || m > MAX_NAME_LEN)
        return SIZE_MAX;
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[n][m];
}

/* The candidate nearest to WORD, if near enough to be what was meant: within a few edits, or
 * else the only candidate WORD begins ("default" for "default_profile"); NULL otherwise. */
const char *nearest(const char *word, const char *const *cands, size_t n)
{
    size_t len = strlen(word), best = SIZE_MAX, limit = (len + 2) / 3, prefixed = 0;
    const char *pick = NULL, *prefix = NULL;

    if (len == 0 || len > MAX_NAME_LEN)
        return NULL;
    if (limit > 3)
        limit = 3;
    for (size_t i = 0; i < n; i++) {
        size_t clen = strlen(cands[i]);
        if (strcasecmp(word, cands[i]) == 0)
            return cands[i];
        if (len >= 3 && clen > len && strncmp(word, cands[i], len) == 0) {
            prefix = cands[i];
            prefixed++;
        }
        if ((clen > len ? clen - len : len - clen) > limit)
            continue;
        size_t dist = edit_distance(word, cands[i]);
        if (dist < best && dist < clen) {
            best = dist;
            pick = cands[i];
        }
    }
    if (best <= limit)
        return pick;
    return prefixed == 1 ? prefix : NULL;
}
