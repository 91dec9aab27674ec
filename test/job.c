/* The job module: who a job runs as (NSS), the policy's trust check, the decision's building
 * blocks, and a step (or PAM session) following a job's record in a temporary store. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job/job.h"
#include "testfs.h"

#define OTHER_UID 1234
#define UNKNOWN_ID 3999999999UL

static char D[256], base[512];

/* What the job module logged last, and how often it warned. */
static char logged[2048];
static int warnings;

static void capture(enum log_level level, const char *msg, void *arg)
{
    snprintf(logged, sizeof(logged), "%s", msg);
    warnings += level == LOG_LEVEL_WARN;
}

static bool has_duplicates(const struct identity *b)
{
    for (size_t i = 0; i < b->nnames; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(b->names[i], b->names[j]) == 0)
                return true;
    return false;
}

static void test_identity_root(void)
{
    struct identity b;
    struct err e;
    int n = 0;
    gid_t *gids;

    ok(identity_lookup(&b, 0, 0, 42, &e) == 0, "root is found in NSS");
    is_str(b.id.user, "root", "...by name");
    is_str(b.id.group, "root", "...its primary group first");
    ok(b.id.ngroups >= 1 && b.id.groups == (const char *const *)b.names && !has_duplicates(&b),
       "...its groups listed once each (%zu)", b.id.ngroups);
    ok(b.id.uid == 0 && b.id.gid == 0 && b.id.job_id == 42 && b.id.mem_bytes == 0 &&
           b.id.node_mem_bytes > 0,
       "...with its ids, the job's id and the node's memory");
    identity_free(&b);
    ok(b.names == NULL && b.nnames == 0, "identity_free leaves nothing behind");
    gids = identity_gids("root", 0, &n);
    ok(gids && n >= 1 && gids[0] == 0, "identity_gids puts the given group first");
    free(gids);
}

/* The job's group (Slurm's gid) comes first even when it is not the user's primary group. */
static void test_identity_other_group(void)
{
    struct passwd *pw = getpwnam("nobody");
    struct group *gr = getgrnam("daemon");
    struct identity b;
    struct err e;

    if (!pw || !gr) {
        skip("no user nobody or group daemon here");
        return;
    }
    gid_t gid = gr->gr_gid;
    ok(identity_lookup(&b, pw->pw_uid, gid, 7, &e) == 0, "nobody is found, with group daemon");
    is_str(b.id.user, "nobody", "...by name");
    is_str(b.id.group, "daemon", "...the job's group first, not the primary one");
    ok(!has_duplicates(&b), "...each group once");
    identity_free(&b);
}

static void test_identity_unknown(void)
{
    struct identity b;
    struct err e;
    char want[256];

    if (getpwuid(UNKNOWN_ID) || getgrgid(UNKNOWN_ID)) {
        skip("uid or gid 3999999999 exists here");
        return;
    }
    ok(identity_lookup(&b, UNKNOWN_ID, 0, 1, &e) < 0, "an unknown uid is refused");
    is_str(e.text, "uid 3999999999 is unknown to NSS on this node", "...saying so");
    identity_free(&b);
    ok(identity_lookup(&b, 0, UNKNOWN_ID, 1, &e) < 0,
       "a group that cannot be named fails the lookup (it could decide a group filter)");
    snprintf(want, sizeof(want), "group %lu of user root cannot be looked up in NSS", UNKNOWN_ID);
    ok(strncmp(e.text, want, strlen(want)) == 0 &&
           strstr(e.text, "; the job's group filters cannot be decided"),
       "...naming the group and the user");
    diag("%s", e.text);
    identity_free(&b);
}

static void test_resize_share(void)
{
    is_int(resize_share(8ULL << 30, 50), 4ULL << 30, "50%% of 8 GiB is 4 GiB");
    is_int(resize_share(10000000, 10), 999424, "a share is rounded down to a page");
    is_int(resize_share(1000, 1), 4096, "...and is at least one page");
    is_int(resize_share(0, 100), 4096, "...even of nothing");
    ok(resize_share(UINT64_MAX, 100) == (UINT64_MAX & ~(uint64_t)4095),
       "100%% of the largest size does not overflow");
    ok(resize_share(UINT64_MAX, 99) < resize_share(UINT64_MAX, 100), "...and 99%% of it is less");
}

