/* isolationctl: validate an isolation policy and show what a user would get (isolationctl(1)). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "util/util.h"
#include "job/job.h"
#include "plan/plan.h"
#include "policy/policy.h"

#define EXIT_INVALID 1
#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fprintf(out, "Usage: isolationctl check [FILE]\n"
                 "       isolationctl explain [--policy FILE] --user NAME [--groups G1,G2]\n"
                 "                            [--partition P] [--profile X] [--job-id N]\n"
                 "                            [--uid N] [--mem SIZE] [--json]\n"
                 "       isolationctl explain [--policy FILE] --login NAME [--host HOST]\n"
                 "                            [--groups G1,G2] [--uid N] [--mem SIZE]\n"
                 "       isolationctl prolog|epilog [--policy FILE]   (Slurm's Prolog/Epilog)\n"
                 "       isolationctl sweep [--policy FILE]   (remove what ended jobs left)\n"
                 "       isolationctl import [--namespace-conf FILE] [--namespace-d DIR]\n"
                 "                           [--fstab-user FILE] [-o FILE]\n"
                 "FILE defaults to " POLICY_DEFAULT_PATH ". See isolationctl(1).\n");
}

/* Load PATH; on failure print every diagnostic and return NULL. */
static struct policy *load_or_report(const char *path, struct diag_list *d)
{
    struct policy *p = policy_load(path, d);

    if (!p)
        diag_print(d, stderr);
    return p;
}

static int cmd_check(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : POLICY_DEFAULT_PATH;
    struct diag_list d;
    struct policy *p;
    int rc;

    if (argc > 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    diag_list_init(&d, path);
    p = policy_load(path, &d);
    if (p)
        policy_lint(p, &d);
    diag_print(&d, stderr);
    /* The host checks' errors (a hidden path others could rename) fail the check too. */
    rc = p && d.errors == 0 ? 0 : EXIT_INVALID;
    diag_list_free(&d);
    policy_free(p);
    return rc;
}

/* What explain was asked about; names and groups are borrowed from argv or NSS copies. */
struct explain_args {
    const char *policy;
    const char *user;
    char *groups; /* comma list, owned */
    const char *partition;
    const char *profile;
    const char *uid;
    const char *job_id;
    const char *mem;
    const char *host; /* --login: the login node; NULL: this host */
    int json;
    int login; /* --login: a login session of USER, not a job */
    int groups_given;
};

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;

    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    switch (*end) {
    case 'T':
    case 't':
        n *= 1024; /* fall through */
    case 'G':
    case 'g':
        n *= 1024; /* fall through */
    case 'M':
    case 'm':
        n *= 1024; /* fall through */
    case 'K':
    case 'k':
        n *= 1024;
        end++;
        break;
    }
    if (*end)
        return -1;
    *v = n;
    return 0;
}

/* Group names of USER from NSS, primary first, as a comma list. */
static char *nss_groups(const struct passwd *pw)
{
    int n = 0;
    gid_t *gids = identity_gids(pw->pw_name, pw->pw_gid, &n);
    char *out = NULL;
    size_t len = 0;

    if (!gids)
        return NULL;
    /* A group NSS cannot name is shown by number: explain describes, it does not decide. */
    for (int i = 0; i < n; i++) {
        struct group *gr = getgrgid(gids[i]);
        char num[32];
        const char *name = gr ? gr->gr_name : (snprintf(num, sizeof(num), "%u", gids[i]), num);
        char *o = realloc(out, len + strlen(name) + 2);
        if (!o)
            goto out;
        out = o;
        len += sprintf(out + len, "%s%s", len ? "," : "", name);
    }
out:
    free(gids);
    return out;
}

static size_t split_commas(char *s, const char **v, size_t max)
{
    size_t n = 0;

    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
        v[n++] = tok;
    return n;
}

static int fill_identity(struct explain_args *a, struct job_identity *id, const char **groups,
                         size_t max)
{
    struct passwd *pw = getpwnam(a->user);
    uint64_t n;

    id->user = a->user;
    if (pw) {
        id->uid = pw->pw_uid;
        id->gid = pw->pw_gid;
        if (!a->groups && !(a->groups = nss_groups(pw)))
            return -1;
    } else if (!a->groups || !a->uid) {
        char buf[1024];
        fprintf(stderr, "isolationctl: user \"%s\" is unknown here; give --uid and --groups\n",
                esc_ctl(buf, sizeof(buf), a->user));
        return -1;
    }
    if (a->uid) {
        if (parse_u64(a->uid, &n) < 0)
            goto bad;
        id->uid = n;
    }
    if (a->job_id) {
        if (parse_u64(a->job_id, &n) < 0 || n > UINT32_MAX)
            goto bad;
        id->job_id = n;
    }
    if (a->mem && parse_u64(a->mem, &id->mem_bytes) < 0)
        goto bad;
    id->node_mem_bytes = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    id->ngroups = split_commas(a->groups, groups, max);
    id->groups = groups;
    id->group = id->ngroups ? groups[0] : NULL;
    return 0;
bad:
    fprintf(stderr, "isolationctl: --uid, --job-id and --mem take numbers (--mem also 512M, 8G)\n");
    return -1;
}

