/* Loading and validating the isolation policy (isolation.yaml(5)) into the model of policy.h.
 *
 * Three passes. libyaml's events become a small tree of nodes, refusing what the format never
 * uses (aliases, anchors, tags, several documents, deep nesting). The tree is read into the model,
 * each misplaced or malformed value reported at its own line and column. Then the rules that span
 * the file are checked on the model: profile references, inheritance cycles, defaults outside
 * their allowed lists, the instance base, and how mounts nest. Every problem is reported, not just
 * the first, and a policy with any error is not returned. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "err.h"
#include "filter.h"
#include "policy.h"

/* A policy needs 7 levels (top, profiles, profile, mounts, entry, groups list, name). */
#define MAX_DEPTH 32
/* Past this many errors (or warnings) the rest are counted, not shown. */
#define MAX_SHOWN 100
#define MAX_PATH_LEN 4095
#define MAX_NAME_LEN 64
#define ESC_SLOTS 6

/* --- the node tree ------------------------------------------------------------------------ */

enum node_kind { NODE_SCALAR, NODE_MAP, NODE_SEQ };

struct node {
    enum node_kind kind;
    bool plain;    /* an unquoted scalar: only these can mean "nothing" (~, null, empty) */
    bool reported; /* stands in for an alias, already reported: say nothing more about it */
    struct loc loc;
    char *text; /* scalars */
    size_t len;
    struct node **kid; /* maps: key, value, key, value...; lists: the items */
    size_t nkid;
    size_t cap;
};

struct ctx {
    struct diag_list *d;
    struct policy *p;
    const char *buf;
    size_t len;
    size_t shown[2]; /* errors and warnings added, by severity */
    bool capped[2];
    bool oom;
    unsigned esc_next;
    char esc[ESC_SLOTS][160];
    struct loc root_loc;
    struct loc base_loc;
    bool base_written;
    bool profiles_bad;             /* profiles: is not a mapping; references cannot be judged */
    const struct profile **sorted; /* profiles by name, for lookups */
    bool *chain_ok;                /* per profile: every inherits up the chain resolves */
};

static void node_free(struct node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkid; i++)
        node_free(n->kid[i]);
    free(n->kid);
    free(n->text);
    free(n);
}

/* --- reporting ---------------------------------------------------------------------------- */

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

static void error_at(struct ctx *c, struct loc at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void error_at(struct ctx *c, struct loc at, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(c, DIAG_ERROR, at, fmt, ap);
    va_end(ap);
}

static void warn_at(struct ctx *c, struct loc at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn_at(struct ctx *c, struct loc at, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(c, DIAG_WARNING, at, fmt, ap);
    va_end(ap);
}

static const struct loc whole_file = {0, 0};

static void out_of_memory(struct ctx *c)
{
    if (!c->oom)
        diag_add(c->d, DIAG_ERROR, 0, 0, "out of memory while reading the policy");
    c->oom = true;
}

static void *zalloc(struct ctx *c, size_t n, size_t size)
{
    void *v = calloc(n ? n : 1, size);

    if (!v)
        out_of_memory(c);
    return v;
}

static char *dup_str(struct ctx *c, const char *s)
{
    char *v = strdup(s);

    if (!v)
        out_of_memory(c);
    return v;
}

/* S as it may appear inside "..." in a message: escaped, and cut short when long. Up to
 * ESC_SLOTS results can be used in one message. */
static const char *esc(struct ctx *c, const char *s)
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

/* What a node is, for "expected X, got Y". */
static bool is_null(const struct node *n)
{
    if (n->kind != NODE_SCALAR || !n->plain)
        return false;
    return n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
           strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0;
}

static const char *describe(struct ctx *c, const struct node *n)
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

/* --- suggestions -------------------------------------------------------------------------- */

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
static const char *nearest(const char *word, const char *const *cands, size_t n)
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

static size_t count_of(const char *const *list)
{
    size_t n = 0;

    while (list[n])
        n++;
    return n;
}

/* --- text checks -------------------------------------------------------------------------- */

/* Offset of the first byte that is not part of well-formed UTF-8, or LEN. */
static size_t utf8_bad_offset(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char b = s[i];
        size_t need;
        uint32_t cp, min;
        if (b < 0x80) {
            i++;
            continue;
        }
        if ((b & 0xe0) == 0xc0) {
            need = 1, cp = b & 0x1f, min = 0x80;
        } else if ((b & 0xf0) == 0xe0) {
            need = 2, cp = b & 0x0f, min = 0x800;
        } else if ((b & 0xf8) == 0xf0) {
            need = 3, cp = b & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (len - i <= need)
            return i;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += need + 1;
    }
    return len;
}

/* The line and column (in characters, as libyaml counts) of byte OFF. */
static struct loc loc_of_offset(const char *buf, size_t len, size_t off)
{
    struct loc at = {1, 1};

    for (size_t i = 0; i < off && i < len; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch == '\n' || (ch == '\r' && (i + 1 >= len || buf[i + 1] != '\n'))) {
            at.line++;
            at.col = 1;
        } else if ((ch & 0xc0) != 0x80 && ch != '\r') {
            at.col++;
        }
    }
    return at;
}

/* Where line S (ending at END) has a tab among its leading blanks, or NULL. */
static const char *indent_tab(const char *s, const char *end)
{
    while (s < end && *s == ' ')
        s++;
    return s < end && *s == '\t' ? s : NULL;
}

/* libyaml's message for a tab in indentation is "found character that cannot start any token".
 * When it failed on or after a line indented with a tab, name every such line instead. */
static bool report_tabs(struct ctx *c, int upto_line)
{
    const char *end = c->buf + c->len;
    bool seen = false;

    for (int pass = 0; pass < 2; pass++) {
        const char *s = c->buf;
        for (int line = 1; s < end; line++) {
            const char *nl = memchr(s, '\n', (size_t)(end - s));
            const char *tab = indent_tab(s, nl ? nl : end);
            if (tab && pass == 0 && line <= upto_line)
                seen = true;
            if (tab && pass == 1)
                error_at(c, (struct loc){line, (int)(tab - s) + 1},
                         "tab character in indentation; YAML indents with spaces only: replace "
                         "the tab with spaces");
            s = nl ? nl + 1 : end;
        }
        if (!seen)
            return false;
    }
    return true;
}

/* A hint for libyaml's problems that have a usual cause. */
static const char *syntax_hint(const char *problem, char at)
{
    if (strstr(problem, "cannot start any token") && (at == '%' || at == '@' || at == '`'))
        return "; quote a value that starts with %, @ or ` (as in source: \"%u\")";
    if (strstr(problem, "did not find expected key") ||
        strstr(problem, "mapping values are not allowed"))
        return "; check the indentation of this line against the lines above, and quote "
               "values that contain \": \"";
    if (strstr(problem, "did not find expected"))
        return "; check for an unclosed bracket, brace or quote";
    return "";
}

/* The byte at line LINE, column COL (1-based, columns in characters), or 0. */
static char char_at(const struct ctx *c, int line, int col)
{
    const char *s = c->buf, *end = c->buf + c->len;

    for (int l = 1; l < line && s < end; l++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        s = nl ? nl + 1 : end;
    }
    for (int k = 1; s < end && *s != '\n'; s++) {
        if (((unsigned char)*s & 0xc0) == 0x80)
            continue;
        if (k++ == col)
            return *s;
    }
    return 0;
}

static void report_syntax(struct ctx *c, const yaml_parser_t *y)
{
    struct loc at = {(int)y->problem_mark.line + 1, (int)y->problem_mark.column + 1};
    const char *problem = y->problem ? y->problem : "unknown problem";

    if (y->error == YAML_MEMORY_ERROR) {
        out_of_memory(c);
        return;
    }
    if (y->error == YAML_READER_ERROR) {
        at = loc_of_offset(c->buf, c->len, y->problem_offset);
        error_at(c, at, "not valid YAML text: %s (character U+%04X); remove it", problem,
                 (unsigned)y->problem_value);
        return;
    }
    if (report_tabs(c, at.line))
        return;
    const char *hint = syntax_hint(problem, char_at(c, at.line, at.col));
    if (y->context && (y->context_mark.line != y->problem_mark.line ||
                       y->context_mark.column != y->problem_mark.column))
        error_at(c, at, "not valid YAML: %s (%s that starts at line %d, column %d)%s", problem,
                 y->context, (int)y->context_mark.line + 1, (int)y->context_mark.column + 1, hint);
    else if (y->context)
        error_at(c, at, "not valid YAML: %s (%s)%s", problem, y->context, hint);
    else
        error_at(c, at, "not valid YAML: %s%s", problem, hint);
}

/* --- from events to the tree -------------------------------------------------------------- */

static struct node *node_new(struct ctx *c, enum node_kind kind, struct loc at)
{
    struct node *n = zalloc(c, 1, sizeof(*n));

    if (n) {
        n->kind = kind;
        n->loc = at;
    }
    return n;
}

static int node_add(struct ctx *c, struct node *parent, struct node *kid)
{
    if (parent->nkid == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 4;
        struct node **v = realloc(parent->kid, cap * sizeof(*v));
        if (!v) {
            out_of_memory(c);
            return -1;
        }
        parent->kid = v;
        parent->cap = cap;
    }
    parent->kid[parent->nkid++] = kid;
    return 0;
}

/* The format has no use for anchors and tags; refusing them also rules out alias bombs. */
static void check_props(struct ctx *c, const yaml_char_t *anchor, const yaml_char_t *tag,
                        struct loc at)
{
    if (anchor)
        error_at(c, at, "anchors (&%s) are not supported; write the value out in full",
                 esc(c, (const char *)anchor));
    if (tag) {
        const char *t = (const char *)tag, *std = "tag:yaml.org,2002:";
        bool short_form = strncmp(t, std, strlen(std)) == 0;
        error_at(c, at, "tags (%s%s) are not supported; remove it", short_form ? "!!" : "",
                 esc(c, short_form ? t + strlen(std) : t));
    }
}

/* Take the scalar out of EV (it is ours to free), refusing NUL and control characters. */
static struct node *scalar_node(struct ctx *c, yaml_event_t *ev, struct loc at)
{
    struct node *n = node_new(c, NODE_SCALAR, at);

    if (!n)
        return NULL;
    n->text = (char *)ev->data.scalar.value;
    n->len = ev->data.scalar.length;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    ev->data.scalar.value = NULL;
    check_props(c, ev->data.scalar.anchor, ev->data.scalar.tag, at);
    if (strlen(n->text) != n->len) {
        error_at(c, at, "a NUL character (\\0) is not allowed in a value; remove it");
        return n;
    }
    for (size_t i = 0; i < n->len; i++) {
        unsigned char ch = (unsigned char)n->text[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            error_at(c, at, "control character \\x%02x in \"%s\"; remove it", ch, esc(c, n->text));
            break;
        }
    }
    return n;
}

/* Place N in the tree: as the root, or as the next child of the innermost open collection. */
static int attach(struct ctx *c, struct node **stack, size_t depth, struct node **root,
                  struct node *n)
{
    if (depth == 0) {
        *root = n;
        return 0;
    }
    if (node_add(c, stack[depth - 1], n) < 0) {
        node_free(n);
        return -1;
    }
    return 0;
}

/* Turn one event into tree nodes. Returns 1 at the end, 0 to go on, -1 to abandon the tree. */
static int on_event(struct ctx *c, yaml_event_t *ev, struct node **stack, size_t *depth,
                    struct node **root, int *docs)
{
    struct loc at = {(int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1};
    struct node *n = NULL;

    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        return 1;
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs == 1)
            return 0;
        error_at(c, at,
                 "a second YAML document starts here; a policy is one document: "
                 "remove this \"---\" and what follows it");
        return 1;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        if (*depth > 0)
            (*depth)--;
        return 0;
    case YAML_SCALAR_EVENT:
        n = scalar_node(c, ev, at);
        break;
    case YAML_ALIAS_EVENT:
        error_at(c, at, "aliases (*%s) are not supported; write the value out in full",
                 esc(c, (const char *)ev->data.alias.anchor));
        /* Stand in with "nothing" so that keys and values stay paired. */
        if ((n = node_new(c, NODE_SCALAR, at)) && !(n->text = dup_str(c, ""))) {
            node_free(n);
            n = NULL;
        }
        if (n)
            n->plain = n->reported = true;
        break;
    case YAML_MAPPING_START_EVENT:
        n = node_new(c, NODE_MAP, at);
        check_props(c, ev->data.mapping_start.anchor, ev->data.mapping_start.tag, at);
        break;
    case YAML_SEQUENCE_START_EVENT:
        n = node_new(c, NODE_SEQ, at);
        check_props(c, ev->data.sequence_start.anchor, ev->data.sequence_start.tag, at);
        break;
    default:
        return 0;
    }
    if (!n || attach(c, stack, *depth, root, n) < 0)
        return -1;
    if (n->kind == NODE_SCALAR)
        return 0;
    if (*depth == MAX_DEPTH) {
        error_at(c, at, "nested more than %d levels deep; a policy needs at most 7", MAX_DEPTH);
        return -1;
    }
    stack[(*depth)++] = n;
    return 0;
}

