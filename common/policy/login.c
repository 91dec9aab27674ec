/* The login: section: what pam_isolation mode=join does not need and mode=login does. Every
 * login session on a login node gets one profile; listed users and members of listed groups are
 * not isolated (root never is); a user's sessions share one namespace or each has its own. Its
 * host_groups change these on the hosts they name (the first that names a host wins), written as
 * Slurm hostlists ("login[1-4],dtn*"): checked when the policy is read, matched at a login. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

static const char *const login_keys[] = {"profile",  "exempt_users", "exempt_groups",
                                         "sessions", "host_groups",  NULL};
static const char *const group_keys[] = {"hosts",         "profile",  "exempt_users",
                                         "exempt_groups", "sessions", NULL};
static const char *const sessions_names[] = {"shared", "private", NULL};

/* A list of user or group names (WHAT) into L. */
static void read_names(struct ctx *c, const struct node *v, const char *what, struct name_list *l)
{
    l->present = true;
    l->loc = v->loc;
    if (!(l->names = want_list(c, v, what, sizeof(char *))) ||
        !(l->locs = zalloc(c, v->nkid, sizeof(*l->locs))))
        return;
    for (size_t i = 0; i < v->nkid; i++) {
        const char *s = want_scalar(c, v->kid[i], what);
        if (!s)
            continue;
        if (!*s || strpbrk(s, " \t:,/")) {
            error_at(c, v->kid[i]->loc, "bad name \"%s\" in the %s", esc(c, s), what);
            continue;
        }
        if ((l->names[l->count] = dup_str(c, s)))
            l->locs[l->count++] = v->kid[i]->loc;
    }
}

/* The keys a host group shares with login: itself; false if KEY is none of them. */
static bool read_shared_key(struct ctx *c, const struct node *key, const struct node *val,
                            char **profile, struct loc *profile_loc, struct name_list *users,
                            struct name_list *groups, int *sessions)
{
    if (strcmp(key->text, "profile") == 0)
        *profile = read_profile_ref(c, val, profile_loc);
    else if (strcmp(key->text, "exempt_users") == 0)
        read_names(c, val, "user names", users);
    else if (strcmp(key->text, "exempt_groups") == 0)
        read_names(c, val, "group names", groups);
    else if (strcmp(key->text, "sessions") == 0)
        *sessions = read_choice(c, val, "sessions", sessions_names);
    else
        return false;
    return true;
}

static void read_host_group(struct ctx *c, const struct node *v, struct login_host_group *g)
{
    struct pairs it;
    const struct node *key, *val;

    g->loc = v->loc;
    g->sessions = -1;
    if (!pairs_open(&it, c, v,
                    "a mapping with hosts and what it changes (profile, exempt_users, "
                    "exempt_groups, sessions)",
                    "key"))
        return;
    while (pairs_next(&it, &key, &val)) {
        if (strcmp(key->text, "hosts") == 0) {
            g->hosts_loc = val->loc;
            g->hosts = read_hostlist(c, val);
        } else if (!read_shared_key(c, key, val, &g->profile, &g->profile_loc, &g->exempt_users,
                                    &g->exempt_groups, &g->sessions)) {
            unknown_key(c, key, group_keys, "a login: host group");
        }
    }
    pairs_close(&it);
    if (!g->hosts && !g->hosts_loc.line)
        error_at(c, v->loc,
                 "this login: host group has no hosts; write hosts: \"login[1-4]\" (the short "
                 "host names it is for)");
}

static void read_host_groups(struct ctx *c, const struct node *v, struct login_policy *l)
{
    if (!(l->host_groups =
              want_list(c, v, "host groups ({hosts: ..., profile: ...})", sizeof(*l->host_groups))))
        return;
    l->nhost_groups = v->nkid;
    for (size_t i = 0; i < v->nkid; i++)
        read_host_group(c, v->kid[i], &l->host_groups[i]);
}

void read_login(struct ctx *c, const struct node *v)
{
    struct login_policy *l = &c->p->login;
    struct pairs it;
    const struct node *key, *val;
    int sessions = -1;

    l->present = true;
    l->loc = v->loc;
    if (!pairs_open(&it, c, v,
                    "a mapping with profile, exempt_users, exempt_groups, sessions, host_groups",
                    "key"))
        return;
    while (pairs_next(&it, &key, &val)) {
        if (strcmp(key->text, "host_groups") == 0)
            read_host_groups(c, val, l);
        else if (!read_shared_key(c, key, val, &l->profile, &l->profile_loc, &l->exempt_users,
                                  &l->exempt_groups, &sessions))
            unknown_key(c, key, login_keys, "login");
    }
    pairs_close(&it);
    l->private_sessions = sessions == 1;
    if (!l->profile)
        error_at(c, v->loc,
                 "login: has no profile; write profile: NAME (the profile every login "
                 "session gets, or none)");
}

