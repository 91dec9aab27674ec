/* The policy loader: the model it builds from valid policies, and the exact message and position
 * of every error in invalid ones (as isolationctl check prints them). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "policy/policy.h"
#include "tap.h"

/* The two keys every policy needs, for tests about something else. */
#define HEAD "version: 1\ndefault_profile: a\n"

/* Parse TEXT; return its diagnostics as isolationctl check prints them, without the final
 * newline ("" when there are none). *OUT gets the policy if OUT is not NULL. */
static char *check(const char *text, struct policy **out)
{
    struct diag_list d;
    struct policy *p;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    diag_list_init(&d, "t.yaml");
    p = policy_parse(text, strlen(text), "t.yaml", &d);
    if ((f = open_memstream(&buf, &len))) {
        diag_print(&d, f);
        fclose(f);
    }
    diag_list_free(&d);
    if (buf && len && buf[len - 1] == '\n')
        buf[len - 1] = '\0';
    if (out)
        *out = p;
    else
        policy_free(p);
    return buf;
}

/* TEXT is refused with exactly WANT. */
static void refused(const char *text, const char *want, const char *what)
{
    struct policy *p;
    char *got = check(text, &p);

    ok(p == NULL, "%s: refused", what);
    is_str(got, want, "%s: message", what);
    policy_free(p);
    free(got);
}

/* TEXT loads, with exactly the warnings WANT (may be ""). */
static struct policy *accepted(const char *text, const char *want, const char *what)
{
    struct policy *p;
    char *got = check(text, &p);

    ok(p != NULL, "%s: accepted", what);
    is_str(got, want, "%s: diagnostics", what);
    free(got);
    return p;
}

/* The same, when the model itself is not under test. */
static void loads(const char *text, const char *want, const char *what)
{
    policy_free(accepted(text, want, what));
}

static const char *example =
    "version: 1\n"
    "instance_base: /var/spool/isolation\n"
    "on_error: allow\n"
    "default_profile: strict\n"
    "allowed_profiles: [strict, shared-tmp]\n"
    "profiles:\n"
    "  strict:\n"
    "    polydirs:\n"
    "      - {path: /tmp,     backing: disk,  scope: job}\n"
    "      - {path: /var/tmp, backing: disk,  scope: job}\n"
    "      - {path: /dev/shm, backing: tmpfs, scope: job, size: 50%}\n"
    "    mounts:\n"
    "      - {type: tmpfs,   target: /ccc, options: \"size=1M,mode=0700\"}\n"
    "      - {type: bind,    source: /run/mount/private/A, target: /ccc/A, options: rw, groups: "
    "\"A\"}\n"
    "      - {type: bind,    source: /run/mount/private/B, target: /ccc/B, options: rw, groups: "
    "\"B\"}\n"
    "      - {type: bind,    source: /run/mount/private/A, target: /ccc/A, options: "
    "\"ro,noexec\", groups: [B, C]}\n"
    "      - {type: symlink, source: A, target: /ccc/C, groups: \"A\"}\n"
    "      - {type: symlink, source: B, target: /ccc/C, groups: \"~A,B\", users: alice}\n"
    "      - {type: dir, target: /ccc/D}\n"
    "    hide: [/run/mount/private]\n"
    "    env: {TMPDIR: /tmp}\n"
    "  shared-tmp:\n"
    "    inherits: strict\n"
    "    polydirs:\n"
    "      - {path: /tmp, backing: disk, scope: user}\n"
    "partitions:\n"
    "  debug: {default_profile: strict, allowed_profiles: [strict, none]}\n"
    "  gpu:   {allowed_profiles: [strict]}\n";

/* --- valid policies: the model ------------------------------------------------------------ */

/* login: (pam_isolation mode=login): its profile, exempt users and groups, sessions. */
static void test_login(void)
{
    struct policy *p = accepted(HEAD "login: {profile: a, exempt_users: [admin, ops], "
                                     "exempt_groups: [wheel], sessions: private}\n"
                                     "profiles: {a: {}}\n",
                                "", "a login: section");

    if (p) {
        ok(p->login.present && strcmp(p->login.profile, "a") == 0, "...its profile");
        ok(p->login.exempt_users.count == 2 && strcmp(p->login.exempt_users.names[1], "ops") == 0,
           "...its exempt users");
        ok(p->login.exempt_groups.count == 1 && p->login.private_sessions,
           "...its exempt groups and private sessions");
    }
    policy_free(p);
    p = accepted(HEAD "login: {profile: none}\nprofiles: {a: {}}\n", "", "login: profile none");
    ok(p && !p->login.private_sessions, "...sessions are shared by default");
    policy_free(p);
    refused(HEAD "login: {exempt_users: [root]}\nprofiles: {a: {}}\n",
            "t.yaml:3:8: login: has no profile; write profile: NAME (the profile every login "
            "session gets, or none)",
            "a login: section without a profile");
    refused(HEAD "login: {profile: b}\nprofiles: {a: {}}\n",
            "t.yaml:3:18: unknown profile \"b\" in login: profile; define it under profiles:, or "
            "write none for no isolation",
            "a login: profile that is not defined");
    refused(HEAD "login: {profile: a, session: private}\nprofiles: {a: {}}\n",
            "t.yaml:3:21: unknown key \"session\" (did you mean \"sessions\"?)",
            "a misspelt login: key");
    refused(HEAD "login: {profile: a, exempt_users: [\"a b\"]}\nprofiles: {a: {}}\n",
            "t.yaml:3:36: bad name \"a b\" in the user names", "a user name with a space");
}

/* hostlists as login: host_groups take them: Slurm's ranges, "*", several names. */
static void test_hostlists(void)
{
    static const struct {
        const char *list, *host;
        bool match;
    } cases[] = {
        {"login1", "login1", true},           {"login1", "login2", false},
        {"login1", "LOGIN1", true},           {"login1", "login10", false},
        {"login[1-4]", "login3", true},       {"login[1-4]", "login5", false},
        {"login[1-4]", "login", false},       {"login[1-4]", "login03", false},
        {"login[01-16]", "login07", true},    {"login[01-16]", "login7", false},
        {"login[8-12]", "login10", true},     {"login[8-12]", "login08", false},
        {"login[1-2,7]", "login7", true},     {"login[1-2,7]", "login5", false},
        {"r[1-2]n[01-04]", "r2n03", true},    {"r[1-2]n[01-04]", "r3n03", false},
        {"n[1-2]0", "n10", true},             {"n[1-2]0", "n1", false},
        {"dtn*", "dtn", true},                {"dtn*", "dtn-a", true},
        {"dtn*", "xdtn", false},              {"*-gpu", "login1-gpu", true},
        {"a,login[1-4],b", "login4", true},   {"a,login[1-4],b", "b", true},
        {"a,login[1-4],b", "c", false},       {"*", "", false},
        {"login[1-4", "login1", false},       {"login1.example.org", "login1", false},
        {"login[0-999999999]", "login123456789", true},
        {"*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ok(hostlist_match(cases[i].list, cases[i].host) == cases[i].match,
           "hostlist \"%s\" %s \"%s\"", cases[i].list, cases[i].match ? "has" : "has not",
           cases[i].host);
}

#define LOGIN_HOSTS                                                                                \
    HEAD "login:\n"                                                                                \
         "  profile: a\n"                                                                          \
         "  exempt_users: [admin]\n"                                                               \
         "  host_groups:\n"                                                                        \
         "    - {hosts: \"login[1-2]\", profile: b, sessions: private}\n"                          \
         "    - {hosts: [dtn1, \"dtn[3-4]\"], profile: none, exempt_users: [mover]}\n"             \
         "    - hosts: \"login*\"\n"                                                               \
         "      exempt_groups: [staff]\n"                                                          \
         "profiles: {a: {}, b: {}}\n"

/* login: host_groups: the first that names the host wins, the login: keys fill in the rest. */
static void test_login_hosts(void)
{
    struct policy *p = accepted(LOGIN_HOSTS, "", "login: host_groups");
    struct login_choice c;
    const char *staff[] = {"users", "staff"};

    if (!p)
        return;
    ok(p->login.nhost_groups == 3 && strcmp(p->login.host_groups[1].hosts, "dtn1,dtn[3-4]") == 0,
       "...three host groups; a list of hostlists is joined");
    policy_login_choose(p, "login2", &c);
    ok(c.group == &p->login.host_groups[0] && strcmp(c.profile, "b") == 0 && c.private_sessions,
       "login2: the first group's profile and sessions");
    ok(login_choice_exempt(&c, "admin", NULL, 0) && !login_choice_exempt(&c, "mover", NULL, 0),
       "...and login:'s exempt users");
    policy_login_choose(p, "dtn4", &c);
    ok(c.group_index == 1 && strcmp(c.profile, "none") == 0 && !c.private_sessions,
       "dtn4: the second group");
    ok(!login_choice_exempt(&c, "admin", NULL, 0) && login_choice_exempt(&c, "mover", NULL, 0),
       "...whose exempt_users replace login:'s");
    policy_login_choose(p, "login7", &c);
    ok(c.group_index == 2 && strcmp(c.profile, "a") == 0, "login7: the third group, login:'s profile");
    is_str(login_choice_exempt(&c, "bob", staff, 2), "exempt_groups", "...its exempt_groups");
    is_str(login_choice_exempt(&c, "admin", staff, 1), "exempt_users", "...and login:'s users");
    policy_login_choose(p, "node1", &c);
    ok(!c.group && strcmp(c.profile, "a") == 0 && !c.private_sessions &&
           !login_choice_exempt(&c, "bob", staff, 2),
       "node1: no group names it: login:'s own keys");
    policy_login_choose(p, "", &c);
    ok(!c.group, "an unknown host name: no group");
    policy_free(p);
}

/* What is wrong with a host group is said where it is written, with the fix. */
static void test_login_hosts_errors(void)
{
    static const struct {
        const char *group, *want;
    } cases[] = {
        {"{profile: a}",
         "t.yaml:3:35: this login: host group has no hosts; write hosts: \"login[1-4]\" (the short "
         "host names it is for)"},
        {"{hosts: \"login[1-4\"}",
         "t.yaml:3:43: bad hosts \"login[1-4\": \"[\" is not closed; write a range such as "
         "login[1-4]"},
        {"{hosts: \"login[4-1]\"}",
         "t.yaml:3:43: bad hosts \"login[4-1]\": the range \"4-1\" goes down; write the smaller "
         "number first"},
        {"{hosts: \"login[a-b]\"}",
         "t.yaml:3:43: bad hosts \"login[a-b]\": a range in [...] is N or N-M with numbers of 1 "
         "to 9 digits; write login[1-4] or login[01-16,20]"},
        {"{hosts: \"login1,,login2\"}",
         "t.yaml:3:43: bad hosts \"login1,,login2\": it has an empty name; write names separated "
         "by single commas, as login[1-4],dtn1"},
        {"{hosts: \"login1, login2\"}",
         "t.yaml:3:43: bad hosts \"login1, login2\": it has a space; write login1,login2 without "
         "spaces, or a list"},
        {"{hosts: login1.example.org}",
         "t.yaml:3:43: bad hosts \"login1.example.org\": host names here are short ones, without "
         "the domain; write login1, not login1.example.org"},
        {"{hosts: \"login]\"}",
         "t.yaml:3:43: bad hosts \"login]\": \"]\" without \"[\"; write a range such as login[1-4]"},
        {"{hosts: \"log@in\"}",
         "t.yaml:3:43: bad hosts \"log@in\": \"@\" is not in host names (letters, digits, \"-\" "
         "and \"_\"; \"*\" and [ranges] match them)"},
        {"{hosts: []}", "t.yaml:3:43: hosts is empty; write hosts: \"login[1-4]\""},
        {"{hosts: login1, profile: c}",
         "t.yaml:3:60: unknown profile \"c\" in the profile of login: host group 1 (hosts "
         "\"login1\"); define it under profiles:, or write none for no isolation"},
        {"{hosts: login1, profil: b}", "t.yaml:3:51: unknown key \"profil\" (did you mean \"profile\"?)"},
        {"{hosts: login1, sessions: privat}",
         "t.yaml:3:61: unknown sessions \"privat\" (did you mean \"private\"?)"},
        {"login1",
         "t.yaml:3:35: expected a mapping with hosts and what it changes (profile, exempt_users, "
         "exempt_groups, sessions), got \"login1\""},
    };
    char text[512], what[600];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), HEAD "login: {profile: a, host_groups: [%s]}\nprofiles: {a: {}, b: {}}\n",
                 cases[i].group);
        snprintf(what, sizeof(what), "host group %s", cases[i].group);
        refused(text, cases[i].want, what);
    }
    refused(HEAD "login: {profile: a, host_groups: {hosts: login1}}\nprofiles: {a: {}}\n",
            "t.yaml:3:34: expected a list of host groups ({hosts: ..., profile: ...}), got a mapping",
            "host_groups that is not a list");
}