/* Names from the command line and NSS are shown with their control bytes escaped. */
static void print_header(const struct explain_args *a, const struct job_identity *id)
{
    char buf[1024];

    printf("user %s (uid %lu), groups ", esc_ctl(buf, sizeof(buf), id->user),
           (unsigned long)id->uid);
    for (size_t i = 0; i < id->ngroups; i++)
        printf("%s%s", i ? "," : "", esc_ctl(buf, sizeof(buf), id->groups[i]));
    printf("; partition %s; job %" PRIu32 "\n",
           a->partition ? esc_ctl(buf, sizeof(buf), a->partition)
                        : "(none given: the global lists apply)",
           id->job_id);
}

static int run_explain(struct explain_args *a)
{
    struct diag_list d;
    struct policy *p;
    struct job_identity id = {0};
    const char *groups[1024];
    const char *profile;
    struct plan *plan = NULL;
    struct err e;
    int rc = EXIT_INVALID;

    diag_list_init(&d, a->policy);
    if (!(p = load_or_report(a->policy, &d)))
        goto out;
    if (fill_identity(a, &id, groups, 1024) < 0) {
        rc = EXIT_USAGE;
        goto out;
    }
    if (profile_resolve(p, a->partition ? a->partition : "", a->profile, &profile, &e) < 0 ||
        plan_build(p, profile, &id, &plan, &e) < 0) {
        fprintf(stderr, "isolationctl: %s\n", e.text);
        goto out;
    }
    if (a->json) {
        plan_print_json(plan, stdout);
    } else {
        print_header(a, &id);
        plan_print_text(plan, a->policy, stdout);
    }
    rc = 0;
out:
    plan_free(plan);
    policy_free(p);
    diag_list_free(&d);
    return rc;
}

/* --- explain --login: what a login session gets (pam_isolation mode=login) ------------------- */

/* --login and the job's options do not go together; --host needs --login. */
static bool explain_args_fit(const struct explain_args *a)
{
    if (a->login && (a->partition || a->profile || a->job_id || a->json)) {
        fprintf(stderr,
                "isolationctl: --login takes no --partition, --profile, --job-id or "
                "--json: a login session gets the profile of the policy's login: section\n");
        return false;
    }
    if (!a->login && a->host) {
        fprintf(stderr, "isolationctl: --host goes with --login NAME (a login session)\n");
        return false;
    }
    return true;
}

/* Who, on which host, and which part of login: applies there. */
static void print_login_header(const struct explain_args *a, const struct policy *p,
                               const struct job_identity *id, const struct job_login_decision *d)
{
    char buf[1024];

    printf("login session of user %s (uid %lu), groups ", esc_ctl(buf, sizeof(buf), id->user),
           (unsigned long)id->uid);
    for (size_t i = 0; i < id->ngroups; i++)
        printf("%s%s", i ? "," : "", esc_ctl(buf, sizeof(buf), id->groups[i]));
    printf("; host %s\n", d->host[0] ? esc_ctl(buf, sizeof(buf), d->host) : "(unknown)");
    if (d->on.group)
        printf("login: host group %zu (hosts %s) applies  [%s:%d]\n", d->on.group_index + 1,
               esc_ctl(buf, sizeof(buf), d->on.group->hosts), a->policy, d->on.group->loc.line);
    else
        printf("login: no host group names this host; login:'s own keys apply  [%s:%d]\n",
               a->policy, p->login.loc.line);
}

/* The session's namespace: the user's, or its own. */
static void print_login_sessions(const struct job_login_decision *d, uid_t uid)
{
    uint32_t id;
    struct err e;

    if (d->on.private_sessions)
        printf("sessions: private (each session its own namespace, store id 0xC0000000 | the "
               "session's pid)\n");
    else if (job_login_id(d, uid, 0, &id, &e) == 0)
        printf("sessions: shared (one namespace for all of the user's sessions, store id %" PRIu32
               ")\n",
               id);
}

/* The decision, as pam_isolation mode=login takes it: from NSS's groups unless --groups. */
static int decide_login(struct explain_args *a, const struct policy *p, struct job_identity *id,
                        const char **groups, struct job_login_decision *d)
{
    struct passwd *pw = getpwnam(a->user);
    bool known = pw != NULL;
    gid_t gid = pw ? pw->pw_gid : 0;

    if (fill_identity(a, id, groups, 1024) < 0)
        return -1;
    if (known && !a->groups_given)
        job_login_decide_nss(p, a->host, a->user, id->uid, gid, d);
    else
        job_login_decide(p, a->host, a->user, id->uid, groups, id->ngroups, d);
    return 0;
}