void login_free(struct login_policy *l)
{
    for (size_t i = 0; i < l->nhost_groups; i++) {
        struct login_host_group *g = &l->host_groups[i];
        free(g->hosts);
        free(g->profile);
        name_list_free(&g->exempt_users);
        name_list_free(&g->exempt_groups);
    }
    free(l->host_groups);
    name_list_free(&l->exempt_users);
    name_list_free(&l->exempt_groups);
    free(l->profile);
    memset(l, 0, sizeof(*l));
}

/* --- on one host ------------------------------------------------------------------------------ */

void policy_login_choose(const struct policy *p, const char *host, struct login_choice *out)
{
    const struct login_policy *l = &p->login;

    *out = (struct login_choice){.profile = l->profile,
                                 .exempt_users = &l->exempt_users,
                                 .exempt_groups = &l->exempt_groups,
                                 .private_sessions = l->private_sessions};
    for (size_t i = 0; host && i < l->nhost_groups; i++) {
        const struct login_host_group *g = &l->host_groups[i];
        if (!g->hosts || !hostlist_match(g->hosts, host))
            continue;
        out->group = g;
        out->group_index = i;
        if (g->profile)
            out->profile = g->profile;
        if (g->exempt_users.present)
            out->exempt_users = &g->exempt_users;
        if (g->exempt_groups.present)
            out->exempt_groups = &g->exempt_groups;
        if (g->sessions >= 0)
            out->private_sessions = g->sessions == 1;
        return;
    }
}

const char *login_choice_exempt(const struct login_choice *c, const char *user,
                                const char *const *groups, size_t ngroups)
{
    if (name_list_has(c->exempt_users, user))
        return "exempt_users";
    for (size_t i = 0; i < ngroups; i++)
        if (name_list_has(c->exempt_groups, groups[i]))
            return "exempt_groups";
    return NULL;
}

/* --- hostlists -------------------------------------------------------------------------------- */

/* A host name is at most this long (policy_node_name_ok), so one name of a hostlist too. */
#define HOST_MAX 255
#define RANGE_DIGITS 9

static int fail(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return -1;
}

static size_t digits(const char *s, const char *end)
{
    size_t n = 0;

    while (s + n < end && isdigit((unsigned char)s[n]))
        n++;
    return n;
}

static unsigned long long number(const char *s, size_t n)
{
    unsigned long long v = 0;

    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned long long)(s[i] - '0');
    return v;
}

/* The ranges between "[" and END ("]"): N or N-M (N <= M), separated by commas. */
static int check_ranges(const char *s, const char *end, char *buf, size_t size)
{
    for (;;) {
        size_t n = digits(s, end), m = 0;
        if (n == 0 || n > RANGE_DIGITS)
            return fail(buf, size,
                        "a range in [...] is N or N-M with numbers of 1 to %d digits; write "
                        "login[1-4] or login[01-16,20]",
                        RANGE_DIGITS);
        if (s[n] == '-') {
            m = digits(s + n + 1, end);
            if (m == 0 || m > RANGE_DIGITS)
                return fail(buf, size, "the range \"%.*s\" has no end of 1 to %d digits",
                            (int)(n + 1), s, RANGE_DIGITS);
            if (number(s + n + 1, m) < number(s, n))
                return fail(buf, size,
                            "the range \"%.*s\" goes down; write the smaller number first",
                            (int)(n + 1 + m), s);
            n += 1 + m;
        }
        if (s + n == end)
            return 0;
        if (s[n] != ',')
            return fail(buf, size,
                        "unexpected \"%c\" in [...]; ranges are N or N-M separated by commas",
                        s[n]);
        s += n + 1;
    }
}

/* One character of a name outside [...]. */
static int check_char(char ch, char *buf, size_t size)
{
    unsigned char u = (unsigned char)ch;

    if (isalnum(u) || ch == '-' || ch == '_' || ch == '*')
        return 0;
    if (ch == '.')
        return fail(buf, size,
                    "host names here are short ones, without the domain; write login1, not "
                    "login1.example.org");
    if (ch == ' ' || ch == '\t')
        return fail(buf, size, "it has a space; write login1,login2 without spaces, or a list");
    if (ch == ']')
        return fail(buf, size, "\"]\" without \"[\"; write a range such as login[1-4]");
    if (isprint(u))
        return fail(buf, size,
                    "\"%c\" is not in host names (letters, digits, \"-\" and \"_\"; \"*\" and "
                    "[ranges] match them)",
                    ch);
    return fail(buf, size, "byte 0x%02x is not in host names", u);
}