static void test_defaults(void)
{
    struct policy *p = accepted(HEAD "profiles: {a: {}}\n", "", "minimal policy");

    if (!p)
        return;
    is_int(p->version, 1, "version is 1");
    is_str(p->instance_base, POLICY_DEFAULT_INSTANCE_BASE, "instance_base defaults");
    ok(p->on_error == ON_ERROR_DENY, "on_error defaults to deny");
    is_str(p->default_profile, "a", "default_profile");
    ok(!p->allowed.present && p->allowed.count == 1 && strcmp(p->allowed.names[0], "a") == 0,
       "allowed_profiles defaults to [default_profile], marked as not written");
    is_int(p->nprofiles, 1, "one profile");
    is_int(p->npartitions, 0, "no partitions");
    is_str(p->file, "t.yaml", "the model knows its file");
    policy_free(p);
}

static void test_example_model(void)
{
    struct policy *p = accepted(example, "", "the documented example");
    const struct profile *s;
    const struct mount_entry *m;

    if (!p)
        return;
    is_str(p->instance_base, "/var/spool/isolation", "instance_base as written");
    ok(p->on_error == ON_ERROR_ALLOW, "on_error: allow");
    ok(p->allowed.present && p->allowed.count == 2, "allowed_profiles as written");
    is_int(p->allowed.locs[1].col, 28, "each allowed name keeps its column");
    s = policy_profile(p, "strict");
    ok(s && s->npolydirs == 3 && s->nmounts == 7 && s->nhide == 1 && s->nenv == 1,
       "strict holds 3 polydirs, 7 mounts, 1 hidden path, 1 variable");
    if (!s || s->nmounts != 7 || s->npolydirs != 3)
        goto out;
    ok(s->polydirs[0].backing == BACKING_DISK && s->polydirs[0].scope == SCOPE_JOB &&
           s->polydirs[0].size.kind == SIZE_UNSET,
       "polydir backing, scope and size as written");
    ok(s->polydirs[2].size.kind == SIZE_PERCENT && s->polydirs[2].size.value == 50,
       "size: 50%% is a percentage");
    is_int(s->polydirs[1].loc.line, 10, "a polydir keeps its line");
    is_int(s->polydirs[1].loc.col, 9, "...and column");
    m = &s->mounts[0];
    ok(m->type == MOUNT_TMPFS && m->size.kind == SIZE_BYTES && m->size.value == 1 << 20 &&
           m->mode == 0700 && !m->source,
       "tmpfs: size=1M is 1048576 bytes, mode=0700");
    m = &s->mounts[1];
    ok(m->type == MOUNT_BIND && strcmp(m->source, "/run/mount/private/A") == 0 &&
           strcmp(m->target, "/ccc/A") == 0 && m->flags == 0 && strcmp(m->options, "rw") == 0,
       "bind rw: source, target, no flags, options text kept");
    ok(m->groups.present && !m->groups.negate && m->groups.count == 1 &&
           strcmp(m->groups.names[0], "A") == 0 && !m->users.present,
       "groups: \"A\" is a one-name filter; users is absent");
    is_int(m->groups.loc.col, 92, "a filter keeps the column of its value");
    m = &s->mounts[3];
    ok(m->flags == (MOUNT_OPT_RO | MOUNT_OPT_NOEXEC), "ro,noexec set both flags");
    ok(m->groups.count == 2 && strcmp(m->groups.names[1], "C") == 0, "groups as a YAML list");
    m = &s->mounts[5];
    ok(m->type == MOUNT_SYMLINK && strcmp(m->source, "B") == 0 && !m->options,
       "symlink: the source is the link text; no options");
    ok(m->groups.negate && m->groups.count == 2 && m->users.present &&
           strcmp(m->users.names[0], "alice") == 0,
       "\"~A,B\" negates; users filter stored");
    m = &s->mounts[6];
    ok(m->type == MOUNT_DIR && m->mode == 0755 && !m->groups.present,
       "dir: mode defaults to 0755; no filter matches everyone");
    is_str(s->hide[0].path, "/run/mount/private", "hide");
    ok(strcmp(s->env[0].name, "TMPDIR") == 0 && strcmp(s->env[0].value, "/tmp") == 0, "env");
    is_str(policy_profile(p, "shared-tmp")->inherits, "strict", "inherits");
    ok(policy_partition(p, "debug") && policy_partition(p, "gpu") && !policy_partition(p, "x"),
       "partitions are found by name");
    ok(!policy_partition(p, "gpu")->default_profile && policy_partition(p, "gpu")->allowed.present,
       "a partition without default_profile leaves it NULL");
out:
    policy_free(p);
}

static void test_sizes(void)
{
    static const struct {
        const char *text;
        enum size_kind kind;
        uint64_t value;
    } cases[] = {
        {"1048576", SIZE_BYTES, 1048576},
        {"1K", SIZE_BYTES, 1024},
        {"512M", SIZE_BYTES, 512ULL << 20},
        {"8G", SIZE_BYTES, 8ULL << 30},
        {"2T", SIZE_BYTES, 2ULL << 40},
        {"3g", SIZE_BYTES, 3ULL << 30},
        {"1%", SIZE_PERCENT, 1},
        {"100%", SIZE_PERCENT, 100},
    };
    char text[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct policy *p;
        char *got;
        snprintf(text, sizeof(text),
                 HEAD "profiles:\n  a:\n    polydirs: [{path: /s, backing: tmpfs, size: \"%s\"}]\n",
                 cases[i].text);
        got = check(text, &p);
        ok(p && p->profiles[0].polydirs[0].size.kind == cases[i].kind &&
               p->profiles[0].polydirs[0].size.value == cases[i].value,
           "size %s is %s %llu", cases[i].text, cases[i].kind == SIZE_BYTES ? "bytes" : "percent",
           (unsigned long long)cases[i].value);
        free(got);
        policy_free(p);
    }
}

