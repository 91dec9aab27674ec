/* The planner: a pure function from (policy, job identity) to the ordered operations that build a
 * job's namespace. No I/O and no globals: isolationctl explain prints exactly what the plugin runs.
 */
#ifndef ISO_PLAN_H
#define ISO_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "util/util.h"
#include "policy/policy.h"

/* Who the job is. Group names include the primary group; NULL entries are ignored. */
struct job_identity {
    const char *user;
    uid_t uid;
    gid_t gid;
    const char *group; /* primary group name, for %g */
    const char *const *groups;
    size_t ngroups;
    uint32_t job_id;
    uint64_t mem_bytes; /* the job's memory on this node; 0 if unknown (then % sizes use RAM) */
    uint64_t node_mem_bytes; /* physical memory; used when mem_bytes is 0 */
};

struct plan_polydir {
    char *path;
    enum backing backing;
    enum scope scope;
    uint64_t size_bytes; /* tmpfs: 0 = the kernel's default; disk: the quota, 0 = none */
    unsigned percent;    /* tmpfs sized as a share of the job's memory: 1..100, else 0 */
    int line;
};

struct plan_mount {
    enum mount_type type;
    char *source; /* expanded; bind: host path, symlink: link text */
    char *target; /* expanded */
    bool readonly;
    bool noexec;
    uint64_t size_bytes; /* tmpfs; 0 = the kernel's default */
    unsigned mode;       /* tmpfs and dir */
    bool in_tmpfs;       /* the target lies inside a tmpfs made earlier in this plan */
    int line;
    size_t seq; /* position in the policy's merged list (mounts run parents first) */
};

struct plan_path {
    char *path;
    int line;
};

struct plan_env {
    char *name;
    char *value;
    int line;
};

struct plan {
    char *profile;
    bool isolate; /* false for the "none" profile: nothing to do */
    struct plan_polydir *polydirs;
    size_t npolydirs;
    struct plan_mount *mounts;
    size_t nmounts;
    struct plan_path *hide;
    size_t nhide;
    struct plan_env *env;
    size_t nenv;
};

/* Choose the profile for a job: REQUESTED (may be NULL), else the partition's default, else the
 * global one. The choice must be allowed by the partition's allowed_profiles, else by the global
 * list. PARTITION "" (or one the policy does not name) means the global lists; NULL means "not
 * known from a trusted source": then only a profile allowed in every partition and globally is
 * accepted. *NAME points into P.
 * On refusal the message names the allowed profiles. */
int profile_resolve(const struct policy *p, const char *partition, const char *requested,
                    const char **name, struct err *e);

/* The profiles allowed in PARTITION (NULL: in every partition), as a comma-separated list. */
void profile_allowed_list(const struct policy *p, const char *partition, char *buf, size_t size);

/* Build the plan of PROFILE for ID. Returns 0 and sets *OUT, or -1 with a message. */
int plan_build(const struct policy *p, const char *profile, const struct job_identity *id,
               struct plan **out, struct err *e);

void plan_free(struct plan *plan);

/* Human-readable and JSON renderings (isolationctl explain). */
void plan_print_text(const struct plan *plan, const char *policy_file, FILE *out);
void plan_print_json(const struct plan *plan, FILE *out);

/* Expand %u %U %g %j %% in TEMPLATE. Returns a new string, or NULL with a message. */
char *plan_expand(const char *template, const struct job_identity *id, struct err *e);

#endif
