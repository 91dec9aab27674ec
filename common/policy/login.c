/* The login: section: what pam_isolation mode=join does not need and mode=login does. Every
 * login session on a login node gets one profile; listed users and members of listed groups are
 * not isolated (root never is); a user's sessions share one namespace or each has its own. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

static const char *const login_keys[] = {"profile", "exempt_users", "exempt_groups", "sessions",
                                         NULL};
static const char *const sessions_names[] = {"shared", "private", NULL};

/* A list of user or group names (WHAT) into *NAMES, *COUNT. */
static void read_names(struct ctx *c, const struct node *v, const char *what, char ***names,
                       size_t *count)
{
    char **out = want_list(c, v, what, sizeof(char *));

    if (!out)
        return;
    *names = out;
    for (size_t i = 0; i < v->nkid; i++) {
        const char *s = want_scalar(c, v->kid[i], what);
        if (!s)
            continue;
        if (!*s || strpbrk(s, " \t:,/")) {
            error_at(c, v->kid[i]->loc, "bad name \"%s\" in the %s", esc(c, s), what);
            continue;
        }
        if ((out[*count] = dup_str(c, s)))
            (*count)++;
    }
}

void read_login(struct ctx *c, const struct node *v)
{
    struct login_policy *l = &c->p->login;
    struct pairs it;
    const struct node *key, *val;
    int r;

    l->present = true;
    l->loc = v->loc;
    if (!pairs_open(&it, c, v, "a mapping with profile, exempt_users, exempt_groups, sessions",
                    "key"))
        return;
    while (pairs_next(&it, &key, &val)) {
        if (strcmp(key->text, "profile") == 0)
            l->profile = read_profile_ref(c, val, &l->profile_loc);
        else if (strcmp(key->text, "exempt_users") == 0)
            read_names(c, val, "user names", &l->exempt_users, &l->nexempt_users);
        else if (strcmp(key->text, "exempt_groups") == 0)
            read_names(c, val, "group names", &l->exempt_groups, &l->nexempt_groups);
        else if (strcmp(key->text, "sessions") == 0) {
            if ((r = read_choice(c, val, "sessions", sessions_names)) >= 0)
                l->private_sessions = r == 1;
        } else
            unknown_key(c, key, login_keys, "login");
    }
    pairs_close(&it);
    if (!l->profile)
        error_at(c, v->loc,
                 "login: has no profile; write profile: NAME (the profile every login "
                 "session gets, or none)");
}

void login_free(struct login_policy *l)
{
    for (size_t i = 0; i < l->nexempt_users; i++)
        free(l->exempt_users[i]);
    for (size_t i = 0; i < l->nexempt_groups; i++)
        free(l->exempt_groups[i]);
    free(l->exempt_users);
    free(l->exempt_groups);
    free(l->profile);
    memset(l, 0, sizeof(*l));
}