/* A disk polydir's size is its quota: bytes, never a share of the job's memory. */
static void test_disk_sizes(void)
{
    struct policy *p;

    p = accepted(HEAD "profiles:\n  a:\n    polydirs: [{path: /tmp, backing: disk, size: 10M}]\n",
                 "", "a disk polydir with a size");
    ok(p && p->profiles[0].polydirs[0].size.kind == SIZE_BYTES &&
           p->profiles[0].polydirs[0].size.value == 10 << 20 &&
           p->profiles[0].polydirs[0].size_loc.line == 5 &&
           p->profiles[0].polydirs[0].size_loc.col == 50,
       "...is 10485760 bytes, at the position of its value");
    policy_free(p);
    refused(HEAD "profiles:\n  a:\n    polydirs: [{path: /tmp, size: 50%}]\n",
            "t.yaml:5:35: a disk polydir's size is absolute (512M, 8G), not \"50%\"; percentages "
            "of the job's memory are for backing: tmpfs",
            "a percentage on a disk polydir (the default backing)");
}

static void test_views(void)
{
    const char *text =
        "version: 1\n"
        "default_profile: c\n"
        "profiles:\n"
        "  base:\n"
        "    polydirs: [{path: /tmp}, {path: /var/tmp}]\n"
        "    mounts: [{type: tmpfs, target: /b}]\n"
        "    hide: [/h1]\n"
        "    env: {A: base, B: base}\n"
        "  mid:\n"
        "    inherits: base\n"
        "    polydirs: [{path: /var/tmp, scope: user}, {path: /dev/shm, backing: tmpfs}]\n"
        "    mounts: [{type: tmpfs, target: /m}]\n"
        "    hide: [/h2, /h1]\n"
        "    env: {B: mid}\n"
        "  c:\n"
        "    inherits: mid\n"
        "    polydirs: [{path: /tmp, backing: tmpfs}, {path: /scratch}]\n"
        "    mounts: [{type: tmpfs, target: /c}, {type: dir, target: /c/d}]\n"
        "    env: {A: c, C: c}\n";
    struct policy *p = accepted(text, "", "three levels of inheritance");
    struct profile_view *v;

    if (!p)
        return;
    v = profile_view_get(p, "c");
    ok(v != NULL, "view of the grandchild");
    if (!v)
        goto out;
    is_str(v->name, "c", "the view is named after its profile");
    is_int(v->npolydirs, 4, "polydirs: 2 inherited, 1 added by mid, 1 by c");
    ok(v->npolydirs == 4 && strcmp(v->polydirs[0]->path, "/tmp") == 0 &&
           v->polydirs[0]->backing == BACKING_TMPFS &&
           strcmp(v->polydirs[1]->path, "/var/tmp") == 0 && v->polydirs[1]->scope == SCOPE_USER &&
           strcmp(v->polydirs[2]->path, "/dev/shm") == 0 &&
           strcmp(v->polydirs[3]->path, "/scratch") == 0,
       "the parents' order first, same paths replaced in place, new ones after");
    ok(v->nmounts == 4 && strcmp(v->mounts[0]->target, "/c") == 0 &&
           strcmp(v->mounts[1]->target, "/c/d") == 0 && strcmp(v->mounts[2]->target, "/m") == 0 &&
           strcmp(v->mounts[3]->target, "/b") == 0,
       "mounts: the child's first, then each ancestor's");
    ok(v->nhide == 2 && strcmp(v->hide[0]->path, "/h1") == 0 &&
           strcmp(v->hide[1]->path, "/h2") == 0,
       "hide adds to the parent's, once per path");
    ok(v->nenv == 3 && strcmp(v->env[0]->value, "c") == 0 && strcmp(v->env[1]->value, "mid") == 0 &&
           strcmp(v->env[2]->name, "C") == 0,
       "env: a child's variable wins by name and keeps the parent's place");
    profile_view_free(v);
    v = profile_view_get(p, "base");
    ok(v && v->npolydirs == 2 && v->nmounts == 1 && v->nenv == 2,
       "a root profile's view is itself");
    profile_view_free(v);
    errno = 0;
    ok(profile_view_get(p, "nosuch") == NULL && errno == ENOENT, "unknown profile: NULL, ENOENT");
    profile_view_free(NULL);
out:
    policy_free(p);
}

static void test_names(void)
{
    is_str(backing_name(BACKING_TMPFS), "tmpfs", "backing_name");
    is_str(scope_name(SCOPE_USER), "user", "scope_name");
    is_str(mount_type_name(MOUNT_SYMLINK), "symlink", "mount_type_name");
    is_str(mount_type_name(MOUNT_DIR), "dir", "mount_type_name dir");
}

static void test_none(void)
{
    struct policy *p = accepted("version: 1\ndefault_profile: none\nallowed_profiles: [none, a]\n"
                                "profiles: {a: {}}\n",
                                "", "default_profile none, listed in allowed_profiles");

    policy_free(p);
    refused("version: 1\ndefault_profile: none\nprofiles: {a: {}}\n",
            "t.yaml:2:18: default_profile \"none\" turns isolation off by default; confirm it by "
            "listing none in allowed_profiles",
            "default_profile none without listing it");
    refused(HEAD "profiles: {a: {}, none: {}}\n",
            "t.yaml:3:19: the profile name \"none\" is reserved (it means no isolation); rename "
            "this profile",
            "a profile named none");
}

/* --- invalid input: what is wrong, where, and how to fix it ----------------------------------- */

static void test_not_yaml(void)
{
    refused("",
            "t.yaml: empty policy: expected a mapping with at least `version` and "
            "`default_profile`",
            "an empty file");
    refused("# only a comment\n\n",
            "t.yaml: empty policy: expected a mapping with at least `version` and "
            "`default_profile`",
            "a file of comments");
    refused("version: 1\ndefault_profile: [a\n",
            "t.yaml:3:1: not valid YAML: did not find expected ',' or ']' (while parsing a flow "
            "sequence that starts at line 2, column 18); check for an unclosed bracket, brace or "
            "quote",
            "an unclosed bracket");
    refused(HEAD "profiles:\n  a:\n    mounts: []\n   hide: []\n",
            "t.yaml:6:4: not valid YAML: did not find expected key (while parsing a block mapping "
            "that starts at line 4, column 3); check the indentation of this line against the "
            "lines above, and quote values that contain \": \"",
            "an indentation mistake");
    refused(HEAD "profiles:\n  a:\n    mounts: [{type: symlink, source: %u, target: /x}]\n",
            "t.yaml:5:38: not valid YAML: found character that cannot start any token (while "
            "scanning for the next token); quote a value that starts with %, @ or ` (as in "
            "source: \"%u\")",
            "an unquoted %u");
    refused("version: 1\ndefault_profile: \xc3\x28\n",
            "t.yaml:2:18: not valid UTF-8 (byte 0xc3); save the policy as UTF-8 text",
            "invalid UTF-8");
    refused("version: 1\ndefault_profile: \xed\xa0\x80\n",
            "t.yaml:2:18: not valid UTF-8 (byte 0xed); save the policy as UTF-8 text",
            "an encoded surrogate is not UTF-8");
    refused("version: 1\ndefault_profile: a\x01\n",
            "t.yaml:2:19: not valid YAML text: control characters are not allowed (character "
            "U+0001); remove it",
            "a raw control character");
    refused("- version: 1\n",
            "t.yaml:1:1: expected a mapping of policy keys (version, default_profile, profiles...) "
            "at the top level, got a list",
            "a list at the top level");
}

static void test_tabs(void)
{
    refused(HEAD "profiles:\n\ta: {}\n  b:\n  \t  c: {}\n",
            "t.yaml:4:1: tab character in indentation; YAML indents with spaces only: replace "
            "the tab with spaces\n"
            "t.yaml:6:3: tab character in indentation; YAML indents with spaces only: replace "
            "the tab with spaces",
            "tabs in indentation are named, every one");
    loads(HEAD "allowed_profiles: [a,\n\ta]\nprofiles: {a: {}}\n",
          "t.yaml:4:2: warning: profile \"a\" is listed twice (first at line 3, column 20); "
          "remove one",
          "a tab inside a flow list is fine YAML");
}

static void test_big(void)
{
    size_t n = POLICY_MAX_BYTES + 1;
    char *buf = malloc(n);
    struct diag_list d;
    struct policy *p;
    char line[1024];

    if (!buf) {
        ok(0, "malloc");
        return;
    }
    memset(buf, '#', n);
    diag_list_init(&d, "big.yaml");
    p = policy_parse(buf, n, "big.yaml", &d);
    ok(p == NULL && d.count == 1, "a policy over 1 MiB is refused");
    if (d.count) {
        diag_format(&d, 0, line, sizeof(line));
        is_str(line,
               "big.yaml: the policy is 1048577 bytes, more than the 1 MiB limit (1048576 "
               "bytes); is this the right file?",
               "...saying so");
    }
    diag_list_free(&d);
    free(buf);
}