/* Parse the buffer into a tree. NULL when it is not YAML (reported) or holds no document. */
static struct node *tree_load(struct ctx *c)
{
    yaml_parser_t y;
    yaml_event_t ev;
    struct node *stack[MAX_DEPTH];
    struct node *root = NULL;
    size_t depth = 0;
    int docs = 0, r = 0;

    if (!yaml_parser_initialize(&y)) {
        out_of_memory(c);
        return NULL;
    }
    yaml_parser_set_input_string(&y, (const unsigned char *)c->buf, c->len);
    yaml_parser_set_encoding(&y, YAML_UTF8_ENCODING);
    while (r == 0) {
        if (!yaml_parser_parse(&y, &ev)) {
            report_syntax(c, &y);
            r = -1;
            break;
        }
        r = on_event(c, &ev, stack, &depth, &root, &docs);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&y);
    if (r < 0) {
        node_free(root);
        return NULL;
    }
    return root;
}

/* --- reading values ----------------------------------------------------------------------- */

/* The text of scalar N, or NULL after reporting that WHAT was expected. */
static const char *want_scalar(struct ctx *c, const struct node *n, const char *what)
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

static void unknown_key(struct ctx *c, const struct node *key, const char *const *known,
                        const char *where)
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

/* Why PATH is not absolute and normalised (no ".", "..", empty component), or NULL. */
static const char *path_problem(const char *path)
{
    const char *s = path;

    if (*path == '\0')
        return "is empty; write an absolute path";
    if (*path != '/')
        return "is relative; write an absolute path, starting with /";
    if (strlen(path) > MAX_PATH_LEN)
        return "is longer than 4095 bytes";
    while (*s == '/') {
        const char *next = strchr(s + 1, '/');
        size_t n = next ? (size_t)(next - s - 1) : strlen(s + 1);
        if (n == 0 && !(s == path && !next))
            return "has an empty component (\"//\" or a trailing \"/\"); remove the extra /";
        if (n == 1 && s[1] == '.')
            return "has a \".\" component; remove it";
        if (n == 2 && s[1] == '.' && s[2] == '.')
            return "has a \"..\" component; write the path without it";
        if (!next)
            break;
        s = next;
    }
    return NULL;
}

/* The first "%" of S that is not %u %U %g %j or %%, or NULL. */
static const char *bad_expansion(const char *s)
{
    for (const char *p = strchr(s, '%'); p; p = strchr(p + 2, '%'))
        if (!p[1] || !strchr("uUgj%", p[1]))
            return p;
    return NULL;
}

static bool check_expansions(struct ctx *c, const struct node *v, const char *what)
{
    const char *p = bad_expansion(v->text);
    int n = 1;

    if (!p)
        return true;
    if (!p[1]) {
        error_at(c, v->loc, "%s \"%s\" ends with a lone \"%%\"; write %%%% for a literal %%", what,
                 esc(c, v->text));
        return false;
    }
    while (((unsigned char)p[n + 1] & 0xc0) == 0x80)
        n++;
    error_at(c, v->loc,
             "%s \"%s\" has an unknown expansion \"%%%.*s\"; use %%u (user name), %%U (uid), "
             "%%g (primary group name), %%j (job id) or %%%% (a literal %%)",
             what, esc(c, v->text), n, p + 1);
    return false;
}

/* A path value: absolute and normalised; TEMPLATE paths may hold %-expansions. */
static char *read_path(struct ctx *c, const struct node *v, const char *what, bool template)
{
    const char *s = want_scalar(c, v, "an absolute path");
    const char *why;

    if (!s)
        return NULL;
    if ((why = path_problem(s))) {
        error_at(c, v->loc, "%s \"%s\" %s", what, esc(c, s), why);
        return NULL;
    }
    if (template && !check_expansions(c, v, what))
        return NULL;
    return dup_str(c, s);
}

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
static bool read_size(struct ctx *c, const char *s, struct loc at, bool percent_ok,
                      struct size_spec *out)
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
static bool parse_mode(const char *s, unsigned *mode)
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

/* One of CHOICES (NULL-terminated), by index; -1 after reporting. */
static int read_choice(struct ctx *c, const struct node *v, const char *key,
                       const char *const *choices)
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

/* --- profile names and name lists --------------------------------------------------------- */

static bool profile_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > MAX_NAME_LEN || s[0] == '-' || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

/* A profile named in default_profile, allowed_profiles or inherits; resolved later. */
static char *read_profile_ref(struct ctx *c, const struct node *v, struct loc *at)
{
    const char *s = want_scalar(c, v, "a profile name");

    if (!s)
        return NULL;
    *at = v->loc;
    return dup_str(c, s);
}

static void read_name_list(struct ctx *c, const struct node *v, struct name_list *l)
{
    l->present = true;
    l->loc = v->loc;
    if (v->reported)
        return;
    if (v->kind != NODE_SEQ) {
        if (v->kind == NODE_SCALAR && !is_null(v))
            error_at(c, v->loc, "expected a list of profile names, got %s; write [%s]",
                     describe(c, v), esc(c, v->text));
        else
            error_at(c, v->loc, "expected a list of profile names, got %s", describe(c, v));
        return;
    }
    if (v->nkid == 0) {
        error_at(c, v->loc, "allowed_profiles is empty; list at least one profile (or none)");
        return;
    }
    l->names = zalloc(c, v->nkid, sizeof(*l->names));
    l->locs = zalloc(c, v->nkid, sizeof(*l->locs));
    if (!l->names || !l->locs)
        return;
    for (size_t i = 0; i < v->nkid; i++) {
        struct loc at;
        char *name = read_profile_ref(c, v->kid[i], &at);
        if (!name)
            continue;
        for (size_t j = 0; j < l->count; j++)
            if (strcmp(l->names[j], name) == 0)
                warn_at(c, at,
                        "profile \"%s\" is listed twice (first at line %d, column %d); "
                        "remove one",
                        esc(c, name), l->locs[j].line, l->locs[j].col);
        l->names[l->count] = name;
        l->locs[l->count++] = at;
    }
}