static void test_env_strings(void)
{
    struct plan_env env[] = {{"TMPDIR", "/tmp", 1}, {"X", "a=b", 2}, {"EMPTY", "", 3}};
    struct plan plan = {.env = env, .nenv = 3};
    struct plan none = {0};
    char **v = job_env_strings(&plan);

    ok(v != NULL, "the plan's environment as strings");
    is_str(v[0], "TMPDIR=/tmp", "...NAME=VALUE");
    is_str(v[1], "X=a=b", "...a value may hold '='");
    is_str(v[2], "EMPTY=", "...or be empty");
    ok(v[3] == NULL, "...NULL-terminated");
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
    v = job_env_strings(&none);
    ok(v && v[0] == NULL, "no environment: an empty list");
    free(v);
}

static void test_node_fault(void)
{
    ok(job_is_node_fault(EIO) && job_is_node_fault(EROFS), "I/O errors and a read-only file "
                                                           "system drain the node");
    ok(!job_is_node_fault(ENOSPC) && !job_is_node_fault(EDQUOT),
       "a full disk or quota does not (users fill it themselves)");
    ok(!job_is_node_fault(EACCES) && !job_is_node_fault(0), "nor does anything else");
}

/* A policy in its own directory DIR (mode DMODE, owner DUID) as FILE (mode FMODE, owner FUID). */
static void make_policy(const char *dir, mode_t dmode, uid_t duid, mode_t fmode, uid_t fuid,
                        char *path, size_t size)
{
    char text[1024];

    snprintf(path, size, "%s/%s", D, dir);
    mkdir(path, 0700);
    must(chmod(path, dmode));
    must(chown(path, duid, 0));
    snprintf(path, size, "%s/%s/isolation.yaml", D, dir);
    snprintf(text, sizeof(text),
             "version: 1\ninstance_base: %s\ndefault_profile: strict\n"
             "profiles:\n  strict:\n    polydirs: [{path: /tmp}]\n    env: {A: b}\n",
             base);
    must(write_file(path, text));
    must(chmod(path, fmode));
    must(chown(path, fuid, 0));
}

static void expect_untrusted(const char *dir, mode_t dmode, uid_t duid, mode_t fmode, uid_t fuid,
                             const char *what)
{
    char path[512], want[1024];
    struct policy *p;
    struct err e;

    make_policy(dir, dmode, duid, fmode, fuid, path, sizeof(path));
    snprintf(want, sizeof(want),
             "the isolation policy %s is not trusted: it and its directory must be owned by "
             "root and writable by root only (chown root; chmod go-w)",
             path);
    ok(job_policy_check_trust(path, &e) < 0, "the policy is refused: %s", what);
    is_str(e.text, want, "...with the fix in the message");
    e.text[0] = '\0';
    p = job_policy_load(path, &e);
    ok(p == NULL && strcmp(e.text, want) == 0, "...and not loaded");
    policy_free(p);
}

static void test_trust(void)
{
    char path[512];
    struct policy *p;
    struct err e;

    make_policy("good", 0755, 0, 0644, 0, path, sizeof(path));
    ok(job_policy_check_trust(path, &e) == 0, "a policy root owns and alone writes is trusted");
    p = job_policy_load(path, &e);
    ok(p && strcmp(p->instance_base, base) == 0, "...and loaded");
    policy_free(p);
    expect_untrusted("user-file", 0755, 0, 0644, OTHER_UID, "a file a user owns");
    expect_untrusted("group-file", 0755, 0, 0664, 0, "a group-writable file");
    expect_untrusted("world-file", 0755, 0, 0646, 0, "a world-writable file");
    expect_untrusted("user-dir", 0755, OTHER_UID, 0644, 0, "in a directory a user owns");
    expect_untrusted("open-dir", 0777, 0, 0644, 0, "in a world-writable directory");
    snprintf(path, sizeof(path), "%s/good/missing.yaml", D);
    ok(job_policy_check_trust(path, &e) == 0, "a missing policy is left to the loader");
    p = job_policy_load(path, &e);
    ok(!p && strncmp(e.text, "the isolation policy is invalid: ", 33) == 0,
       "...which says it is invalid");
    diag("%s", e.text);
}

/* Record job JOB_ID's decision as its prolog would, set up from the mount namespace HOST_NS. */
static void record_from(uint32_t job_id, uid_t uid, const char *profile, const char *error,
                        bool isolated, const char *host_ns);

static void record(uint32_t job_id, uid_t uid, const char *profile, const char *error,
                   bool isolated)
{
    record_from(job_id, uid, profile, error, isolated, "");
}