static void test_version(void)
{
    refused("default_profile: a\nprofiles: {a: {}}\n",
            "t.yaml:1:1: missing version; add `version: 1` at the top of the policy", "no version");
    refused("version: 2\ndefault_profile: a\nprofiles: {a: {}}\n",
            "t.yaml:1:10: unsupported version \"2\"; this spank-isolation reads version 1",
            "version 2");
    refused("version: [1]\ndefault_profile: a\nprofiles: {a: {}}\n",
            "t.yaml:1:10: expected the format version, 1, got a list", "version as a list");
    refused("version: 1\nprofiles: {a: {}}\n",
            "t.yaml:1:1: missing default_profile; add `default_profile: NAME`, the profile jobs "
            "get when they ask for none",
            "no default_profile");
}

static void test_unknown_keys(void)
{
    refused(HEAD "profiles:\n  a:\n    polydirs:\n      - {path: /tmp, scop: job}\n",
            "t.yaml:6:22: unknown key \"scop\" (did you mean \"scope\"?)", "a misspelt key");
    refused(HEAD "profiles:\n  a:\n    mount: []\n",
            "t.yaml:5:5: unknown key \"mount\" (did you mean \"mounts\"?)", "mount for mounts");
    refused(HEAD "profiles: {a: {}}\nfoo: 1\n",
            "t.yaml:4:1: unknown key \"foo\" in the policy; expected one of: version, "
            "instance_base, on_error, ssh, login, default_profile, allowed_profiles, profiles, partitions",
            "a key with no near match lists the known ones");
    refused(HEAD "profiles: {a: {}}\npolydirs: []\n",
            "t.yaml:4:1: unknown key \"polydirs\" at the top level; polydirs belongs inside a "
            "profile (profiles: NAME: polydirs: ...)",
            "a profile key at the top level");
    refused(HEAD "profiles: {a: {}}\npartitions: {p: {default: a}}\n",
            "t.yaml:4:18: unknown key \"default\" (did you mean \"default_profile\"?)",
            "a key that begins a known one suggests it");
    refused(HEAD "profiles: {a: {}}\npartitions: {p: {size: 1}}\n",
            "t.yaml:4:18: unknown key \"size\" in a partition; expected one of: default_profile, "
            "allowed_profiles",
            "an unknown partition key");
    refused(HEAD "profiles:\n  a:\n    mounts: [{type: tmpfs, target: /x, grups: A}]\n",
            "t.yaml:5:40: unknown key \"grups\" (did you mean \"groups\"?)",
            "an unknown mount key");
    refused(HEAD "on_error: dney\nprofiles: {a: {}}\n",
            "t.yaml:3:11: unknown on_error \"dney\" (did you mean \"deny\"?)", "on_error value");
    refused(HEAD "on_error: maybe\nprofiles: {a: {}}\n",
            "t.yaml:3:11: unknown on_error \"maybe\"; use deny or allow", "on_error: maybe");
}

static void test_types(void)
{
    refused(HEAD "allowed_profiles: {a: 1}\nprofiles: {a: {}}\n",
            "t.yaml:3:19: expected a list of profile names, got a mapping",
            "allowed_profiles as a mapping");
    refused(HEAD "allowed_profiles: a\nprofiles: {a: {}}\n",
            "t.yaml:3:19: expected a list of profile names, got \"a\"; write [a]",
            "allowed_profiles as a string");
    refused(HEAD "allowed_profiles: []\nprofiles: {a: {}}\n",
            "t.yaml:3:19: allowed_profiles is empty; list at least one profile (or none)",
            "an empty allowed_profiles");
    refused(HEAD "profiles:\n  a:\n    polydirs: /tmp\n    env: [1]\n    hide: {a: b}\n"
                 "    mounts: {}\n    inherits: [x]\n",
            "t.yaml:5:15: expected a list of polydir entries, got \"/tmp\"\n"
            "t.yaml:6:10: expected a mapping of variables (such as {TMPDIR: /tmp}), got a list\n"
            "t.yaml:7:11: expected a list of paths to hide, got a mapping\n"
            "t.yaml:8:13: expected a list of mount entries, got a mapping\n"
            "t.yaml:9:15: expected a profile name, got a list",
            "every section of a profile with the wrong type");
    refused(HEAD "profiles: [a]\n",
            "t.yaml:3:11: expected a mapping of profile names to profiles, got a list",
            "profiles as a list");
    refused(HEAD "profiles:\n  a: /tmp\n",
            "t.yaml:4:6: expected a profile (a mapping with polydirs, mounts, hide, env or "
            "inherits), got \"/tmp\"",
            "a profile as a string");
    refused(HEAD "profiles:\n  a:\n    polydirs: [/tmp]\n",
            "t.yaml:5:16: expected a polydir entry (a mapping such as {path: /tmp}), got \"/tmp\"",
            "a polydir as a string");
    refused(HEAD "profiles: {a: {}}\n? [x]\n: y\n",
            "t.yaml:4:3: expected a name as the key, got a list", "a complex key");
    refused(HEAD "profiles: {a: {}}\npartitions: [debug]\n",
            "t.yaml:4:13: expected a mapping of partition names to settings, got a list",
            "partitions as a list");
}

static void test_duplicates(void)
{
    refused(HEAD "profiles:\n  a: {}\n  a: {}\ndefault_profile: b\n",
            "t.yaml:5:3: duplicate profile \"a\" (first at line 4, column 3); keep one\n"
            "t.yaml:6:1: duplicate key \"default_profile\" (first at line 2, column 1); keep one",
            "a duplicate profile and a duplicate key");
    refused(HEAD "profiles:\n  a:\n    polydirs: [{path: /tmp, path: /var/tmp}]\n",
            "t.yaml:5:29: duplicate key \"path\" (first at line 5, column 17); keep one",
            "a duplicate key in a flow mapping");
    refused(HEAD "profiles:\n  a:\n    env: {X: 1, X: 2}\n",
            "t.yaml:5:17: duplicate variable \"X\" (first at line 5, column 11); keep one",
            "a duplicate variable");
    refused(HEAD "profiles: {a: {}}\npartitions: {p: {}, p: {}}\n",
            "t.yaml:4:21: duplicate partition \"p\" (first at line 4, column 14); keep one",
            "a duplicate partition");
}

static void test_references(void)
{
    refused("version: 1\ndefault_profile: strcit\nprofiles: {strict: {}}\n",
            "t.yaml:2:18: unknown profile \"strcit\" in default_profile (did you mean "
            "\"strict\"?)",
            "an unknown default_profile");
    refused(HEAD "allowed_profiles: [a, zzz]\nprofiles: {a: {}}\n",
            "t.yaml:3:23: unknown profile \"zzz\" in allowed_profiles; define it under profiles:, "
            "or write none for no isolation",
            "an unknown profile in allowed_profiles");
    refused(HEAD "profiles: {a: {inherits: nosuch}}\n",
            "t.yaml:3:26: unknown profile \"nosuch\" in inherits; define it under profiles:",
            "an unknown parent");
    refused(HEAD "profiles: {a: {inherits: none}}\n",
            "t.yaml:3:26: a profile cannot inherit \"none\" (no isolation); remove inherits or "
            "name a profile",
            "inheriting none");
    refused(HEAD "profiles: {a: {}}\npartitions:\n  p: {default_profile: b, allowed_profiles: "
                 "[a, c]}\n",
            "t.yaml:5:24: unknown profile \"b\" in the default_profile of partition \"p\"; "
            "define it under profiles:, or write none for no isolation\n"
            "t.yaml:5:49: unknown profile \"c\" in the allowed_profiles of partition \"p\"; "
            "define it under profiles:, or write none for no isolation",
            "unknown profiles in a partition");
    refused(HEAD "allowed_profiles: [b]\nprofiles: {a: {}, b: {}}\n",
            "t.yaml:2:18: default_profile \"a\" is not in allowed_profiles [b]; add it there or "
            "choose one of those",
            "a default outside allowed_profiles");
    refused(HEAD "profiles: {a: {}, b: {}}\npartitions:\n  p: {default_profile: b}\n",
            "t.yaml:5:24: partition \"p\": default_profile \"b\" is not in its allowed_profiles "
            "[a]; add it there or choose one of those",
            "a partition default outside the global list that applies to it");
    refused(HEAD "profiles: {a: {}, b: {}}\npartitions:\n  gpu: {allowed_profiles: [b]}\n",
            "t.yaml:5:27: partition \"gpu\": the global default_profile \"a\" is not in its "
            "allowed_profiles [b]; give the partition a default_profile from that list, or add a "
            "to it",
            "the global default outside a partition's list");
    loads(HEAD "profiles: {a: {}, b: {}}\npartitions:\n  gpu: {default_profile: b, "
               "allowed_profiles: [b, none]}\n",
          "", "a partition with its own default and list");
}

static void test_cycles(void)
{
    refused(HEAD "profiles:\n  a: {inherits: b}\n  b: {inherits: c}\n  c: {inherits: a}\n"
                 "  d: {inherits: a}\n",
            "t.yaml:4:17: inherits cycle: a -> b -> c -> a; remove one of these inherits",
            "a cycle of three, named once, from the first profile");
    refused(HEAD "profiles:\n  a: {}\n  b: {inherits: c}\n  c: {inherits: b}\n",
            "t.yaml:5:17: inherits cycle: b -> c -> b; remove one of these inherits",
            "a cycle of two");
    refused(HEAD "profiles:\n  a: {inherits: a}\n",
            "t.yaml:4:17: inherits cycle: a -> a; remove one of these inherits",
            "a profile inheriting itself");
}