int hostlist_check(const char *list, char *buf, size_t size)
{
    const char *name = list;

    for (const char *s = list;; s++) {
        if (*s == ',' || !*s) {
            if (s == name)
                return fail(buf, size,
                            "it has an empty name; write names separated by single commas, as "
                            "login[1-4],dtn1");
            if (s - name > HOST_MAX)
                return fail(buf, size, "a name is longer than %d bytes, the longest host name",
                            HOST_MAX);
            if (!*s)
                return 0;
            name = s + 1;
        } else if (*s == '[') {
            const char *end = strchr(s, ']');
            if (!end)
                return fail(buf, size, "\"[\" is not closed; write a range such as login[1-4]");
            if (check_ranges(s + 1, end, buf, size) < 0)
                return -1;
            s = end;
        } else if (check_char(*s, buf, size) < 0) {
            return -1;
        }
    }
}

char *read_hostlist(struct ctx *c, const struct node *v)
{
    const char *what = "a hostlist such as \"login[1-4]\"";
    const struct node *one = v, *const *items = &one;
    size_t n = 1, len = 0;
    char msg[300], *text;

    if (v->kind == NODE_SEQ && !v->reported) {
        items = (const struct node *const *)v->kid;
        if ((n = v->nkid) == 0) {
            error_at(c, v->loc, "hosts is empty; write hosts: \"login[1-4]\"");
            return NULL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = want_scalar(c, items[i], what);
        if (!s)
            return NULL;
        if (hostlist_check(s, msg, sizeof(msg)) < 0) {
            error_at(c, items[i]->loc, "bad hosts \"%s\": %s", esc(c, s), msg);
            return NULL;
        }
        len += strlen(s) + 1;
    }
    if (!(text = zalloc(c, len, 1)))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(text, ",");
        strcat(text, items[i]->text);
    }
    return text;
}

/* Matching one name of a hostlist (PAT, LEN bytes) against a host name: a walk over (pattern,
 * name) positions, each of which fails at most once (FAILED remembers it), so that "*" and
 * ranges never make it slow. */
struct matcher {
    const char *pat, *host;
    size_t plen, hlen;
    unsigned char failed[(HOST_MAX + 1) * (HOST_MAX + 1) / 8 + 1];
};

/* Whether the digits D (N of them) are a number of the ranges between R and END, written as
 * the range writes it: [8-12] has 8 and 12, [08-12] has 08 and 12. */
static bool in_ranges(const char *r, const char *end, const char *d, size_t n)
{
    char want[32];

    while (r < end) {
        size_t a = digits(r, end), b = 0;
        unsigned long long lo = number(r, a), hi = lo, v = number(d, n);
        if (r[a] == '-') {
            b = digits(r + a + 1, end);
            hi = number(r + a + 1, b);
            b++;
        }
        if (n <= 2 * RANGE_DIGITS && v >= lo && v <= hi &&
            snprintf(want, sizeof(want), "%0*llu", (int)a, v) == (int)n && memcmp(want, d, n) == 0)
            return true;
        r += a + b + 1;
    }
    return false;
}

static bool match_from(struct matcher *m, size_t i, size_t j);

static bool match_step(struct matcher *m, size_t i, size_t j)
{
    const char *end;

    if (i == m->plen)
        return j == m->hlen;
    if (m->pat[i] == '*') {
        for (size_t k = j; k <= m->hlen; k++)
            if (match_from(m, i + 1, k))
                return true;
        return false;
    }
    if (m->pat[i] == '[') {
        end = memchr(m->pat + i, ']', m->plen - i);
        for (size_t k = j + 1; end && k <= m->hlen && isdigit((unsigned char)m->host[k - 1]); k++)
            if (in_ranges(m->pat + i + 1, end, m->host + j, k - j) &&
                match_from(m, (size_t)(end - m->pat) + 1, k))
                return true;
        return false;
    }
    return j < m->hlen && tolower((unsigned char)m->pat[i]) == tolower((unsigned char)m->host[j]) &&
           match_from(m, i + 1, j + 1);
}

static bool match_from(struct matcher *m, size_t i, size_t j)
{
    size_t bit = i * (HOST_MAX + 1) + j;

    if (m->failed[bit / 8] & (1u << (bit % 8)))
        return false;
    if (match_step(m, i, j))
        return true;
    m->failed[bit / 8] |= (unsigned char)(1u << (bit % 8));
    return false;
}

bool hostlist_match(const char *list, const char *host)
{
    struct matcher m = {.host = host, .hlen = strlen(host)};
    char ignored[300];
    const char *name = list;

    if (m.hlen == 0 || m.hlen > HOST_MAX || hostlist_check(list, ignored, sizeof(ignored)) < 0)
        return false;
    for (const char *s = list;; s++) {
        if (*s == '[')
            s = strchr(s, ']');
        else if (*s == ',' || !*s) {
            memset(m.failed, 0, sizeof(m.failed));
            m.pat = name;
            m.plen = (size_t)(s - name);
            if (match_from(&m, 0, 0))
                return true;
            if (!*s)
                return false;
            name = s + 1;
        }
    }
}