static void record_from(uint32_t job_id, uid_t uid, const char *profile, const char *error,
                        bool isolated, const char *host_ns)
{
    struct instance_store *s;
    struct instance_job job;
    char *env[] = {"A=recorded", NULL};
    struct job_state st = {.uid = uid, .gid = 0, .isolated = isolated, .env = env};
    struct err e;

    snprintf(st.profile, sizeof(st.profile), "%s", profile);
    snprintf(st.error, sizeof(st.error), "%s", error ? error : "");
    snprintf(st.host_ns, sizeof(st.host_ns), "%s", host_ns);
    s = instance_store_open(base, true, &e);
    must(s ? 0 : -1);
    must(instance_store_lock(s, &e));
    must(instance_job_open(s, job_id, true, &job, &e));
    must(instance_state_write(&job, &st, &e));
    instance_job_close(&job);
    instance_store_unlock(s);
    instance_store_close(s);
}

static bool recorded(uint32_t job_id)
{
    struct err e;
    struct instance_store *s = instance_store_open(base, false, &e);
    bool there = s && instance_job_exists(s, job_id);

    instance_store_close(s);
    return there;
}

/* A step (or a PAM session) of job JOB_ID as UID, asking for PROFILE. */
static int open_session(struct job_session *js, const char *policy, uint32_t job_id, uid_t uid,
                        const char *profile, struct err *e)
{
    struct job_request r = {.job_id = job_id, .uid = uid, .gid = 0, .profile = profile};

    e->text[0] = '\0';
    return job_session_open(js, policy, &r, e);
}

/* The record decides what a step does, and a record that is not the job's is never followed. */
static void test_records(const char *policy)
{
    struct job_session js;
    struct err e;

    record(70, 0, "strict", "the isolation policy is invalid: x", false);
    ok(open_session(&js, policy, 70, 0, NULL, &e) < 0, "a recorded error stops the job's tasks");
    is_str(e.text, "the isolation policy is invalid: x", "...with the prolog's message");
    job_session_close(&js);

    record(71, 0, "none", NULL, false);
    ok(open_session(&js, policy, 71, 0, NULL, &e) == 0 && !js.isolate,
       "a job recorded without isolation runs without it");
    ok(js.state.env && strcmp(js.state.env[0], "A=recorded") == 0, "...with the recorded env");
    job_session_close(&js);

    record(72, 0, "none", NULL, false);
    ok(open_session(&js, policy, 72, 0, "strict", &e) < 0, "a step asking for another profile "
                                                           "is refused");
    is_str(e.text,
           "this step asks for isolation profile \"strict\" but the job runs with \"none\": the "
           "profile belongs to the job; submit a new job to change it",
           "...saying the profile belongs to the job");
    job_session_close(&js);

    warnings = 0;
    record(73, OTHER_UID, "none", NULL, false);
    ok(open_session(&js, policy, 73, 0, NULL, &e) == 0 && js.state.uid != OTHER_UID,
       "a record of another uid is not followed (a reused job id)");
    ok(!recorded(73) && warnings == 1, "...it is removed, with a warning");
    is_str(logged, "job 73: removed what an earlier job with this id left", "...saying so");
    ok(js.isolate && js.plan && js.nsfd < 0, "...and the job is planned here, from the policy");
    ok(js.state.env && strcmp(js.state.env[0], "A=b") == 0, "...with the plan's env");
    job_session_close(&js);
    ok(js.plan == NULL && js.policy == NULL && js.nsfd == -1, "closing leaves nothing open");

    /* Set up from another mount namespace than this one: as when Slurm's own namespace plugin
     * has put the step in the job's namespace of its own. */
    record_from(74, 0, "strict", NULL, true, "1:2");
    ok(open_session(&js, policy, 74, 0, NULL, &e) == 0 && js.isolate,
       "a job set up from another mount namespace opens");
    ok(job_session_enter(&js, &e) < 0 && strstr(e.text, "another namespace plugin of Slurm's"),
       "...but its tasks are refused: another namespace plugin is active");
    diag("%s", e.text);
    job_session_close(&js);
}

/* No record (no prolog ran): the step plans from what it knows, as the user it runs as. */
static void test_no_record(const char *policy)
{
    struct job_session js;
    struct err e;

    ok(open_session(&js, policy, 80, 0, NULL, &e) == 0 && js.isolate && js.plan,
       "without a record the job is planned here");
    is_str(js.plan ? js.plan->profile : NULL, "strict", "...with the default profile");
    job_session_close(&js);
    ok(open_session(&js, policy, 80, 0, "nosuch", &e) < 0 && strstr(e.text, "nosuch"),
       "...and an unknown profile is refused");
    diag("%s", e.text);
    job_session_close(&js);
    if (!getpwuid(UNKNOWN_ID)) {
        ok(open_session(&js, policy, 81, UNKNOWN_ID, NULL, &e) < 0, "so is an unknown user");
        is_str(e.text, "uid 3999999999 is unknown to NSS on this node", "...saying so");
        job_session_close(&js);
    }
    ok(open_session(&js, "/nonexistent/isolation.yaml", 82, 0, NULL, &e) < 0 &&
           strncmp(e.text, "the isolation policy is invalid: ", 33) == 0,
       "a policy that cannot be read stops the job's tasks");
    job_session_close(&js);
}