static void test_paths(void)
{
    refused(
        HEAD "profiles:\n  a:\n    polydirs:\n      - {path: tmp}\n      - {path: /t/../x}\n"
             "      - {path: /a//b}\n      - {path: /a/./b}\n      - {path: /a/}\n"
             "      - {path: /}\n      - {path: \"\"}\n      - {backing: disk}\n",
        "t.yaml:6:16: polydir path \"tmp\" is relative; write an absolute path, starting with /\n"
        "t.yaml:7:16: polydir path \"/t/../x\" has a \"..\" component; write the path without "
        "it\n"
        "t.yaml:8:16: polydir path \"/a//b\" has an empty component (\"//\" or a trailing "
        "\"/\"); remove the extra /\n"
        "t.yaml:9:16: polydir path \"/a/./b\" has a \".\" component; remove it\n"
        "t.yaml:10:16: polydir path \"/a/\" has an empty component (\"//\" or a trailing "
        "\"/\"); remove the extra /\n"
        "t.yaml:11:16: polydir path cannot be /; name a directory such as /tmp\n"
        "t.yaml:12:16: polydir path \"\" is empty; write an absolute path\n"
        "t.yaml:13:9: polydir entry has no path; add path: /tmp (for example)",
        "bad polydir paths");
    refused(HEAD "profiles:\n  a:\n    hide: [x, /, /a/..]\n"
                 "    mounts:\n      - {type: tmpfs, target: /}\n"
                 "      - {type: bind, source: rel, target: /x}\n",
            "t.yaml:5:12: hidden path \"x\" is relative; write an absolute path, starting with /\n"
            "t.yaml:5:15: hide cannot cover /; name the directories to hide\n"
            "t.yaml:5:18: hidden path \"/a/..\" has a \"..\" component; write the path without it\n"
            "t.yaml:7:31: a mount target cannot be /\n"
            "t.yaml:8:30: bind source \"rel\" is relative; write an absolute path, starting with /",
            "bad hidden paths, mount targets and bind sources");
}

static void test_polydirs(void)
{
    refused(HEAD "profiles:\n  a:\n    polydirs:\n      - {path: /tmp}\n      - {path: /var/tmp}\n"
                 "      - {path: /tmp, scope: user}\n",
            "t.yaml:8:9: polydir \"/tmp\" is listed twice in this profile (first at line 6); keep "
            "one",
            "the same polydir twice");
    refused(HEAD "profiles:\n  a:\n    polydirs: [{path: /tmp}, {path: /tmp/x}]\n",
            "t.yaml:5:30: polydir \"/tmp/x\" lies inside polydir \"/tmp\" (line 5); polydirs "
            "cannot nest",
            "nested polydirs");
    refused(HEAD "profiles:\n  b: {polydirs: [{path: /tmp/x}]}\n  a:\n    inherits: b\n"
                 "    polydirs: [{path: /tmp}]\n",
            "t.yaml:7:16: polydir \"/tmp\" contains the inherited polydir \"/tmp/x\" (line 4); "
            "polydirs cannot nest",
            "a polydir around an inherited one");
    refused(HEAD "profiles:\n  a:\n    polydirs: [{path: /tmp}]\n"
                 "    mounts: [{type: tmpfs, target: /tmp/x}]\n    hide: [/tmp]\n",
            "t.yaml:6:14: mount target \"/tmp/x\" lies inside polydir \"/tmp\" (line 5), which "
            "belongs to the job's user; keep mounts and hidden paths outside polydirs\n"
            "t.yaml:7:12: hidden path \"/tmp\" is also polydir \"/tmp\" (line 5), which belongs "
            "to the job's user; keep mounts and hidden paths outside polydirs",
            "mounts and hidden paths inside polydirs");
    refused(HEAD "profiles:\n  b: {mounts: [{type: tmpfs, target: /scratch/x}]}\n  a:\n"
                 "    inherits: b\n    polydirs: [{path: /scratch}]\n",
            "t.yaml:7:16: polydir \"/scratch\" contains the inherited mount target \"/scratch/x\" "
            "(profile \"b\"); keep mounts and hidden paths outside polydirs",
            "a polydir around an inherited mount");
}

static void test_instance_base(void)
{
    refused(HEAD "instance_base: /tmp/isolation\nprofiles:\n  a:\n    polydirs: [{path: /tmp}]\n",
            "t.yaml:3:16: instance_base \"/tmp/isolation\" lies inside polydir \"/tmp\" (profile "
            "\"a\", line 6); choose a root-only directory outside every polydir, such as "
            "/var/spool/slurm/isolation",
            "instance_base inside a polydir");
    refused(HEAD "instance_base: /var\nprofiles:\n  a:\n    polydirs: [{path: /var/tmp}]\n",
            "t.yaml:3:16: instance_base \"/var\" contains polydir \"/var/tmp\" (profile \"a\", "
            "line 6); choose a root-only directory outside every polydir, such as "
            "/var/spool/slurm/isolation",
            "instance_base containing a polydir");
    refused(HEAD "instance_base: /scratch\nprofiles:\n  a:\n    polydirs: [{path: /scratch}]\n",
            "t.yaml:3:16: instance_base \"/scratch\" is also polydir \"/scratch\" (profile \"a\", "
            "line 6); choose a root-only directory outside every polydir, such as "
            "/var/spool/slurm/isolation",
            "instance_base equal to a polydir");
    refused(HEAD "profiles:\n  a:\n    polydirs: [{path: /var/spool}]\n",
            "t.yaml:5:16: instance_base \"/var/spool/slurm/isolation\" lies inside polydir "
            "\"/var/spool\" (profile \"a\", line 5); choose a root-only directory outside every "
            "polydir, such as /var/spool/slurm/isolation",
            "the default instance_base inside a polydir is reported at the polydir");
    refused(HEAD "instance_base: /\nprofiles: {a: {}}\n",
            "t.yaml:3:16: instance_base cannot be /; use a root-only directory such as "
            "/var/spool/slurm/isolation",
            "instance_base /");
    refused(HEAD "instance_base: var/x\nprofiles: {a: {}}\n",
            "t.yaml:3:16: instance_base \"var/x\" is relative; write an absolute path, starting "
            "with /",
            "a relative instance_base");
}

/* %n names the node, as in Slurm's BasePath; the front end expands it once it knows the node. */
static void test_node_base(void)
{
    struct policy *p;
    char buf[64];

    p = accepted(HEAD "instance_base: /var/spool/iso/%n\nprofiles: {a: {}}\n", "",
                 "instance_base with %n");
    is_str(p ? p->instance_base : NULL, "/var/spool/iso/%n", "...kept as written when loaded");
    ok(p && policy_set_node(p, "node1") == 0, "...set for node node1");
    is_str(p ? p->instance_base : NULL, "/var/spool/iso/node1", "...which it names");
    is_str(p ? p->base_template : NULL, "/var/spool/iso/%n", "...the template kept");
    ok(p && policy_base_of_other_node(p, "/var/spool/iso/node2"), "node2's base is another's");
    ok(p && !policy_base_of_other_node(p, "/var/spool/iso/node1"), "node1's is its own");
    ok(p && !policy_base_of_other_node(p, "/var/spool/iso/a/b"), "a deeper path is no node's");
    ok(p && !policy_base_of_other_node(p, "/var/spool/iso/"), "an empty name is no node's");
    ok(p && !policy_base_of_other_node(p, "/var/spool/other"), "another base is no node's");
    policy_free(p);
    p = accepted(HEAD "instance_base: /var/iso\nprofiles: {a: {}}\n", "", "a base without %n");
    ok(p && policy_set_node(p, "node1") == 0 && strcmp(p->instance_base, "/var/iso") == 0 &&
           !p->base_template && !policy_base_of_other_node(p, "/var/iso"),
       "...is every node's, and no other node has one");
    policy_free(p);
    p = accepted(HEAD "instance_base: /i/%n-%%n/x%n\nprofiles: {a: {}}\n", "",
                 "%n twice, and a literal %");
    ok(p && policy_set_node(p, "c1") == 0, "...set for c1");
    is_str(p ? p->instance_base : NULL, "/i/c1-%n/xc1", "...expanded");
    ok(p && policy_base_of_other_node(p, "/i/c22-%n/xc22"), "...another node's matches");
    ok(p && policy_set_node(p, "../x") < 0 && errno == EINVAL, "a node name with / is refused");
    policy_free(p);

    refused(HEAD "instance_base: /var/iso/%u\nprofiles: {a: {}}\n",
            "t.yaml:3:16: instance_base \"/var/iso/%u\" has an expansion other than %n; only %n "
            "(the node's name) and %% (a literal %) may be used there",
            "instance_base with %u");
    refused(HEAD "instance_base: /var/iso%\nprofiles: {a: {}}\n",
            "t.yaml:3:16: instance_base \"/var/iso%\" has a lone \"%\" at its end; only %n "
            "(the node's name) and %% (a literal %) may be used there",
            "instance_base ending with %");
    refused(HEAD "instance_base: /tmp/%n\nprofiles:\n  a:\n    polydirs: [{path: /tmp}]\n",
            "t.yaml:3:16: instance_base \"/tmp/%n\" lies inside polydir \"/tmp\" (profile "
            "\"a\", line 6); choose a root-only directory outside every polydir, such as "
            "/var/spool/slurm/isolation",
            "a node's base inside a polydir");

    is_int(policy_base_expand("/b/%n", "n1", buf, sizeof(buf)), 5, "expand: the length");
    is_str(buf, "/b/n1", "expand: the text");
    ok(policy_base_expand("/b/%n", "", buf, sizeof(buf)) < 0 && errno == EINVAL, "no name");
    ok(policy_base_expand("/b/%n", ".", buf, sizeof(buf)) < 0 && errno == EINVAL, "name .");
    ok(policy_base_expand("/b/%n", "..", buf, sizeof(buf)) < 0 && errno == EINVAL, "name ..");
    ok(policy_base_expand("/b/%n", "a\nb", buf, sizeof(buf)) < 0 && errno == EINVAL,
       "a control byte");
    ok(policy_base_expand("/b/%n", "node1", buf, 8) < 0 && errno == ENAMETOOLONG, "too long");
    is_int(policy_base_expand("/b/%n", "node", buf, 8), 7, "exactly long enough");
    ok(policy_node_name_ok("cn-0001.site") && policy_node_name_ok("a%n"), "names with . and %%");
}