/* --- filters -------------------------------------------------------------------------------- */

/* groups: / users: in the string form ("A,B", "~A") or as a YAML list of names. */
static void read_filter(struct ctx *c, const struct node *v, struct filter *f, const char *key)
{
    struct err e;

    f->loc = v->loc;
    if (v->reported)
        return;
    if (v->kind == NODE_MAP) {
        error_at(c, v->loc, "expected %s names (\"A,B\", \"~A\" or a list), got a mapping",
                 strcmp(key, "users") == 0 ? "user" : "group");
        return;
    }
    if (v->kind == NODE_SCALAR) {
        if (filter_parse(f, is_null(v) ? "" : v->text, &e) < 0)
            error_at(c, v->loc, "bad %s filter: %s", key, e.text);
        f->loc = v->loc;
        return;
    }
    if (v->nkid == 0) {
        error_at(c, v->loc, "bad %s filter: the list is empty; remove the key to match everyone",
                 key);
        return;
    }
    for (size_t i = 0; i < v->nkid; i++) {
        const char *name = want_scalar(c, v->kid[i], "a name");
        if (name && filter_add_name(f, name, &e) < 0) {
            error_at(c, v->kid[i]->loc, "bad %s filter: %s", key, e.text);
            filter_clear(f);
            return;
        }
        if (!name) {
            filter_clear(f);
            return;
        }
    }
    f->loc = v->loc;
}

/* --- polydirs ----------------------------------------------------------------------------- */

static const char *const polydir_keys[] = {"path", "backing", "scope", "size", NULL};
static const char *const backing_names[] = {"disk", "tmpfs", NULL};
static const char *const scope_names[] = {"job", "user", NULL};

static void read_polydir(struct ctx *c, const struct node *v, struct polydir *d)
{
    const struct node *path = NULL, *size = NULL;
    bool *skip;
    int r;

    d->loc = v->loc;
    if (v->kind != NODE_MAP) {
        error_at(c, v->loc, "expected a polydir entry (a mapping such as {path: /tmp}), got %s",
                 describe(c, v));
        return;
    }
    if (!(skip = map_skips(c, v, "key")))
        return;
    for (size_t i = 0; i < v->nkid / 2; i++) {
        const struct node *key = v->kid[2 * i], *val = v->kid[2 * i + 1];
        if (skip[i])
            continue;
        if (strcmp(key->text, "path") == 0) {
            path = val;
        } else if (strcmp(key->text, "backing") == 0) {
            if ((r = read_choice(c, val, "backing", backing_names)) >= 0)
                d->backing = (enum backing)r;
        } else if (strcmp(key->text, "scope") == 0) {
            if ((r = read_choice(c, val, "scope", scope_names)) >= 0)
                d->scope = (enum scope)r;
        } else if (strcmp(key->text, "size") == 0) {
            size = val;
        } else {
            unknown_key(c, key, polydir_keys, "a polydir entry");
        }
    }
    free(skip);
    if (!path)
        error_at(c, v->loc, "polydir entry has no path; add path: /tmp (for example)");
    else if ((d->path = read_path(c, path, "polydir path", false)) && strcmp(d->path, "/") == 0) {
        error_at(c, path->loc, "polydir path cannot be /; name a directory such as /tmp");
        free(d->path);
        d->path = NULL;
    }
    if (!size)
        return;
    const char *s = want_scalar(c, size, "a size such as 50% or 512M");
    if (!s)
        return;
    if (read_size(c, s, size->loc, true, &d->size) && d->backing != BACKING_TMPFS) {
        error_at(c, size->loc,
                 "size applies to tmpfs backing only; remove it or set "
                 "backing: tmpfs");
        d->size.kind = SIZE_UNSET;
    }
}

static void read_polydirs(struct ctx *c, const struct node *v, struct profile *pr)
{
    if (is_null(v))
        return;
    if (v->kind != NODE_SEQ) {
        error_at(c, v->loc, "expected a list of polydir entries, got %s", describe(c, v));
        return;
    }
    if (!(pr->polydirs = zalloc(c, v->nkid, sizeof(*pr->polydirs))))
        return;
    for (size_t i = 0; i < v->nkid; i++)
        read_polydir(c, v->kid[i], &pr->polydirs[pr->npolydirs++]);
}

/* --- mounts ------------------------------------------------------------------------------- */

static const char *const mount_keys[] = {"type",   "source", "target", "options",
                                         "groups", "users",  NULL};
static const char *const mount_type_names[] = {"bind", "symlink", "tmpfs", "dir", NULL};

struct mount_nodes {
    const struct node *type, *source, *source_key, *target, *options, *options_key;
};

static void bind_option(struct ctx *c, struct loc at, const char *opt, struct mount_entry *m,
                        unsigned *seen)
{
    static const char *const known[] = {"ro", "rw", "nosuid", "nodev", "noexec", "defaults", NULL};
    const char *near;

    for (size_t i = 0; known[i]; i++) {
        if (strcmp(opt, known[i]) == 0) {
            *seen |= 1u << i;
            if (i == 0)
                m->flags |= MOUNT_OPT_RO;
            if (i == 4)
                m->flags |= MOUNT_OPT_NOEXEC;
            return;
        }
    }
    if ((near = nearest(opt, known, count_of(known))))
        error_at(c, at, "unknown bind option \"%s\" (did you mean \"%s\"?)", esc(c, opt), near);
    else
        error_at(c, at,
                 "unknown bind option \"%s\"; bind options are ro, rw, nosuid, nodev, "
                 "noexec and defaults",
                 esc(c, opt));
}

/* tmpfs: size=, mode=, noexec (nosuid and nodev are always applied); dir: mode= only. */
static void fs_option(struct ctx *c, struct loc at, const char *opt, struct mount_entry *m,
                      unsigned *seen)
{
    static const char *const names[] = {"", "mode", "size", "", "noexec"};
    bool tmpfs = m->type == MOUNT_TMPFS;
    const char *what = tmpfs ? "tmpfs" : "dir";
    unsigned bit;

    if (strncmp(opt, "mode=", 5) == 0) {
        bit = 1;
        if (!parse_mode(opt + 5, &m->mode))
            error_at(c, at, "malformed mode \"%s\"; write an octal mode such as 0755 or 1777",
                     esc(c, opt + 5));
    } else if (tmpfs && strncmp(opt, "size=", 5) == 0) {
        bit = 2;
        read_size(c, opt + 5, at, false, &m->size);
    } else if (tmpfs && strcmp(opt, "noexec") == 0) {
        bit = 4;
        m->flags |= MOUNT_OPT_NOEXEC;
    } else if (tmpfs && (strcmp(opt, "nosuid") == 0 || strcmp(opt, "nodev") == 0)) {
        return;
    } else {
        error_at(c, at, "unknown %s option \"%s\"; %s", what, esc(c, opt),
                 tmpfs ? "tmpfs options are size=SIZE, mode=OCTAL and noexec"
                       : "the only dir option is mode=OCTAL");
        return;
    }
    if (*seen & bit)
        error_at(c, at, "option \"%s\" is given twice; keep one", names[bit]);
    *seen |= bit;
}