static int run_explain_login(struct explain_args *a)
{
    struct diag_list d;
    struct policy *p;
    struct job_identity id = {0};
    struct job_login_decision ld;
    const char *groups[1024];
    struct plan *plan = NULL;
    struct err e;
    int rc = EXIT_INVALID;

    diag_list_init(&d, a->policy);
    if (!(p = load_or_report(a->policy, &d)))
        goto out;
    if (!p->login.present) {
        fprintf(stderr,
                "isolationctl: the policy has no login: section, so pam_isolation mode=login "
                "refuses every session; add one (isolation.yaml(5))\n");
        goto out;
    }
    if (decide_login(a, p, &id, groups, &ld) < 0) {
        rc = EXIT_USAGE;
        goto out;
    }
    print_login_header(a, p, &id, &ld);
    if (ld.exempt) {
        printf("exempt (%s): the session keeps the node's view\n", ld.exempt);
        rc = 0;
        goto out;
    }
    job_login_id(&ld, id.uid, 0, &id.job_id, &e);
    if (plan_build(p, ld.on.profile, &id, &plan, &e) < 0) {
        fprintf(stderr, "isolationctl: %s\n", e.text);
        goto out;
    }
    if (plan->isolate) {
        print_login_sessions(&ld, id.uid);
        plan_print_text(plan, a->policy, stdout);
    } else {
        printf("profile: %s\n  no isolation: the session keeps the node's view\n", plan->profile);
    }
    rc = 0;
out:
    plan_free(plan);
    policy_free(p);
    diag_list_free(&d);
    return rc;
}

/* Where the value of explain's option C goes, for the options that only take a string. */
static const char **explain_field(struct explain_args *a, int c)
{
    switch (c) {
    case 'f':
        return &a->policy;
    case 'u':
        return &a->user;
    case 'p':
        return &a->partition;
    case 'P':
        return &a->profile;
    case 'j':
        return &a->job_id;
    case 'U':
        return &a->uid;
    case 'm':
        return &a->mem;
    case 'H':
        return &a->host;
    default:
        return NULL;
    }
}

/* Fill A from explain's options; returns -1 to go on, else the exit code. */
static int parse_explain(int argc, char **argv, struct explain_args *a)
{
    static const struct option opts[] = {{"policy", required_argument, NULL, 'f'},
                                         {"user", required_argument, NULL, 'u'},
                                         {"groups", required_argument, NULL, 'g'},
                                         {"partition", required_argument, NULL, 'p'},
                                         {"profile", required_argument, NULL, 'P'},
                                         {"job-id", required_argument, NULL, 'j'},
                                         {"uid", required_argument, NULL, 'U'},
                                         {"mem", required_argument, NULL, 'm'},
                                         {"json", no_argument, NULL, 'J'},
                                         {"login", required_argument, NULL, 'L'},
                                         {"host", required_argument, NULL, 'H'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char **field;
    int c;

    while ((c = getopt_long(argc, argv, "f:u:g:p:P:j:U:m:JL:H:h", opts, NULL)) != -1) {
        if ((field = explain_field(a, c))) {
            *field = optarg;
            continue;
        }
        switch (c) {
        case 'g':
            free(a->groups);
            a->groups = strdup(optarg);
            a->groups_given = 1;
            break;
        case 'L':
            a->user = optarg;
            a->login = 1;
            break;
        case 'J':
            a->json = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    return -1;
}

static int cmd_explain(int argc, char **argv)
{
    struct explain_args a = {.policy = POLICY_DEFAULT_PATH};
    int rc = parse_explain(argc, argv, &a);

    if (rc >= 0) {
        free(a.groups);
        return rc;
    }
    if (!a.user || optind != argc || !explain_args_fit(&a)) {
        usage(stderr);
        free(a.groups);
        return EXIT_USAGE;
    }
    rc = a.login ? run_explain_login(&a) : run_explain(&a);
    free(a.groups);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (strcmp(argv[1], "explain") == 0)
        return cmd_explain(argc - 1, argv + 1);
    if (strcmp(argv[1], "prolog") == 0 || strcmp(argv[1], "epilog") == 0)
        return cmd_script(argc - 1, argv + 1);
    if (strcmp(argv[1], "sweep") == 0)
        return cmd_sweep(argc - 1, argv + 1);
    if (strcmp(argv[1], "import") == 0)
        return cmd_import(argc - 1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    char buf[1024];
    fprintf(stderr, "isolationctl: unknown command \"%s\"\n", esc_ctl(buf, sizeof(buf), argv[1]));
    usage(stderr);
    return EXIT_USAGE;
}