static void test_bad_sizes(void)
{
    refused(HEAD "profiles:\n  a:\n    polydirs:\n"
                 "      - {path: /a, backing: tmpfs, size: 0}\n"
                 "      - {path: /b, backing: tmpfs, size: 150%}\n"
                 "      - {path: /c, backing: tmpfs, size: 1.5G}\n"
                 "      - {path: /d, backing: disk, size: 50%}\n"
                 "      - {path: /e, backing: tmpfs, size: 0%}\n"
                 "      - {path: /f, backing: tmpfs, size: 99999999999999999999}\n"
                 "      - {path: /g, backing: tmpfs, size: 20000000T}\n"
                 "      - {path: /h, backing: tmfs, scope: jbo}\n",
            "t.yaml:6:42: size \"0\" is zero; give a size above 0, or remove it for the kernel's "
            "default\n"
            "t.yaml:7:42: size \"150%\" is more than 100% of the job's memory; use at most 100%\n"
            "t.yaml:8:42: malformed size \"1.5G\"; write a percentage of the job's memory (50%) or "
            "a whole number of bytes with an optional K, M, G or T suffix (512M, 8G)\n"
            "t.yaml:9:41: a disk polydir's size is absolute (512M, 8G), not \"50%\"; percentages "
            "of the job's memory are for backing: tmpfs\n"
            "t.yaml:10:42: size \"0%\" is zero; give a size above 0, or remove it for the "
            "kernel's default\n"
            "t.yaml:11:42: size \"99999999999999999999\" is too large\n"
            "t.yaml:12:42: size \"20000000T\" is too large\n"
            "t.yaml:13:29: unknown backing \"tmfs\" (did you mean \"tmpfs\"?)\n"
            "t.yaml:13:42: unknown scope \"jbo\" (did you mean \"job\"?)",
            "bad polydir sizes, backings and scopes");
    refused(HEAD "profiles:\n  a:\n    mounts:\n"
                 "      - {type: tmpfs, target: /x, options: \"size=50%,mode=999\"}\n"
                 "      - {type: tmpfs, target: /y, options: \"size=0,mode=0700,mode=0755,ro\"}\n",
            "t.yaml:6:44: a tmpfs mount's size is absolute (512M, 8G), not \"50%\"; percentages of "
            "the job's memory are for polydirs\n"
            "t.yaml:6:44: malformed mode \"999\"; write an octal mode such as 0755 or 1777\n"
            "t.yaml:7:44: size \"0\" is zero; give a size above 0, or remove it for the kernel's "
            "default\n"
            "t.yaml:7:44: option \"mode\" is given twice; keep one\n"
            "t.yaml:7:44: unknown tmpfs option \"ro\"; tmpfs options are size=SIZE, mode=OCTAL "
            "and noexec",
            "bad tmpfs options");
}

static void test_filters(void)
{
    struct filter f = {0};
    struct err e;
    char want[1200];

    /* filter.c owns the wording for "~" alone; the loader passes it on, at the value. */
    filter_parse(&f, "~", &e);
    filter_clear(&f);
    snprintf(want, sizeof(want), "t.yaml:3:59: bad groups filter: %s", e.text);
    refused(HEAD "profiles: {a: {mounts: [{type: tmpfs, target: /x, groups: \"~\"}]}}\n", want,
            "\"~\" alone");
    refused(HEAD "profiles:\n  a:\n    mounts:\n"
                 "      - {type: tmpfs, target: /x}\n"
                 "      - {type: dir, target: /x/a, groups: \"~A\"}\n"
                 "      - {type: dir, target: /x/b, groups: \"A,,B\"}\n"
                 "      - {type: dir, target: /x/c, groups: \",A\"}\n"
                 "      - {type: dir, target: /x/d, groups: \"\"}\n"
                 "      - {type: dir, target: /x/e, groups: []}\n"
                 "      - {type: dir, target: /x/f, groups: [A, \"~B\"]}\n"
                 "      - {type: dir, target: /x/g, users: {a: 1}}\n"
                 "      - {type: dir, target: /x/h, users: \"a b\"}\n"
                 "      - {type: dir, target: /x/i, groups: }\n"
                 "      - {type: dir, target: /x/k, groups: \"A,\"}\n",
            "t.yaml:8:43: bad groups filter: empty name in filter \"A,,B\" (stray comma?)\n"
            "t.yaml:9:43: bad groups filter: empty name in filter \",A\" (stray comma?)\n"
            "t.yaml:10:43: bad groups filter: empty filter; remove the key to match everyone\n"
            "t.yaml:11:43: bad groups filter: the list is empty; remove the key to match "
            "everyone\n"
            "t.yaml:12:47: bad groups filter: bad name \"~B\" in a filter list: a list holds plain "
            "names; write the string form \"~A,B\" to negate\n"
            "t.yaml:13:42: expected user names (\"A,B\", \"~A\" or a list), got a mapping\n"
            "t.yaml:14:42: bad users filter: bad name \"a b\" in filter \"a b\": names are "
            "separated by commas, without spaces, and only the first may carry \"~\"\n"
            "t.yaml:15:43: bad groups filter: empty filter; remove the key to match everyone\n"
            "t.yaml:16:43: bad groups filter: empty name in filter \"A,\" (stray comma?)",
            "group and user filter syntax errors");
}

static void test_mount_entries(void)
{
    refused(HEAD "profiles:\n  a:\n    mounts:\n"
                 "      - {type: tmpfs, target: /t}\n"
                 "      - {type: bind, target: /x}\n"
                 "      - {type: symlink, target: /t/y}\n"
                 "      - {source: /a, target: /b}\n"
                 "      - {type: bnd, source: /a, target: /b}\n"
                 "      - {type: tmpfs, source: /a, target: /t2}\n"
                 "      - {type: symlink, source: a, target: /t/s, options: ro}\n"
                 "      - {type: bind, source: /a, target: /c, options: \"ro,rw\"}\n"
                 "      - {type: bind, source: /a, target: /c2, options: \"rx,nosuid,,\"}\n"
                 "      - {type: bind, source: /a, target: /c3, options: \"foo\"}\n"
                 "      - {type: dir, target: /t/d, options: \"size=1M\"}\n"
                 "      - {type: bind, source: /a, target: /c4, options: \"\"}\n"
                 "      - {type: bind, source: /a, target: /c5, options: [ro]}\n"
                 "      - bind\n"
                 "      - {type: dir}\n",
            "t.yaml:7:9: bind entry has no source; add source: /path/on/the/host\n"
            "t.yaml:8:9: symlink entry has no source; add source: LINK-TEXT\n"
            "t.yaml:9:9: mount entry has no type; add type: bind, symlink, tmpfs or dir\n"
            "t.yaml:10:16: unknown mount type \"bnd\" (did you mean \"bind\"?)\n"
            "t.yaml:11:23: a tmpfs entry takes no source; remove it\n"
            "t.yaml:12:50: a symlink entry takes no options; remove them\n"
            "t.yaml:13:55: options \"ro,rw\" ask for both ro and rw; keep one\n"
            "t.yaml:14:56: empty option in \"rx,nosuid,,\" (stray comma?)\n"
            "t.yaml:14:56: unknown bind option \"rx\" (did you mean \"ro\"?)\n"
            "t.yaml:15:56: unknown bind option \"foo\"; bind options are ro, rw, nosuid, nodev, "
            "noexec and defaults\n"
            "t.yaml:16:44: unknown dir option \"size=1M\"; the only dir option is mode=OCTAL\n"
            "t.yaml:17:56: options is empty; remove it for the defaults\n"
            "t.yaml:18:56: expected a comma-separated string of options such as \"ro,noexec\", "
            "got a list\n"
            "t.yaml:19:9: expected a mount entry (a mapping with type and target), got \"bind\"\n"
            "t.yaml:20:9: dir entry has no target; add target: /path",
            "malformed mount entries");
    loads(HEAD "profiles:\n  a:\n    mounts:\n"
               "      - {type: bind, source: /usr, target: /usr, options: "
               "\"defaults,nosuid,nodev,noexec,ro\"}\n"
               "      - {type: tmpfs, target: /opt, options: \"nosuid,nodev,noexec,size=8G\"}\n",
          "", "the options that are always applied are accepted");
    {
        struct policy *p = accepted(
            HEAD "profiles:\n  a:\n    mounts:\n"
                 "      - {type: bind, source: /usr, target: /usr, options: \"nodev,ro\"}\n"
                 "      - {type: tmpfs, target: /opt, options: \"size=8G,noexec\"}\n"
                 "      - {type: bind, source: /usr, target: /u2, options: \"noexec\"}\n",
            "", "options split at commas");
        const struct profile *a = p ? policy_profile(p, "a") : NULL;
        if (a && a->nmounts == 3) {
            is_int(a->mounts[0].flags, MOUNT_OPT_RO, "nodev,ro: a read-only bind");
            is_int(a->mounts[1].flags, MOUNT_OPT_NOEXEC, "tmpfs noexec: the noexec flag");
            is_int(a->mounts[2].flags, MOUNT_OPT_NOEXEC, "bind noexec: the noexec flag only");
        } else {
            ok(0, "profile a has its three mounts");
        }
        policy_free(p);
    }
}