static void read_options(struct ctx *c, const struct node *v, struct mount_entry *m)
{
    const char *s = want_scalar(c, v, "a comma-separated string of options such as \"ro,noexec\"");
    unsigned seen = 0;
    char *copy, *save = NULL;

    if (!s || !(m->options = dup_str(c, s)))
        return;
    if (!*s) {
        error_at(c, v->loc, "options is empty; remove it for the defaults");
        return;
    }
    if (!(copy = dup_str(c, s)))
        return;
    if (s[0] == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,"))
        error_at(c, v->loc, "empty option in \"%s\" (stray comma?)", esc(c, s));
    for (char *opt = strtok_r(copy, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
        if (m->type == MOUNT_BIND)
            bind_option(c, v->loc, opt, m, &seen);
        else
            fs_option(c, v->loc, opt, m, &seen);
    }
    free(copy);
    if (m->type == MOUNT_BIND && (seen & 3) == 3)
        error_at(c, v->loc, "options \"%s\" ask for both ro and rw; keep one", esc(c, s));
}

/* Sort a mount entry's keys into N; report unknown ones. */
static bool mount_collect(struct ctx *c, const struct node *v, struct mount_nodes *n,
                          struct mount_entry *m)
{
    bool *skip = map_skips(c, v, "key");

    if (!skip)
        return false;
    for (size_t i = 0; i < v->nkid / 2; i++) {
        const struct node *key = v->kid[2 * i], *val = v->kid[2 * i + 1];
        if (skip[i])
            continue;
        if (strcmp(key->text, "type") == 0) {
            n->type = val;
        } else if (strcmp(key->text, "source") == 0) {
            n->source = val;
            n->source_key = key;
        } else if (strcmp(key->text, "target") == 0) {
            n->target = val;
        } else if (strcmp(key->text, "options") == 0) {
            n->options = val;
            n->options_key = key;
        } else if (strcmp(key->text, "groups") == 0) {
            read_filter(c, val, &m->groups, "groups");
        } else if (strcmp(key->text, "users") == 0) {
            read_filter(c, val, &m->users, "users");
        } else {
            unknown_key(c, key, mount_keys, "a mount entry");
        }
    }
    free(skip);
    return true;
}

static void read_mount_source(struct ctx *c, const struct mount_nodes *n, struct mount_entry *m)
{
    const char *name = mount_type_names[m->type];

    if (m->type == MOUNT_TMPFS || m->type == MOUNT_DIR) {
        if (n->source)
            error_at(c, n->source_key->loc, "a %s entry takes no source; remove it", name);
        return;
    }
    if (!n->source) {
        error_at(c, m->loc, "%s entry has no source; add source: %s", name,
                 m->type == MOUNT_BIND ? "/path/on/the/host" : "LINK-TEXT");
        return;
    }
    if (m->type == MOUNT_BIND) {
        m->source = read_path(c, n->source, "bind source", true);
        return;
    }
    const char *s = want_scalar(c, n->source, "the symlink's text");
    if (s && check_expansions(c, n->source, "symlink source"))
        m->source = dup_str(c, s);
}

static void read_mount(struct ctx *c, const struct node *v, struct mount_entry *m)
{
    struct mount_nodes n = {0};
    char *target = NULL;
    int type;

    m->loc = v->loc;
    if (v->kind != NODE_MAP) {
        error_at(c, v->loc, "expected a mount entry (a mapping with type and target), got %s",
                 describe(c, v));
        return;
    }
    if (!mount_collect(c, v, &n, m))
        return;
    if (n.target && (target = read_path(c, n.target, "mount target", true)) &&
        strcmp(target, "/") == 0) {
        error_at(c, n.target->loc, "a mount target cannot be /");
        free(target);
        target = NULL;
    }
    if (!n.type) {
        error_at(c, v->loc, "mount entry has no type; add type: bind, symlink, tmpfs or dir");
        free(target);
        return;
    }
    if ((type = read_choice(c, n.type, "mount type", mount_type_names)) < 0) {
        /* Without a type the rest cannot be judged; the target is left out of later checks. */
        free(target);
        return;
    }
    m->type = (enum mount_type)type;
    m->target = target;
    if (m->type == MOUNT_TMPFS || m->type == MOUNT_DIR)
        m->mode = 0755;
    if (!n.target)
        error_at(c, v->loc, "%s entry has no target; add target: /path", mount_type_names[type]);
    read_mount_source(c, &n, m);
    if (n.options && m->type == MOUNT_SYMLINK)
        error_at(c, n.options_key->loc, "a symlink entry takes no options; remove them");
    else if (n.options)
        read_options(c, n.options, m);
}

static void read_mounts(struct ctx *c, const struct node *v, struct profile *pr)
{
    if (is_null(v))
        return;
    if (v->kind != NODE_SEQ) {
        error_at(c, v->loc, "expected a list of mount entries, got %s", describe(c, v));
        return;
    }
    if (!(pr->mounts = zalloc(c, v->nkid, sizeof(*pr->mounts))))
        return;
    for (size_t i = 0; i < v->nkid; i++)
        read_mount(c, v->kid[i], &pr->mounts[pr->nmounts++]);
}

/* --- hide and env ------------------------------------------------------------------------- */

static void read_hide(struct ctx *c, const struct node *v, struct profile *pr)
{
    if (is_null(v))
        return;
    if (v->kind != NODE_SEQ) {
        error_at(c, v->loc, "expected a list of paths to hide, got %s", describe(c, v));
        return;
    }
    if (!(pr->hide = zalloc(c, v->nkid, sizeof(*pr->hide))))
        return;
    for (size_t i = 0; i < v->nkid; i++) {
        struct path_entry *h = &pr->hide[pr->nhide++];
        h->loc = v->kid[i]->loc;
        if ((h->path = read_path(c, v->kid[i], "hidden path", false)) &&
            strcmp(h->path, "/") == 0) {
            error_at(c, h->loc, "hide cannot cover /; name the directories to hide");
            free(h->path);
            h->path = NULL;
        }
    }
}

static bool env_name_ok(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static void read_env(struct ctx *c, const struct node *v, struct profile *pr)
{
    bool *skip;

    if (is_null(v))
        return;
    if (v->kind != NODE_MAP) {
        error_at(c, v->loc, "expected a mapping of variables (such as {TMPDIR: /tmp}), got %s",
                 describe(c, v));
        return;
    }
    if (!(skip = map_skips(c, v, "variable")))
        return;
    if (!(pr->env = zalloc(c, v->nkid / 2, sizeof(*pr->env)))) {
        free(skip);
        return;
    }
    for (size_t i = 0; i < v->nkid / 2; i++) {
        const struct node *key = v->kid[2 * i], *val = v->kid[2 * i + 1];
        if (skip[i])
            continue;
        if (!env_name_ok(key->text)) {
            error_at(c, key->loc,
                     "bad variable name \"%s\": use letters, digits and \"_\", "
                     "not starting with a digit",
                     esc(c, key->text));
            continue;
        }
        if (is_null(val)) {
            error_at(c, val->loc,
                     "expected a string value for %s, got nothing; write %s: \"\" "
                     "for an empty value",
                     key->text, key->text);
            continue;
        }
        if (val->kind != NODE_SCALAR) {
            error_at(c, val->loc, "expected a string value for %s, got %s", key->text,
                     describe(c, val));
            continue;
        }
        struct env_var *e = &pr->env[pr->nenv++];
        e->loc = key->loc;
        e->name = dup_str(c, key->text);
        e->value = dup_str(c, val->text);
    }
    free(skip);
}

/* --- profiles ----------------------------------------------------------------------------- */

static const char *const profile_keys[] = {"inherits", "polydirs", "mounts", "hide", "env", NULL};

static void read_profile_body(struct ctx *c, const struct node *v, struct profile *pr)
{
    bool *skip;

    if (is_null(v))
        return;
    if (v->kind != NODE_MAP) {
        error_at(c, v->loc,
                 "expected a profile (a mapping with polydirs, mounts, hide, env or "
                 "inherits), got %s",
                 describe(c, v));
        return;
    }
    if (!(skip = map_skips(c, v, "key")))
        return;
    for (size_t i = 0; i < v->nkid / 2; i++) {
        const struct node *key = v->kid[2 * i], *val = v->kid[2 * i + 1];
        if (skip[i])
            continue;
        if (strcmp(key->text, "inherits") == 0)
            pr->inherits = read_profile_ref(c, val, &pr->inherits_loc);
        else if (strcmp(key->text, "polydirs") == 0)
            read_polydirs(c, val, pr);
        else if (strcmp(key->text, "mounts") == 0)
            read_mounts(c, val, pr);
        else if (strcmp(key->text, "hide") == 0)
            read_hide(c, val, pr);
        else if (strcmp(key->text, "env") == 0)
            read_env(c, val, pr);
        else
            unknown_key(c, key, profile_keys, "a profile");
    }
    free(skip);
}

static void read_profiles(struct ctx *c, const struct node *v)
{
    struct policy *p = c->p;
    bool *skip;

    if (is_null(v))
        return;
    if (v->kind != NODE_MAP) {
        error_at(c, v->loc, "expected a mapping of profile names to profiles, got %s",
                 describe(c, v));
        c->profiles_bad = true;
        return;
    }
    if (!(skip = map_skips(c, v, "profile")))
        return;
    if (!(p->profiles = zalloc(c, v->nkid / 2, sizeof(*p->profiles)))) {
        free(skip);
        return;
    }
    for (size_t i = 0; i < v->nkid / 2; i++) {
        const struct node *key = v->kid[2 * i];
        if (skip[i])
            continue;
        struct profile *pr = &p->profiles[p->nprofiles];
        if (!(pr->name = dup_str(c, key->text)))
            break;
        p->nprofiles++;
        pr->loc = key->loc;
        if (strcmp(pr->name, PROFILE_NONE) == 0)
            error_at(c, key->loc,
                     "the profile name \"none\" is reserved (it means no "
                     "isolation); rename this profile");
        else if (!profile_name_ok(pr->name))
            error_at(c, key->loc,
                     "bad profile name \"%s\": use up to %d letters, digits, \".\", "
                     "\"_\" and \"-\", not starting with \".\" or \"-\"",
                     esc(c, pr->name), MAX_NAME_LEN);
        read_profile_body(c, v->kid[2 * i + 1], pr);
    }
    free(skip);
}

/* --- partitions --------------------------------------------------------------------------- */

static const char *const partition_keys[] = {"default_profile", "allowed_profiles", NULL};

static void read_partition(struct ctx *c, const struct node *v, struct partition *part)
{
    bool *skip;

    if (is_null(v))
        return;
    if (v->kind != NODE_MAP) {
        error_at(c, v->loc, "expected a mapping with default_profile or allowed_profiles, got %s",
                 describe(c, v));
        return;
    }
    if (!(skip = map_skips(c, v, "key")))
        return;
    for (size_t i = 0; i < v->nkid / 2; i++) {
        const struct node *key = v->kid[2 * i], *val = v->kid[2 * i + 1];
        if (skip[i])
            continue;
        if (strcmp(key->text, "default_profile") == 0)
            part->default_profile = read_profile_ref(c, val, &part->default_loc);
        else if (strcmp(key->text, "allowed_profiles") == 0)
            read_name_list(c, val, &part->allowed);
        else
            unknown_key(c, key, partition_keys, "a partition");
    }
    free(skip);
}

static void read_partitions(struct ctx *c, const struct node *v)
{
    struct policy *p = c->p;
    bool *skip;

    if (is_null(v))
        return;
    if (v->kind != NODE_MAP) {
        error_at(c, v->loc, "expected a mapping of partition names to settings, got %s",
                 describe(c, v));
        return;
    }
    if (!(skip = map_skips(c, v, "partition")))
        return;
    if (!(p->partitions = zalloc(c, v->nkid / 2, sizeof(*p->partitions)))) {
        free(skip);
        return;
    }
    for (size_t i = 0; i < v->nkid / 2; i++) {
        const struct node *key = v->kid[2 * i];
        if (skip[i])
            continue;
        struct partition *part = &p->partitions[p->npartitions];
        if (!(part->name = dup_str(c, key->text)))
            break;
        p->npartitions++;
        part->loc = key->loc;
        if (key->len == 0 || strpbrk(key->text, " \t,"))
            error_at(c, key->loc,
                     "bad partition name \"%s\": Slurm partition names have no "
                     "spaces or commas",
                     esc(c, key->text));
        read_partition(c, v->kid[2 * i + 1], part);
    }
    free(skip);
}

/* --- the top level ------------------------------------------------------------------------ */

static const char *const root_keys[] = {
    "version",          "instance_base", "on_error",   "default_profile",
    "allowed_profiles", "profiles",      "partitions", NULL};
static const char *const on_error_names[] = {"deny", "allow", NULL};

static void read_version(struct ctx *c, const struct node *v)
{
    const char *s = want_scalar(c, v, "the format version, 1");

    if (!s)
        return;
    if (strcmp(s, "1") != 0) {
        error_at(c, v->loc, "unsupported version \"%s\"; this spank-isolation reads version %d",
                 esc(c, s), POLICY_VERSION);
        return;
    }
    c->p->version = POLICY_VERSION;
}

static void read_instance_base(struct ctx *c, const struct node *v)
{
    char *base = read_path(c, v, "instance_base", false);

    c->base_written = true;
    c->base_loc = v->loc;
    if (base && strcmp(base, "/") == 0) {
        error_at(c, v->loc, "instance_base cannot be /; use a root-only directory such as %s",
                 POLICY_DEFAULT_INSTANCE_BASE);
        free(base);
        base = NULL;
    }
    free(c->p->instance_base);
    c->p->instance_base = base;
}

static bool is_profile_key(const char *key)
{
    for (size_t i = 0; profile_keys[i]; i++)
        if (strcmp(key, profile_keys[i]) == 0)
            return true;
    return false;
}

static void read_top_key(struct ctx *c, const struct node *key, const struct node *val,
                         bool *seen_version, bool *seen_default)
{
    struct policy *p = c->p;
    int r;

    if (strcmp(key->text, "version") == 0) {
        *seen_version = true;
        read_version(c, val);
    } else if (strcmp(key->text, "instance_base") == 0) {
        read_instance_base(c, val);
    } else if (strcmp(key->text, "on_error") == 0) {
        if ((r = read_choice(c, val, "on_error", on_error_names)) >= 0)
            p->on_error = (enum on_error)r;
    } else if (strcmp(key->text, "default_profile") == 0) {
        *seen_default = true;
        p->default_profile = read_profile_ref(c, val, &p->default_loc);
    } else if (strcmp(key->text, "allowed_profiles") == 0) {
        read_name_list(c, val, &p->allowed);
    } else if (strcmp(key->text, "profiles") == 0) {
        read_profiles(c, val);
    } else if (strcmp(key->text, "partitions") == 0) {
        read_partitions(c, val);
    } else if (is_profile_key(key->text)) {
        error_at(c, key->loc,
                 "unknown key \"%s\" at the top level; %s belongs inside a profile "
                 "(profiles: NAME: %s: ...)",
                 key->text, key->text, key->text);
    } else {
        unknown_key(c, key, root_keys, "the policy");
    }
}

static void read_root(struct ctx *c, const struct node *root)
{
    bool seen_version = false, seen_default = false;
    bool *skip;

    c->root_loc = root->loc;
    if (root->kind != NODE_MAP) {
        error_at(c, root->loc,
                 "expected a mapping of policy keys (version, default_profile, "
                 "profiles...) at the top level, got %s",
                 describe(c, root));
        return;
    }
    if (!(skip = map_skips(c, root, "key")))
        return;
    for (size_t i = 0; i < root->nkid / 2; i++)
        if (!skip[i])
            read_top_key(c, root->kid[2 * i], root->kid[2 * i + 1], &seen_version, &seen_default);
    free(skip);
    if (!seen_version)
        error_at(c, root->loc, "missing version; add `version: %d` at the top of the policy",
                 POLICY_VERSION);
    if (!seen_default)
        error_at(c, root->loc,
                 "missing default_profile; add `default_profile: NAME`, the "
                 "profile jobs get when they ask for none");
}

/* --- looking profiles up ------------------------------------------------------------------ */

static int cmp_profile_name(const void *a, const void *b)
{
    const struct profile *const *x = a, *const *y = b;

    return strcmp((*x)->name, (*y)->name);
}

static const struct profile *lookup(const struct ctx *c, const char *name)
{
    struct profile key = {.name = (char *)name};
    const struct profile *kp = &key;
    const struct profile **hit;

    if (!c->sorted)
        return NULL;
    hit = bsearch(&kp, c->sorted, c->p->nprofiles, sizeof(*c->sorted), cmp_profile_name);
    return hit ? *hit : NULL;
}

/* Report NAME (written at AT, in WHERE) if it names no profile; "none" is fine unless in
 * inherits. Returns true if the reference resolves. */
static bool check_ref(struct ctx *c, const char *name, struct loc at, const char *where,
                      bool none_ok)
{
    const char **names;
    const char *near = NULL;

    if (strcmp(name, PROFILE_NONE) == 0) {
        if (!none_ok)
            error_at(c, at,
                     "a profile cannot inherit \"none\" (no isolation); remove inherits "
                     "or name a profile");
        return none_ok;
    }
    if (lookup(c, name))
        return true;
    if ((names = calloc(c->p->nprofiles + 1, sizeof(*names)))) {
        for (size_t i = 0; i < c->p->nprofiles; i++)
            names[i] = c->p->profiles[i].name;
        near = nearest(name, names, c->p->nprofiles);
        free(names);
    }
    if (near)
        error_at(c, at, "unknown profile \"%s\" in %s (did you mean \"%s\"?)", esc(c, name), where,
                 near);
    else
        error_at(c, at, "unknown profile \"%s\" in %s; define it under profiles:%s", esc(c, name),
                 where, none_ok ? ", or write none for no isolation" : "");
    return false;
}

static void check_refs(struct ctx *c)
{
    struct policy *p = c->p;
    char where[200];

    if (p->default_profile)
        check_ref(c, p->default_profile, p->default_loc, "default_profile", true);
    for (size_t i = 0; p->allowed.present && i < p->allowed.count; i++)
        check_ref(c, p->allowed.names[i], p->allowed.locs[i], "allowed_profiles", true);
    for (size_t i = 0; i < p->npartitions; i++) {
        const struct partition *part = &p->partitions[i];
        if (part->default_profile) {
            snprintf(where, sizeof(where), "the default_profile of partition \"%s\"",
                     esc(c, part->name));
            check_ref(c, part->default_profile, part->default_loc, where, true);
        }
        snprintf(where, sizeof(where), "the allowed_profiles of partition \"%s\"",
                 esc(c, part->name));
        for (size_t j = 0; j < part->allowed.count; j++)
            check_ref(c, part->allowed.names[j], part->allowed.locs[j], where, true);
    }
    for (size_t i = 0; i < p->nprofiles; i++)
        if (p->profiles[i].inherits)
            check_ref(c, p->profiles[i].inherits, p->profiles[i].inherits_loc, "inherits", false);
}

/* --- inheritance ---------------------------------------------------------------------------- */

static void report_cycle(struct ctx *c, const size_t *path, size_t from, size_t len)
{
    const struct profile *pr = c->p->profiles;
    size_t first = from;
    char text[512];
    size_t off = 0;

    /* Name the cycle from the profile defined first, and report it there. */
    for (size_t k = from; k < len; k++)
        if (path[k] < path[first])
            first = k;
    for (size_t k = 0; k <= len - from && off < sizeof(text); k++) {
        size_t at = from + (first - from + k) % (len - from);
        off += snprintf(text + off, sizeof(text) - off, "%s%s", k ? " -> " : "", pr[path[at]].name);
    }
    error_at(c, pr[path[first]].inherits_loc, "inherits cycle: %s; remove one of these inherits",
             text);
}

/* Follow every inherits chain; report cycles; note which profiles have a sound chain. */
static void check_cycles(struct ctx *c)
{
    size_t n = c->p->nprofiles;
    unsigned char *state = zalloc(c, n, 1); /* 0 unseen, 1 on the current path, 2 done */
    size_t *path = zalloc(c, n, sizeof(*path));

    if (!state || !path || !(c->chain_ok = zalloc(c, n, sizeof(*c->chain_ok))))
        goto out;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0, j = i;
        bool ok = false;
        for (;;) {
            const struct profile *parent;
            if (state[j] == 2) {
                ok = c->chain_ok[j];
                break;
            }
            if (state[j] == 1) {
                size_t from = 0;
                while (path[from] != j)
                    from++;
                report_cycle(c, path, from, len);
                break;
            }
            state[j] = 1;
            path[len++] = j;
            if (!c->p->profiles[j].inherits) {
                ok = true;
                break;
            }
            if (!(parent = lookup(c, c->p->profiles[j].inherits)))
                break;
            j = (size_t)(parent - c->p->profiles);
        }
        for (size_t k = 0; k < len; k++) {
            state[path[k]] = 2;
            c->chain_ok[path[k]] = ok;
        }
    }
out:
    free(state);
    free(path);
}

/* The chain PR, its parent, ... as far as it resolves; *COMPLETE says whether it ended cleanly
 * (an unknown parent or a cycle does not). SORTED, if not NULL, speeds up the lookups. */
static const struct profile **chain_of(const struct policy *p, const struct profile *pr,
                                       const struct profile **sorted, size_t *len, bool *complete)
{
    const struct profile **v = calloc(p->nprofiles + 1, sizeof(*v));
    size_t n = 0;

    *complete = false;
    if (!v)
        return NULL;
    while (pr && n < p->nprofiles) {
        v[n++] = pr;
        if (!pr->inherits) {
            *complete = true;
            break;
        }
        if (sorted) {
            struct profile key = {.name = pr->inherits};
            const struct profile *kp = &key, **hit;
            hit = bsearch(&kp, sorted, p->nprofiles, sizeof(*sorted), cmp_profile_name);
            pr = hit ? *hit : NULL;
        } else {
            pr = policy_profile(p, pr->inherits);
        }
    }
    *len = n;
    return v;
}

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* A polydir of Q replaces the inherited one for the same path, in place, or is added. */
static void view_merge_polydirs(struct profile_view *v, const struct profile *q)
{
    for (size_t i = 0; i < q->npolydirs; i++) {
        size_t j = 0;
        while (j < v->npolydirs && !same(v->polydirs[j]->path, q->polydirs[i].path))
            j++;
        v->polydirs[j] = &q->polydirs[i];
        if (j == v->npolydirs)
            v->npolydirs++;
    }
}

/* Hidden paths add up, each once. */
static void view_merge_hide(struct profile_view *v, const struct profile *q)
{
    for (size_t i = 0; i < q->nhide; i++) {
        size_t j = 0;
        while (j < v->nhide && !same(v->hide[j]->path, q->hide[i].path))
            j++;
        if (j == v->nhide)
            v->hide[v->nhide++] = &q->hide[i];
    }
}

/* A variable of Q replaces the inherited one of the same name, in place, or is added. */
static void view_merge_env(struct profile_view *v, const struct profile *q)
{
    for (size_t i = 0; i < q->nenv; i++) {
        size_t j = 0;
        while (j < v->nenv && !same(v->env[j]->name, q->env[i].name))
            j++;
        v->env[j] = &q->env[i];
        if (j == v->nenv)
            v->nenv++;
    }
}

/* The view of PR following its chain as far as it resolves (validation works on invalid
 * policies too). NULL when out of memory. */
static struct profile_view *view_build(const struct policy *p, const struct profile *pr,
                                       const struct profile **sorted, bool *complete)
{
    struct profile_view *v = calloc(1, sizeof(*v));
    size_t len = 0, np = 0, nm = 0, nh = 0, ne = 0;
    const struct profile **chain = chain_of(p, pr, sorted, &len, complete);

    if (!v || !chain)
        goto fail;
    v->name = pr->name;
    for (size_t k = 0; k < len; k++) {
        np += chain[k]->npolydirs;
        nm += chain[k]->nmounts;
        nh += chain[k]->nhide;
        ne += chain[k]->nenv;
    }
    v->polydirs = calloc(np + 1, sizeof(*v->polydirs));
    v->mounts = calloc(nm + 1, sizeof(*v->mounts));
    v->hide = calloc(nh + 1, sizeof(*v->hide));
    v->env = calloc(ne + 1, sizeof(*v->env));
    if (!v->polydirs || !v->mounts || !v->hide || !v->env)
        goto fail;
    /* Mounts: the profile's first, then its parent's, and so on up. */
    for (size_t k = 0; k < len; k++)
        for (size_t i = 0; i < chain[k]->nmounts; i++)
            v->mounts[v->nmounts++] = &chain[k]->mounts[i];
    /* The rest from the top ancestor down, each level replacing what it redefines. */
    for (size_t k = len; k-- > 0;) {
        view_merge_polydirs(v, chain[k]);
        view_merge_hide(v, chain[k]);
        view_merge_env(v, chain[k]);
    }
    free(chain);
    return v;
fail:
    free(chain);
    profile_view_free(v);
    return NULL;
}

/* --- checks on the model ---------------------------------------------------------------- */

static bool list_has(const struct name_list *l, const char *name)
{
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->names[i], name) == 0)
            return true;
    return false;
}