/* Two slurmds on one host: a base naming the node (%n) is each node's own, and one node's
 * epilog leaves the other's instances of the same job alone. */
static int lookups;

static const char *lookup_n3(uint32_t job_id, char *buf, size_t size)
{
    lookups++;
    snprintf(buf, size, "n3");
    return buf;
}

/* A step asks for its node's name only when the base names the node: the lookup reads
 * /proc/net/unix, which a step should not pay for otherwise. NODES is a policy with %n. */
static void test_node_lookup(const char *nodes)
{
    struct job_request r = {.job_id = 90, .uid = 0, .gid = 0, .node_lookup = lookup_n3};
    struct job_session js;
    char plain[600], want[700];
    struct err e;

    lookups = 0;
    ok(job_session_open(&js, nodes, &r, &e) == 0, "a step of a job under a %%n base opens");
    snprintf(want, sizeof(want), "%s/n3", base);
    ok(lookups == 1 && js.policy && strcmp(js.policy->instance_base, want) == 0,
       "...asks for its node's name once, and gets that node's base");
    job_session_close(&js);
    snprintf(plain, sizeof(plain), "%s/good/isolation.yaml", D);
    lookups = 0;
    ok(job_session_open(&js, plain, &r, &e) == 0 && lookups == 0,
       "under a base that does not name the node, the name is never looked up");
    job_session_close(&js);
}

static void test_node_base(void)
{
    char path[512], text[1024], name[256], want[1024];
    struct instance_store *s1, *s2;
    struct policy *p, *p2;
    struct err e;

    snprintf(path, sizeof(path), "%s/good/nodes.yaml", D);
    snprintf(text, sizeof(text),
             "version: 1\ninstance_base: %s/%%n\ndefault_profile: strict\n"
             "profiles:\n  strict:\n    polydirs: [{path: /tmp}]\n",
             base);
    must(write_file(path, text));
    must(chmod(path, 0644));
    ok(job_node_name("n1", name, sizeof(name)) == 0 && strcmp(name, "n1") == 0,
       "the node's name as Slurm gives it");
    ok(job_node_name(NULL, name, sizeof(name)) == 0 && name[0] && !strchr(name, '.'),
       "without it, the short host name (%s)", name);
    p = job_policy_load_node(path, "n1", &e);
    snprintf(want, sizeof(want), "%s/n1", base);
    ok(p && strcmp(p->instance_base, want) == 0, "%%n in instance_base is the node's name");
    p2 = job_policy_load_node(path, "n2", &e);
    snprintf(want, sizeof(want), "%s/n2", base);
    ok(p2 && strcmp(p2->instance_base, want) == 0, "...another node's for another node");
    ok(job_policy_load_node(path, "../x", &e) == NULL &&
           strstr(e.text, "this node's name \"../x\" cannot be part of a path"),
       "a node name that is not one path component is refused");
    s1 = p ? instance_store_open(p->instance_base, true, &e) : NULL;
    s2 = p2 ? instance_store_open(p2->instance_base, true, &e) : NULL;
    ok(s1 && s2, "each node's store opens");
    if (s1 && s2) {
        job_record(s1, 77, getuid(), getgid(), "none", NULL, NULL);
        job_record(s2, 77, getuid(), getgid(), "none", NULL, NULL);
        job_cleanup(p, 77);
        ok(!instance_job_exists(s1, 77), "node n1's epilog removes the job from its base");
        ok(instance_job_exists(s2, 77), "...and leaves node n2's to n2");
        job_cleanup(p2, 77);
        ok(!instance_job_exists(s2, 77), "which its own epilog removes");
    }
    instance_store_close(s1);
    instance_store_close(s2);
    policy_free(p);
    policy_free(p2);
    test_node_lookup(path);
}

int main(void)
{
    char run[512], policy[512];

    snprintf(D, sizeof(D), "%s", testfs_setup());
    snprintf(base, sizeof(base), "%s/base", D);
    snprintf(run, sizeof(run), "%s/run", D);
    instance_set_rundir(run);
    log_set_sink(capture, NULL);
    test_identity_root();
    test_identity_other_group();
    test_identity_unknown();
    test_resize_share();
    test_env_strings();
    test_node_fault();
    test_trust();
    snprintf(policy, sizeof(policy), "%s/good/isolation.yaml", D);
    test_records(policy);
    test_no_record(policy);
    test_node_base();
    testfs_cleanup(D);
    return done_testing();
}