static void test_expansions(void)
{
    refused(
        HEAD "profiles:\n  a:\n    mounts:\n      - {type: tmpfs, target: /t}\n"
             "      - {type: bind, source: /home/%u, target: /t/%x}\n"
             "      - {type: bind, source: \"/home/%\", target: /t/%%}\n"
             "      - {type: symlink, source: \"%\xc3\xa9\", target: /t/%j}\n",
        "t.yaml:7:48: mount target \"/t/%x\" has an unknown expansion \"%x\"; use %u (user "
        "name), %U (uid), %g (primary group name), %j (job id) or %% (a literal %)\n"
        "t.yaml:8:30: bind source \"/home/%\" ends with a lone \"%\"; write %% for a literal %\n"
        "t.yaml:9:33: symlink source \"%\xc3\xa9\" has an unknown expansion \"%\xc3\xa9\"; use "
        "%u (user name), %U (uid), %g (primary group name), %j (job id) or %% (a literal %)",
        "unknown expansions");
    loads(HEAD "profiles:\n  a:\n    mounts:\n      - {type: tmpfs, target: /t}\n"
               "      - {type: bind, source: /home/%u, target: /t/%g-%u-%U-%j-%%}\n"
               "      - {type: symlink, source: \"%u\", target: /t/me}\n",
          "", "every known expansion");
}

static void test_made_in_tmpfs(void)
{
    refused(
        HEAD "profiles:\n  a:\n    mounts:\n"
             "      - {type: tmpfs, target: /ccc}\n"
             "      - {type: bind, source: /usr, target: /ccc/u}\n"
             "      - {type: dir, target: /ccc/u/x}\n"
             "      - {type: symlink, source: u, target: /ccc/l}\n"
             "      - {type: dir, target: /ccc/l/x}\n"
             "      - {type: symlink, source: u, target: /etc/foo}\n"
             "      - {type: tmpfs, target: /ccc/u/t}\n"
             "      - {type: dir, target: /ccc/u/t/ok}\n"
             "      - {type: dir, target: /ccc/ok}\n",
        "t.yaml:8:9: dir target \"/ccc/u/x\" lies inside the bind mount on \"/ccc/u\" (line 7), "
        "which is the host's file system; put it under a tmpfs entry's target instead\n"
        "t.yaml:10:9: dir target \"/ccc/l/x\" lies under the symlink \"/ccc/l\" (line 9); a "
        "path through a symlink is not followed\n"
        "t.yaml:11:9: symlink target \"/etc/foo\" is not inside a tmpfs entry; the "
        "plugin creates nothing on the node's own file systems: add a tmpfs entry for a "
        "parent directory",
        "dir and symlink entries must be made inside a policy tmpfs");
    loads(HEAD "profiles:\n  a:\n    mounts:\n"
               "      - {type: dir, target: /ccc/x}\n"
               "      - {type: tmpfs, target: /ccc}\n",
          "", "a tmpfs listed after a dir inside it is fine: parents are made first");
    loads(HEAD "profiles:\n  b: {mounts: [{type: tmpfs, target: /ccc}]}\n  a:\n"
               "    inherits: b\n    mounts: [{type: dir, target: /ccc/x}]\n",
          "", "a child's dir inside an inherited tmpfs is fine");
    loads(HEAD "profiles:\n  b: {mounts: [{type: tmpfs, target: /ccc}, {type: dir, target: "
               "/ccc/b}]}\n  a:\n    inherits: b\n    mounts: [{type: tmpfs, target: /ccc}, "
               "{type: dir, target: /ccc/a}]\n",
          "", "a child that makes its own tmpfs replaces the parent's");
}

static void test_shadowed(void)
{
    loads(HEAD "profiles:\n  a:\n    mounts:\n"
               "      - {type: bind, source: /usr, target: /opt}\n"
               "      - {type: bind, source: /etc, target: /opt, groups: root}\n"
               "      - {type: bind, source: /etc, target: /srv, groups: root}\n"
               "      - {type: bind, source: /usr, target: /srv}\n",
          "t.yaml:7:9: warning: this entry never applies: the entry at line 6 for the same "
          "target has no groups or users filter, so it always wins; remove one of them",
          "an entry after an unfiltered one for the same target never applies");
}

static void test_anchors_documents_depth(void)
{
    refused(HEAD "allowed_profiles: &x [a]\npartitions: {p: {allowed_profiles: *x}}\n"
                 "profiles: {a: {}}\n",
            "t.yaml:3:19: anchors (&x) are not supported; write the value out in full\n"
            "t.yaml:4:36: aliases (*x) are not supported; write the value out in full",
            "anchors and aliases");
    refused(HEAD "profiles: {a: {}}\n---\nversion: 1\n",
            "t.yaml:4:1: a second YAML document starts here; a policy is one document: remove "
            "this \"---\" and what follows it",
            "two documents");
    refused(HEAD "profiles: !!map {a: {}}\ndefault_profile: !x b\n",
            "t.yaml:3:11: tags (!!map) are not supported; remove it\n"
            "t.yaml:4:1: duplicate key \"default_profile\" (first at line 2, column 1); keep one\n"
            "t.yaml:4:18: tags (!x) are not supported; remove it",
            "tags");

    char deep[256];
    int n = snprintf(deep, sizeof(deep), HEAD "profiles: {a: {env: {A: ");
    for (int i = 0; i < 40; i++)
        deep[n++] = '[';
    deep[n] = '\0';
    refused(deep, "t.yaml:3:53: nested more than 32 levels deep; a policy needs at most 7",
            "nesting deeper than the limit");

    /* A billion laughs stays small: the first alias is refused, nothing is expanded. */
    refused(HEAD "profiles: {a: {}}\nx: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\ny: &b [*a, *a, *a, *a]\n",
            "t.yaml:4:1: unknown key \"x\" in the policy; expected one of: version, "
            "instance_base, on_error, ssh, login, default_profile, allowed_profiles, profiles, partitions\n"
            "t.yaml:4:4: anchors (&a) are not supported; write the value out in full\n"
            "t.yaml:5:1: unknown key \"y\" in the policy; expected one of: version, "
            "instance_base, on_error, ssh, login, default_profile, allowed_profiles, profiles, partitions\n"
            "t.yaml:5:4: anchors (&b) are not supported; write the value out in full\n"
            "t.yaml:5:8: aliases (*a) are not supported; write the value out in full\n"
            "t.yaml:5:12: aliases (*a) are not supported; write the value out in full\n"
            "t.yaml:5:16: aliases (*a) are not supported; write the value out in full\n"
            "t.yaml:5:20: aliases (*a) are not supported; write the value out in full",
            "an alias bomb");
}

static void test_strings(void)
{
    refused(HEAD "profiles:\n  a:\n    env: {\"X\": \"a\\0b\"}\n",
            "t.yaml:5:16: a NUL character (\\0) is not allowed in a value; remove it",
            "a NUL in a value");
    refused(HEAD "profiles:\n  a:\n    env: {X: \"a\\x01b\"}\n",
            "t.yaml:5:14: control character \\x01 in \"a\\x01b\"; remove it",
            "a control character in a value");
    refused(
        HEAD "profiles:\n  a:\n    env: {1X: a, A-B: b, EMPTY: , LIST: [a]}\n",
        "t.yaml:5:11: bad variable name \"1X\": use letters, digits and \"_\", not starting with "
        "a digit\n"
        "t.yaml:5:18: bad variable name \"A-B\": use letters, digits and \"_\", not starting "
        "with a digit\n"
        "t.yaml:5:33: expected a string value for EMPTY, got nothing; write EMPTY: \"\" for "
        "an empty value\n"
        "t.yaml:5:41: expected a string value for LIST, got a list",
        "bad variables");
    refused("version: 1\ndefault_profile: \"a b\"\nprofiles: {\"a b\": {}, -x: {}}\n",
            "t.yaml:3:12: bad profile name \"a b\": use up to 64 letters, digits, \".\", \"_\" and "
            "\"-\", not starting with \".\" or \"-\"\n"
            "t.yaml:3:23: bad profile name \"-x\": use up to 64 letters, digits, \".\", \"_\" and "
            "\"-\", not starting with \".\" or \"-\"",
            "bad profile names");
}