static void list_text(struct ctx *c, const struct name_list *l, char *buf, size_t size)
{
    size_t off = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < l->count && off < size; i++)
        off += snprintf(buf + off, size - off, "%s%s", i ? ", " : "", esc(c, l->names[i]));
}

/* A name that check_refs accepts; an unknown one is reported there, once. */
static bool resolves(const struct ctx *c, const char *name)
{
    return strcmp(name, PROFILE_NONE) == 0 || lookup(c, name);
}

/* A default must be in the allowed list that applies to it; "none" must be listed explicitly. */
static void check_defaults(struct ctx *c)
{
    struct policy *p = c->p;
    char list[512];

    if (p->default_profile && !p->allowed.present && strcmp(p->default_profile, PROFILE_NONE) == 0)
        error_at(c, p->default_loc,
                 "default_profile \"none\" turns isolation off by default; "
                 "confirm it by listing none in allowed_profiles");
    if (p->default_profile && p->allowed.present && p->allowed.count &&
        resolves(c, p->default_profile) && !list_has(&p->allowed, p->default_profile)) {
        list_text(c, &p->allowed, list, sizeof(list));
        error_at(c, p->default_loc,
                 "default_profile \"%s\" is not in allowed_profiles [%s]; add "
                 "it there or choose one of those",
                 esc(c, p->default_profile), list);
    }
    for (size_t i = 0; i < p->npartitions; i++) {
        const struct partition *part = &p->partitions[i];
        const struct name_list *allowed = part->allowed.present ? &part->allowed : &p->allowed;
        const char *dflt = part->default_profile ? part->default_profile : p->default_profile;
        if (!part->default_profile && !part->allowed.present)
            continue;
        if (!dflt || !allowed->count || !resolves(c, dflt) || list_has(allowed, dflt))
            continue;
        list_text(c, allowed, list, sizeof(list));
        if (part->default_profile)
            error_at(c, part->default_loc,
                     "partition \"%s\": default_profile \"%s\" is not in "
                     "its allowed_profiles [%s]; add it there or choose one of those",
                     esc(c, part->name), esc(c, dflt), list);
        else
            error_at(c, part->allowed.loc,
                     "partition \"%s\": the global default_profile \"%s\" "
                     "is not in its allowed_profiles [%s]; give the partition a default_profile "
                     "from that list, or add %s to it",
                     esc(c, part->name), esc(c, dflt), list, esc(c, dflt));
    }
}

