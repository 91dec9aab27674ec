/* The planner: profile resolution, first-match-wins, filters, expansion, inheritance, sizes. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"
#include "policy/policy.h"
#include "tap.h"

static const char *fstab_policy =
    "version: 1\n"
    "default_profile: strict\n"
    "allowed_profiles: [strict, shared-tmp]\n"
    "profiles:\n"
    "  strict:\n"
    "    polydirs:\n"
    "      - {path: /tmp, backing: disk, scope: job}\n"
    "      - {path: /var/tmp, backing: disk, scope: job}\n"
    "      - {path: /dev/shm, backing: tmpfs, scope: job, size: 50%}\n"
    "    mounts:\n"
    "      - {type: tmpfs, target: /ccc, options: \"size=1M,mode=0755\"}\n"
    "      - {type: bind, source: /run/mount/private/A, target: /ccc/A, options: rw, groups: A}\n"
    "      - {type: bind, source: /run/mount/private/B, target: /ccc/B, options: rw, groups: B}\n"
    "      - {type: bind, source: /run/mount/private/A, target: /ccc/A, options: ro, groups: B}\n"
    "      - {type: symlink, source: A, target: /ccc/C, groups: A}\n"
    "      - {type: symlink, source: B, target: /ccc/C, groups: B}\n"
    "      - {type: dir, target: /ccc/outsiders, groups: \"~A,B\"}\n"
    "      - {type: bind, source: /home/%u, target: /ccc/home-%U-%j, users: alice}\n"
    "    hide: [/run/mount/private]\n"
    "    env: {TMPDIR: /tmp}\n"
    "  shared-tmp:\n"
    "    inherits: strict\n"
    "    polydirs:\n"
    "      - {path: /tmp, backing: disk, scope: user}\n"
    "      - {path: /scratch, backing: tmpfs, size: 1G}\n"
    "    mounts:\n"
    "      - {type: bind, source: /run/mount/private/B, target: /ccc/A, options: ro}\n"
    "    env: {TMPDIR: /tmp/x, OTHER: y}\n"
    "partitions:\n"
    "  debug: {default_profile: shared-tmp, allowed_profiles: [strict, shared-tmp, none]}\n"
    "  gpu: {allowed_profiles: [strict]}\n";

static struct policy *load(const char *text)
{
    struct diag_list d;
    struct policy *p;

    diag_list_init(&d, "test.yaml");
    p = policy_parse(text, strlen(text), "test.yaml", &d);
    if (!p)
        diag_print(&d, stdout);
    diag_list_free(&d);
    return p;
}

static struct plan *plan_for(struct policy *p, const char *profile, const char *user,
                             const char *const *groups, size_t ngroups)
{
    struct job_identity id = {.user = user,
                              .uid = 1001,
                              .gid = 1001,
                              .group = groups[0],
                              .groups = groups,
                              .ngroups = ngroups,
                              .job_id = 42,
                              .mem_bytes = 8ULL << 30};
    struct plan *plan = NULL;
    struct err e;

    if (plan_build(p, profile, &id, &plan, &e) < 0)
        diag("plan_build: %s", e.text);
    return plan;
}

static const struct plan_mount *find(const struct plan *plan, const char *target)
{
    for (size_t i = 0; plan && i < plan->nmounts; i++)
        if (strcmp(plan->mounts[i].target, target) == 0)
            return &plan->mounts[i];
    return NULL;
}

static void test_fstab_user(struct policy *p)
{
    const char *in_a[] = {"alice", "A"};
    const char *in_b[] = {"bob", "B"};
    const char *in_ab[] = {"carol", "B", "A"};
    const char *in_none[] = {"dave", "users"};
    struct plan *pa = plan_for(p, "strict", "alice", in_a, 2);
    struct plan *pb = plan_for(p, "strict", "bob", in_b, 2);
    struct plan *pab = plan_for(p, "strict", "carol", in_ab, 3);
    struct plan *pn = plan_for(p, "strict", "dave", in_none, 2);
    const struct plan_mount *m;

    ok(pa && pb && pab && pn, "plans build for users in A, B, both and neither");
    if (!(pa && pb && pab && pn))
        goto out;
    m = find(pa, "/ccc/A");
    ok(m && !m->readonly && strcmp(m->source, "/run/mount/private/A") == 0,
       "A: /ccc/A is a read-write bind of private/A");
    ok(!find(pa, "/ccc/B"), "A: no /ccc/B");
    m = find(pa, "/ccc/C");
    ok(m && m->type == MOUNT_SYMLINK && strcmp(m->source, "A") == 0, "A: /ccc/C points to A");
    m = find(pb, "/ccc/A");
    ok(m && m->readonly, "B: /ccc/A is read-only");
    m = find(pb, "/ccc/B");
    ok(m && !m->readonly, "B: /ccc/B is read-write");
    m = find(pb, "/ccc/C");
    ok(m && strcmp(m->source, "B") == 0, "B: /ccc/C points to B");
    m = find(pab, "/ccc/A");
    ok(m && !m->readonly, "A and B: the first matching entry wins, /ccc/A is read-write");
    m = find(pab, "/ccc/C");
    ok(m && strcmp(m->source, "A") == 0, "A and B: /ccc/C points to A");
    ok(find(pn, "/ccc/outsiders") && !find(pa, "/ccc/outsiders") && !find(pab, "/ccc/outsiders"),
       "~A,B matches only users in neither group");
    ok(pn->nmounts == 2 && pn->mounts[0].type == MOUNT_TMPFS,
       "a user in no group gets the tmpfs root and the ~ entry only");
    m = find(pa, "/ccc/home-1001-42");
    ok(m && strcmp(m->source, "/home/alice") == 0, "%%u %%U %%j expand; users filter matches");
    ok(!find(pb, "/ccc/home-1001-42"), "users filter excludes others");
    ok(find(pa, "/ccc/outsiders") == NULL && find(pa, "/ccc/A")->in_tmpfs,
       "targets inside the policy tmpfs are marked in_tmpfs");
    is_int(pa->npolydirs, 3, "three polydirs");
    is_int(pa->polydirs[2].size_bytes, 4ULL << 30, "/dev/shm 50%% of 8G is 4G");
    is_int(pa->nhide, 1, "one hidden path");
    is_str(pa->nenv ? pa->env[0].value : NULL, "/tmp", "TMPDIR=/tmp");
out:
    plan_free(pa);
    plan_free(pb);
    plan_free(pab);
    plan_free(pn);
}

static void test_inheritance(struct policy *p)
{
    const char *in_a[] = {"alice", "A"};
    struct plan *plan = plan_for(p, "shared-tmp", "alice", in_a, 2);
    const struct plan_mount *m;

    ok(plan != NULL, "the inheriting profile plans");
    if (!plan)
        return;
    is_int(plan->npolydirs, 4, "child polydirs replace by path and add");
    ok(plan->polydirs[0].scope == SCOPE_USER && strcmp(plan->polydirs[0].path, "/tmp") == 0,
       "/tmp is replaced in place by the child's scope: user entry");
    is_str(plan->polydirs[3].path, "/scratch", "the child's new polydir comes last");
    is_int(plan->polydirs[3].size_bytes, 1ULL << 30, "an absolute tmpfs size is kept");
    m = find(plan, "/ccc/A");
    ok(m && m->readonly && strcmp(m->source, "/run/mount/private/B") == 0,
       "the child's mounts come first, so they win for the same target");
    ok(plan->mounts[0].type == MOUNT_TMPFS && strcmp(plan->mounts[0].target, "/ccc") == 0,
       "the parent's tmpfs root is mounted before the child's entry inside it");
    ok(m->in_tmpfs, "...so the child's bind lands inside the tmpfs instead of under it");
    is_int(plan->nenv, 2, "env adds to the parent's");
    for (size_t i = 0; i < plan->nenv; i++)
        if (strcmp(plan->env[i].name, "TMPDIR") == 0)
            is_str(plan->env[i].value, "/tmp/x", "the child's env wins by name");
    plan_free(plan);
}

static void test_resolve(struct policy *p)
{
    const char *name = NULL;
    struct err e;

    ok(profile_resolve(p, "batch", NULL, &name, &e) == 0 && strcmp(name, "strict") == 0,
       "an unlisted partition gets the global default");
    ok(profile_resolve(p, "debug", NULL, &name, &e) == 0 && strcmp(name, "shared-tmp") == 0,
       "a partition's default_profile applies");
    ok(profile_resolve(p, "debug", "none", &name, &e) == 0 && strcmp(name, "none") == 0,
       "none is allowed where listed");
    ok(profile_resolve(p, "batch", "none", &name, &e) < 0, "none is refused where not listed");
    is_str(e.text,
           "isolation profile \"none\" is not allowed in partition \"batch\"; "
           "allowed: strict, shared-tmp",
           "the refusal names the allowed profiles");
    ok(profile_resolve(p, "gpu", "shared-tmp", &name, &e) < 0,
       "a partition's allowed_profiles narrows the choice");
    is_str(e.text,
           "isolation profile \"shared-tmp\" is not allowed in partition \"gpu\"; "
           "allowed: strict",
           "...and names what is allowed there");
    ok(profile_resolve(p, "gpu", "nosuch", &name, &e) < 0 && strstr(e.text, "unknown"),
       "an unknown profile is refused as unknown");
    ok(profile_resolve(p, NULL, NULL, &name, &e) == 0 && strcmp(name, "strict") == 0,
       "without a trusted partition the global default is used");
    ok(profile_resolve(p, NULL, "shared-tmp", &name, &e) < 0,
       "without a trusted partition a profile must be allowed in every partition");
}

static void test_none_and_json(struct policy *p)
{
    const char *g[] = {"alice"};
    struct plan *plan = plan_for(p, "none", "alice", g, 1);
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    ok(plan && !plan->isolate && plan->nmounts == 0, "the none profile plans nothing");
    plan_free(plan);
    plan = plan_for(p, "strict", "alice", (const char *[]){"alice", "A"}, 2);
    f = open_memstream(&buf, &len);
    if (plan && f) {
        plan_print_json(plan, f);
        fclose(f);
        ok(strstr(buf, "\"profile\": \"strict\"") &&
               strstr(buf, "{\"type\": \"symlink\", \"source\": \"A\", \"target\": \"/ccc/C\", "
                           "\"options\": null, \"readonly\": false, \"line\": 15}") &&
               strstr(buf, "\"env\": {\"TMPDIR\": \"/tmp\"}"),
           "JSON carries the profile, mounts with lines, and env");
    } else {
        ok(0, "JSON output");
    }
    free(buf);
    plan_free(plan);
}

static void test_expand(void)
{
    struct job_identity id = {.user = "alice", .uid = 7, .group = "grp", .job_id = 9};
    struct err e;
    char *s;

    s = plan_expand("/a/%u/%U/%g/%j/100%%", &id, &e);
    is_str(s, "/a/alice/7/grp/9/100%", "every expansion");
    free(s);
    s = plan_expand("/a/%x", &id, &e);
    ok(!s && strstr(e.text, "unknown expansion \"%x\""), "an unknown expansion is an error");
    s = plan_expand("/a/%", &id, &e);
    ok(!s, "a trailing %% is an error");
    free(s);
}

int main(void)
{
    struct policy *p = load(fstab_policy);

    ok(p != NULL, "the test policy loads");
    if (p) {
        test_fstab_user(p);
        test_inheritance(p);
        test_resolve(p);
        test_none_and_json(p);
    }
    test_expand();
    policy_free(p);
    return done_testing();
}