/* Every error is collected, not only the first; past 100 the rest are counted, not shown. */
static void test_many_errors(void)
{
    size_t cap = 64 + 200 * 40;
    char *text = malloc(cap);
    struct diag_list d;
    struct policy *p;
    FILE *devnull;
    size_t n;

    if (!text)
        return;
    n = (size_t)snprintf(text, cap, HEAD "profiles:\n  a:\n    polydirs:\n");
    for (int i = 0; i < 150; i++)
        n += (size_t)snprintf(text + n, cap - n, "      - {path: rel%d}\n", i);
    diag_list_init(&d, "t.yaml");
    p = policy_parse(text, n, "t.yaml", &d);
    ok(!p && d.errors == 101 && d.count == 101, "100 errors shown, then one saying there are more");
    /* diag_print sorts by position; whole-file notes (line 0) come first. */
    if ((devnull = fopen("/dev/null", "w"))) {
        diag_print(&d, devnull);
        fclose(devnull);
    }
    if (d.count)
        is_str(d.v[0].msg, "too many errors: only the first 100 are shown", "...which comes first");
    diag_list_free(&d);
    free(text);
}

/* Every prefix of a valid policy is parsed without a crash (run under valgrind and ASan too). */
static void test_prefixes(void)
{
    size_t len = strlen(example), refusedn = 0;

    for (size_t i = 0; i < len; i++) {
        struct diag_list d;
        struct policy *p;
        diag_list_init(&d, "t.yaml");
        p = policy_parse(example, i, "t.yaml", &d);
        refusedn += p == NULL;
        if (!p && d.errors == 0)
            diag("prefix %zu refused without an error", i);
        policy_free(p);
        diag_list_free(&d);
    }
    ok(refusedn > 0, "every prefix of the example parses or is refused with a reason");
}

static void test_load(void)
{
    char dir[] = "/tmp/test-policy-XXXXXX", path[64], link[64];
    struct diag_list d;
    struct policy *p;
    char line[512];
    FILE *f;

    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
        return;
    }
    snprintf(path, sizeof(path), "%s/p.yaml", dir);
    snprintf(link, sizeof(link), "%s/link.yaml", dir);
    if ((f = fopen(path, "w"))) {
        fputs(example, f);
        fclose(f);
    }
    diag_list_init(&d, path);
    p = policy_load(path, &d);
    ok(p && d.count == 0, "policy_load reads a file");
    policy_free(p);
    diag_list_free(&d);

    ok(symlink("p.yaml", link) == 0, "symlink to the policy");
    diag_list_init(&d, link);
    p = policy_load(link, &d);
    ok(p != NULL, "a symlinked policy is read (admins may symlink it)");
    policy_free(p);
    diag_list_free(&d);

    diag_list_init(&d, "missing.yaml");
    p = policy_load("/nonexistent/missing.yaml", &d);
    ok(!p && d.count == 1, "a missing file is an error");
    if (d.count) {
        diag_format(&d, 0, line, sizeof(line));
        is_str(line, "missing.yaml: cannot open the policy: No such file or directory",
               "...naming the cause");
    }
    diag_list_free(&d);

    diag_list_init(&d, dir);
    p = policy_load(dir, &d);
    ok(!p && d.count == 1 && strcmp(d.v[0].msg, "the policy is not a regular file") == 0,
       "a directory is refused");
    diag_list_free(&d);

    if (truncate(path, POLICY_MAX_BYTES + 10) == 0) {
        diag_list_init(&d, "big");
        p = policy_load(path, &d);
        ok(!p && d.count == 1 &&
               strcmp(d.v[0].msg, "the policy is 1048586 bytes, more than the 1 MiB limit "
                                  "(1048576 bytes); is this the right file?") == 0,
           "a file over 1 MiB is refused before it is read");
        diag_list_free(&d);
    }
    unlink(link);
    unlink(path);
    rmdir(dir);
}

static void test_lint(void)
{
    const char *text =
        HEAD "allowed_profiles: [a]\n"
             "profiles:\n"
             "  base: {mounts: [{type: tmpfs, target: /nonexistent-xyz}]}\n"
             "  a:\n"
             "    inherits: base\n"
             "    mounts:\n"
             "      - {type: bind, source: /nonexistent/src, target: /usr, groups: "
             "\"nosuchgroup-xyz,root\"}\n"
             "      - {type: bind, source: /usr, target: /nonexistent-xyz/in-tmpfs, users: "
             "[nosuchuser-xyz, root]}\n"
             "      - {type: bind, source: /home/%u, target: /etc, groups: [nosuchgroup-xyz]}\n"
             "  unused: {}\n";
    struct diag_list d;
    struct policy *p;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    diag_list_init(&d, "t.yaml");
    p = policy_parse(text, strlen(text), "t.yaml", &d);
    ok(p != NULL, "lint: the policy is valid");
    policy_lint(p, &d);
    if ((f = open_memstream(&buf, &len))) {
        diag_print(&d, f);
        fclose(f);
    }
    is_str(buf,
           "t.yaml:5:19: warning: mount target \"/nonexistent-xyz\" does not exist on this host "
           "and is not inside a tmpfs entry; create it on every node, or add a tmpfs entry for a "
           "parent directory (the plugin creates nothing on the host)\n"
           "t.yaml:9:9: warning: bind source \"/nonexistent/src\" does not exist on this host; "
           "create it on every node or correct the path\n"
           "t.yaml:9:70: warning: group \"nosuchgroup-xyz\" is not known on this host (used 2 "
           "times; this is the first); check the name, or ignore this on hosts that do not see "
           "the cluster's groups\n"
           "t.yaml:10:78: warning: user \"nosuchuser-xyz\" is not known on this host; check the "
           "name, or ignore this on hosts that do not see the cluster's users\n"
           "t.yaml:12:3: warning: profile \"unused\" is not allowed anywhere: no allowed_profiles "
           "lists it, login: does not give it, and no allowed profile inherits from it; allow it "
           "or remove it\n",
           "lint: unknown names once each, missing paths, unused profiles; parents and %%-paths "
           "are fine");
    free(buf);
    ok(d.errors == 0 && d.warnings == 5, "lint adds warnings only");
    policy_free(p);
    diag_list_free(&d);
}

static void test_lint_clean(void)
{
    const char *text =
        "version: 1\ndefault_profile: a\nallowed_profiles: [a, b]\nprofiles:\n"
        "  a:\n    mounts:\n"
        "      - {type: tmpfs, target: /mnt}\n"
        "      - {type: bind, source: /usr, target: /mnt/usr, groups: \"~root,users\"}\n"
        "      - {type: bind, source: /etc, target: /opt, users: root, groups: [daemon]}\n"
        "      - {type: dir, target: /mnt/x}\n"
        "  b: {inherits: a}\n";
    struct diag_list d;
    struct policy *p;

    diag_list_init(&d, "t.yaml");
    p = policy_parse(text, strlen(text), "t.yaml", &d);
    policy_lint(p, &d);
    ok(p && d.count == 0, "lint: names and paths every Debian host has give no warning");
    for (size_t i = 0; i < d.count; i++)
        diag("%s", d.v[i].msg);
    policy_free(p);
    diag_list_free(&d);
}

/* Not a benchmark (see bench/): a large policy loads, and how long it took is shown. */
static void test_large(void)
{
    size_t cap = 200 + 1000 * 120;
    char *text = malloc(cap);
    struct timespec t0, t1;
    struct diag_list d;
    struct policy *p;
    size_t n;

    if (!text)
        return;
    n = (size_t)snprintf(text, cap,
                         HEAD "profiles:\n  a:\n    mounts:\n"
                              "      - {type: tmpfs, target: /ccc}\n");
    for (int i = 0; i < 999; i++)
        n += (size_t)snprintf(text + n, cap - n,
                              i % 3 ? "      - {type: bind, source: /src/%d, target: /ccc/%d, "
                                      "groups: g%d}\n"
                                    : "      - {type: dir, target: /ccc/dir%d/d%d, groups: g%d}\n",
                              i, i / 2, i);
    diag_list_init(&d, "t.yaml");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    p = policy_parse(text, n, "t.yaml", &d);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ok(p && p->profiles[0].nmounts == 1000, "a profile of 1000 mounts loads");
    diag("1000 mounts: %.2f ms",
         (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    policy_free(p);
    diag_list_free(&d);
    free(text);
}

int main(void)
{
    test_defaults();
    test_example_model();
    test_sizes();
    test_disk_sizes();
    test_views();
    test_names();
    test_none();
    test_not_yaml();
    test_tabs();
    test_big();
    test_version();
    test_unknown_keys();
    test_types();
    test_duplicates();
    test_references();
    test_cycles();
    test_paths();
    test_polydirs();
    test_instance_base();
    test_node_base();
    test_bad_sizes();
    test_filters();
    test_mount_entries();
    test_expansions();
    test_made_in_tmpfs();
    test_shadowed();
    test_anchors_documents_depth();
    test_strings();
    test_many_errors();
    test_prefixes();
    test_load();
    test_lint();
    test_lint_clean();
    test_large();
    test_login();
    test_hostlists();
    test_login_hosts();
    test_login_hosts_errors();
    return done_testing();
}