/* PATH is DIR or lies below it. */
static bool path_within(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    if (strcmp(dir, "/") == 0)
        return true;
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static void check_instance_base(struct ctx *c)
{
    const struct policy *p = c->p;
    const char *base = p->instance_base;

    for (size_t i = 0; base && i < p->nprofiles; i++) {
        for (size_t j = 0; j < p->profiles[i].npolydirs; j++) {
            const struct polydir *d = &p->profiles[i].polydirs[j];
            const char *how;
            if (!d->path)
                continue;
            if (strcmp(base, d->path) == 0)
                how = "is also";
            else if (path_within(base, d->path))
                how = "lies inside";
            else if (path_within(d->path, base))
                how = "contains";
            else
                continue;
            error_at(c, c->base_written ? c->base_loc : d->loc,
                     "instance_base \"%s\" %s polydir \"%s\" (profile \"%s\", line %d); choose a "
                     "root-only directory outside every polydir, such as %s",
                     esc(c, base), how, esc(c, d->path), esc(c, p->profiles[i].name), d->loc.line,
                     POLICY_DEFAULT_INSTANCE_BASE);
            return;
        }
    }
}

/* A sorted index of paths (mount targets or polydir paths) with their place in a list. */
struct tentry {
    const char *t;
    size_t len;
    size_t pos;
};

static int cmp_tentry(const void *a, const void *b)
{
    const struct tentry *x = a, *y = b;
    int r = memcmp(x->t, y->t, x->len < y->len ? x->len : y->len);

    if (r)
        return r;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The first entry whose path is KEY[0..KLEN), or N. */
static size_t tindex_find(const struct tentry *idx, size_t n, const char *key, size_t klen)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = memcmp(idx[mid].t, key, idx[mid].len < klen ? idx[mid].len : klen);
        if (r < 0 || (r == 0 && idx[mid].len < klen))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && idx[lo].len == klen && memcmp(idx[lo].t, key, klen) == 0 ? lo : n;
}

static bool unfiltered(const struct mount_entry *m)
{
    return !m->groups.present && !m->users.present;
}

struct mount_index {
    const struct profile_view *v;
    struct tentry *idx;
    size_t n;
    size_t *killer; /* per view position: the unfiltered entry that always wins, or SIZE_MAX */
};

/* For each target, entries after the first unfiltered one never apply. */
static int mount_index_build(struct mount_index *mi, const struct profile_view *v)
{
    mi->v = v;
    mi->n = 0;
    mi->idx = calloc(v->nmounts + 1, sizeof(*mi->idx));
    mi->killer = calloc(v->nmounts + 1, sizeof(*mi->killer));
    if (!mi->idx || !mi->killer)
        return -1;
    for (size_t i = 0; i < v->nmounts; i++) {
        mi->killer[i] = SIZE_MAX;
        if (v->mounts[i]->target)
            mi->idx[mi->n++] =
                (struct tentry){v->mounts[i]->target, strlen(v->mounts[i]->target), i};
    }
    qsort(mi->idx, mi->n, sizeof(*mi->idx), cmp_tentry);
    for (size_t i = 0; i < mi->n;) {
        size_t end = i + 1, win = SIZE_MAX;
        while (end < mi->n && mi->idx[end].len == mi->idx[i].len &&
               memcmp(mi->idx[end].t, mi->idx[i].t, mi->idx[i].len) == 0)
            end++;
        for (size_t k = i; k < end; k++) {
            if (win != SIZE_MAX)
                mi->killer[mi->idx[k].pos] = win;
            else if (unfiltered(v->mounts[mi->idx[k].pos]))
                win = mi->idx[k].pos;
        }
        i = end;
    }
    return 0;
}

static void mount_index_free(struct mount_index *mi)
{
    free(mi->idx);
    free(mi->killer);
}

static bool live(const struct mount_index *mi, size_t pos)
{
    return mi->killer[pos] == SIZE_MAX;
}

/* The live entry, of a type in TYPES (a bit per enum mount_type), whose target is the deepest
 * proper ancestor of entry I's, wherever it stands in the list: mounts are made parents first,
 * so that is what I's target lands in. At one depth a non-tmpfs entry is preferred (the
 * strictest answer when filters pick different entries for different users). SIZE_MAX if none. */
static size_t ancestor_deepest(const struct mount_index *mi, size_t i, unsigned types)
{
    const char *t = mi->v->mounts[i]->target;
    size_t len = strlen(t);

    for (size_t j = len - 1; j >= 1; j--) {
        size_t best = SIZE_MAX;
        if (t[j] != '/')
            continue;
        for (size_t k = tindex_find(mi->idx, mi->n, t, j);
             k < mi->n && mi->idx[k].len == j && memcmp(mi->idx[k].t, t, j) == 0; k++) {
            size_t pos = mi->idx[k].pos;
            if (pos == i || !live(mi, pos) || !(types & (1u << mi->v->mounts[pos]->type)))
                continue;
            if (best == SIZE_MAX || mi->v->mounts[pos]->type != MOUNT_TMPFS)
                best = pos;
        }
        if (best != SIZE_MAX)
            return best;
    }
    return SIZE_MAX;
}

#define TYPE_BIT(t) (1u << (t))

/* A dir or symlink is made inside a tmpfs of the policy, never on the node's own file systems:
 * the deepest mount (or symlink) above its target must be a tmpfs. */
static void check_made_in_tmpfs(struct ctx *c, const struct mount_index *mi, size_t i)
{
    const struct mount_entry *m = mi->v->mounts[i], *in = NULL;
    const char *what = m->type == MOUNT_DIR ? "dir" : "symlink";
    size_t best = ancestor_deepest(
        mi, i, TYPE_BIT(MOUNT_TMPFS) | TYPE_BIT(MOUNT_BIND) | TYPE_BIT(MOUNT_SYMLINK));

    if (best != SIZE_MAX)
        in = mi->v->mounts[best];
    if (!in)
        error_at(c, m->loc,
                 "%s target \"%s\" is not inside a tmpfs entry; the plugin "
                 "creates nothing on the node's own file systems: add a tmpfs entry for a parent "
                 "directory",
                 what, esc(c, m->target));
    else if (in->type == MOUNT_BIND)
        error_at(c, m->loc,
                 "%s target \"%s\" lies inside the bind mount on \"%s\" (line %d), "
                 "which is the host's file system; put it under a tmpfs entry's target instead",
                 what, esc(c, m->target), esc(c, in->target), in->loc.line);
    else if (in->type == MOUNT_SYMLINK)
        error_at(c, m->loc,
                 "%s target \"%s\" lies under the symlink \"%s\" (line %d); a path "
                 "through a symlink is not followed",
                 what, esc(c, m->target), esc(c, in->target), in->loc.line);
}

/* ENTRY lies in the array V of N elements of SIZE bytes. */
static bool in_array(const void *entry, const void *v, size_t n, size_t size)
{
    const char *e = entry, *base = v;

    return n > 0 && e >= base && e < base + n * size;
}

/* The profile holding ENTRY (a mount, polydir or hidden path of P), or NULL. */
static const struct profile *owner_of(const struct policy *p, const void *entry)
{
    for (size_t i = 0; i < p->nprofiles; i++) {
        const struct profile *pr = &p->profiles[i];
        if (in_array(entry, pr->mounts, pr->nmounts, sizeof(*pr->mounts)) ||
            in_array(entry, pr->polydirs, pr->npolydirs, sizeof(*pr->polydirs)) ||
            in_array(entry, pr->hide, pr->nhide, sizeof(*pr->hide)))
            return pr;
    }
    return NULL;
}

/* A tmpfs or bind over a polydir, or a mount inside one, would be made in a directory the job's
 * user controls. ENTRY is reported if it is the profile's own, else the polydir. */
static void check_polydir_overlap(struct ctx *c, const struct profile *pr,
                                  const struct tentry *pidx, size_t np,
                                  const struct profile_view *v, const char *path, const void *entry,
                                  bool own, struct loc at, const char *what)
{
    size_t len = strlen(path);

    for (size_t j = 1; j <= len; j++) {
        if (j < len && path[j] != '/')
            continue;
        size_t k = tindex_find(pidx, np, path, j);
        if (k == np)
            continue;
        const struct polydir *d = v->polydirs[pidx[k].pos];
        bool inside = j < len;
        if (own)
            error_at(c, at,
                     "%s \"%s\" %s polydir \"%s\" (line %d), which belongs to the job's "
                     "user; keep mounts and hidden paths outside polydirs",
                     what, esc(c, path), inside ? "lies inside" : "is also", esc(c, d->path),
                     d->loc.line);
        else if (owner_of(c->p, d) == pr)
            error_at(c, d->loc,
                     "polydir \"%s\" %s the inherited %s \"%s\" (profile \"%s\"); keep "
                     "mounts and hidden paths outside polydirs",
                     esc(c, d->path), inside ? "contains" : "is also", what, esc(c, path),
                     owner_of(c->p, entry) ? esc(c, owner_of(c->p, entry)->name) : "?");
        return;
    }
}

/* Polydirs may not nest: the inner one would be made in the user's instance of the outer. */
static void check_polydir_nesting(struct ctx *c, const struct profile *pr,
                                  const struct tentry *pidx, size_t np,
                                  const struct profile_view *v)
{
    for (size_t i = 0; i < v->npolydirs; i++) {
        const struct polydir *d = v->polydirs[i];
        size_t len = d->path ? strlen(d->path) : 0;
        for (size_t j = 1; j < len; j++) {
            if (d->path[j] != '/')
                continue;
            size_t k = tindex_find(pidx, np, d->path, j);
            if (k == np)
                continue;
            const struct polydir *outer = v->polydirs[pidx[k].pos];
            if (owner_of(c->p, d) == pr)
                error_at(c, d->loc,
                         "polydir \"%s\" lies inside polydir \"%s\" (line %d); "
                         "polydirs cannot nest",
                         esc(c, d->path), esc(c, outer->path), outer->loc.line);
            else if (owner_of(c->p, outer) == pr)
                error_at(c, outer->loc,
                         "polydir \"%s\" contains the inherited polydir \"%s\" "
                         "(line %d); polydirs cannot nest",
                         esc(c, outer->path), esc(c, d->path), d->loc.line);
            break;
        }
    }
}

static void check_polydir_twice(struct ctx *c, const struct profile *pr)
{
    struct tentry *idx = calloc(pr->npolydirs + 1, sizeof(*idx));
    size_t n = 0;

    if (!idx) {
        out_of_memory(c);
        return;
    }
    for (size_t i = 0; i < pr->npolydirs; i++)
        if (pr->polydirs[i].path)
            idx[n++] = (struct tentry){pr->polydirs[i].path, strlen(pr->polydirs[i].path), i};
    qsort(idx, n, sizeof(*idx), cmp_tentry);
    for (size_t i = 1; i < n; i++) {
        size_t first = i;
        while (first > 0 && idx[first - 1].len == idx[i].len &&
               memcmp(idx[first - 1].t, idx[i].t, idx[i].len) == 0)
            first--;
        if (first != i)
            error_at(c, pr->polydirs[idx[i].pos].loc,
                     "polydir \"%s\" is listed twice in this "
                     "profile (first at line %d); keep one",
                     esc(c, idx[i].t), pr->polydirs[idx[first].pos].loc.line);
    }
    free(idx);
}

static void check_profile_view(struct ctx *c, const struct profile *pr,
                               const struct profile_view *v)
{
    struct mount_index mi = {0};
    struct tentry *pidx = calloc(v->npolydirs + 1, sizeof(*pidx));
    size_t np = 0;

    if (!pidx || mount_index_build(&mi, v) < 0) {
        out_of_memory(c);
        goto out;
    }
    for (size_t i = 0; i < v->npolydirs; i++)
        if (v->polydirs[i]->path)
            pidx[np++] = (struct tentry){v->polydirs[i]->path, strlen(v->polydirs[i]->path), i};
    qsort(pidx, np, sizeof(*pidx), cmp_tentry);
    for (size_t i = 0; i < pr->nmounts; i++) {
        const struct mount_entry *m = v->mounts[i];
        if (!m->target)
            continue;
        if (!live(&mi, i)) {
            warn_at(c, m->loc,
                    "this entry never applies: the entry at line %d for the same "
                    "target has no groups or users filter, so it always wins; remove one of them",
                    v->mounts[mi.killer[i]]->loc.line);
            continue;
        }
        if (m->type == MOUNT_DIR || m->type == MOUNT_SYMLINK)
            check_made_in_tmpfs(c, &mi, i);
    }
    for (size_t i = 0; i < v->nmounts; i++)
        if (v->mounts[i]->target)
            check_polydir_overlap(c, pr, pidx, np, v, v->mounts[i]->target, v->mounts[i],
                                  i < pr->nmounts, v->mounts[i]->loc, "mount target");
    for (size_t i = 0; i < v->nhide; i++)
        if (v->hide[i]->path)
            check_polydir_overlap(c, pr, pidx, np, v, v->hide[i]->path, v->hide[i],
                                  owner_of(c->p, v->hide[i]) == pr, v->hide[i]->loc, "hidden path");
    check_polydir_nesting(c, pr, pidx, np, v);
out:
    mount_index_free(&mi);
    free(pidx);
}

static void check_profiles(struct ctx *c)
{
    for (size_t i = 0; i < c->p->nprofiles; i++) {
        const struct profile *pr = &c->p->profiles[i];
        bool complete;
        struct profile_view *v;
        check_polydir_twice(c, pr);
        if (!(v = view_build(c->p, pr, c->sorted, &complete))) {
            out_of_memory(c);
            return;
        }
        /* A broken chain is reported already; check what the profile holds itself. */
        if (!c->chain_ok[i])
            v->nmounts = pr->nmounts;
        check_profile_view(c, pr, v);
        profile_view_free(v);
    }
}

static void check_model(struct ctx *c)
{
    struct policy *p = c->p;

    if (!(c->sorted = zalloc(c, p->nprofiles, sizeof(*c->sorted))))
        return;
    for (size_t i = 0; i < p->nprofiles; i++)
        c->sorted[i] = &p->profiles[i];
    qsort(c->sorted, p->nprofiles, sizeof(*c->sorted), cmp_profile_name);
    if (c->profiles_bad)
        return;
    check_refs(c);
    check_cycles(c);
    if (c->oom)
        return;
    check_defaults(c);
    check_instance_base(c);
    check_profiles(c);
}

/* --- the public interface --------------------------------------------------------------- */

/* The global allowed list defaults to the default profile alone (present stays false). */
static void default_allowed(struct ctx *c)
{
    struct policy *p = c->p;

    if (p->allowed.present || !p->default_profile)
        return;
    p->allowed.names = zalloc(c, 1, sizeof(*p->allowed.names));
    p->allowed.locs = zalloc(c, 1, sizeof(*p->allowed.locs));
    if (!p->allowed.names || !p->allowed.locs ||
        !(p->allowed.names[0] = dup_str(c, p->default_profile)))
        return;
    p->allowed.locs[0] = p->default_loc;
    p->allowed.loc = p->default_loc;
    p->allowed.count = 1;
}

/* What must hold of the bytes before they are parsed: the size limit, and UTF-8. */
static bool text_ok(struct ctx *c)
{
    size_t bad;

    if (c->len > POLICY_MAX_BYTES) {
        error_at(c, whole_file,
                 "the policy is %zu bytes, more than the 1 MiB limit (%d bytes); is this the "
                 "right file?",
                 c->len, POLICY_MAX_BYTES);
        return false;
    }
    if ((bad = utf8_bad_offset((const unsigned char *)c->buf, c->len)) < c->len) {
        error_at(c, loc_of_offset(c->buf, c->len, bad),
                 "not valid UTF-8 (byte 0x%02x); save the policy as UTF-8 text",
                 (unsigned char)c->buf[bad]);
        return false;
    }
    return true;
}

struct policy *policy_parse(const char *buf, size_t len, const char *name, struct diag_list *diags)
{
    struct ctx c = {.d = diags, .buf = buf, .len = len};
    struct node *root = NULL;

    if (!(c.p = zalloc(&c, 1, sizeof(*c.p))))
        return NULL;
    c.p->file = dup_str(&c, name ? name : "<policy>");
    c.p->instance_base = dup_str(&c, POLICY_DEFAULT_INSTANCE_BASE);
    c.p->on_error = ON_ERROR_DENY;
    if (text_ok(&c))
        root = tree_load(&c);
    /* No document at all (and no other reason given), or a document holding nothing. */
    if ((!root && !c.shown[0] && !c.oom) || (root && is_null(root))) {
        error_at(&c, whole_file,
                 "empty policy: expected a mapping with at least `version` and "
                 "`default_profile`");
    } else if (root) {
        read_root(&c, root);
        default_allowed(&c);
        if (!c.oom)
            check_model(&c);
    }
    node_free(root);
    free(c.sorted);
    free(c.chain_ok);
    if (c.shown[0] || c.capped[0] || c.oom) {
        policy_free(c.p);
        return NULL;
    }
    return c.p;
}

struct policy *policy_load(const char *path, struct diag_list *diags)
{
    struct policy *p = NULL;
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        diag_add(diags, DIAG_ERROR, 0, 0, "cannot open the policy: %s", strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0) {
        diag_add(diags, DIAG_ERROR, 0, 0, "cannot stat the policy: %s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        diag_add(diags, DIAG_ERROR, 0, 0, "the policy is not a regular file");
        goto out;
    }
    if (st.st_size > POLICY_MAX_BYTES) {
        diag_add(diags, DIAG_ERROR, 0, 0,
                 "the policy is %lld bytes, more than the 1 MiB limit "
                 "(%d bytes); is this the right file?",
                 (long long)st.st_size, POLICY_MAX_BYTES);
        goto out;
    }
    /* Read one byte more than allowed, in case the file grew since fstat. */
    if (!(buf = malloc(POLICY_MAX_BYTES + 1))) {
        diag_add(diags, DIAG_ERROR, 0, 0, "out of memory while reading the policy");
        goto out;
    }
    while (len < POLICY_MAX_BYTES + 1) {
        ssize_t n = read(fd, buf + len, POLICY_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            diag_add(diags, DIAG_ERROR, 0, 0, "cannot read the policy: %s", strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    p = policy_parse(buf, len, path, diags);
out:
    free(buf);
    close(fd);
    return p;
}

static void name_list_free(struct name_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->names[i]);
    free(l->names);
    free(l->locs);
}

static void profile_free(struct profile *pr)
{
    for (size_t i = 0; i < pr->npolydirs; i++)
        free(pr->polydirs[i].path);
    for (size_t i = 0; i < pr->nmounts; i++) {
        struct mount_entry *m = &pr->mounts[i];
        free(m->source);
        free(m->target);
        free(m->options);
        filter_clear(&m->groups);
        filter_clear(&m->users);
    }
    for (size_t i = 0; i < pr->nhide; i++)
        free(pr->hide[i].path);
    for (size_t i = 0; i < pr->nenv; i++) {
        free(pr->env[i].name);
        free(pr->env[i].value);
    }
    free(pr->polydirs);
    free(pr->mounts);
    free(pr->hide);
    free(pr->env);
    free(pr->inherits);
    free(pr->name);
}

void policy_free(struct policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nprofiles; i++)
        profile_free(&p->profiles[i]);
    for (size_t i = 0; i < p->npartitions; i++) {
        free(p->partitions[i].name);
        free(p->partitions[i].default_profile);
        name_list_free(&p->partitions[i].allowed);
    }
    name_list_free(&p->allowed);
    free(p->profiles);
    free(p->partitions);
    free(p->default_profile);
    free(p->instance_base);
    free(p->file);
    free(p);
}

const struct profile *policy_profile(const struct policy *p, const char *name)
{
    for (size_t i = 0; name && i < p->nprofiles; i++)
        if (strcmp(p->profiles[i].name, name) == 0)
            return &p->profiles[i];
    return NULL;
}

const struct partition *policy_partition(const struct policy *p, const char *name)
{
    for (size_t i = 0; name && i < p->npartitions; i++)
        if (strcmp(p->partitions[i].name, name) == 0)
            return &p->partitions[i];
    return NULL;
}

struct profile_view *profile_view_get(const struct policy *p, const char *name)
{
    const struct profile *pr = policy_profile(p, name);
    struct profile_view *v;
    bool complete;

    if (!pr) {
        errno = ENOENT;
        return NULL;
    }
    if (!(v = view_build(p, pr, NULL, &complete))) {
        errno = ENOMEM;
        return NULL;
    }
    if (!complete) {
        profile_view_free(v);
        errno = ENOENT;
        return NULL;
    }
    return v;
}

void profile_view_free(struct profile_view *v)
{
    if (!v)
        return;
    free(v->polydirs);
    free(v->mounts);
    free(v->hide);
    free(v->env);
    free(v);
}

const char *backing_name(enum backing b)
{
    return b == BACKING_TMPFS ? "tmpfs" : "disk";
}

const char *scope_name(enum scope s)
{
    return s == SCOPE_USER ? "user" : "job";
}

const char *mount_type_name(enum mount_type t)
{
    return (unsigned)t < 4 ? mount_type_names[t] : "?";
}
