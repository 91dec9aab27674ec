/* The policy module's door: the YAML policy read into a plain model, checked (with FILE:LINE:COL
 * diagnostics) and linted, and the fstab_user group filters. Depends on util and fs. */
#ifndef ISO_POLICY_H
#define ISO_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* The isolation policy: a plain C model of /etc/slurm/isolation.yaml, loaded and validated with
 * libyaml. The format is documented in isolation.yaml(5). Every field keeps the position it came
 * from, so later stages (the planner, isolationctl) can name the policy line behind an operation.
 */

#define POLICY_DEFAULT_PATH "/etc/slurm/isolation.yaml"
#define POLICY_DEFAULT_INSTANCE_BASE "/var/spool/slurm/isolation"
#define POLICY_MAX_BYTES (1024 * 1024)
#define POLICY_VERSION 1
/* The reserved profile name meaning "no isolation"; only usable where allowed_profiles lists it. */
#define PROFILE_NONE "none"

struct loc {
    int line; /* 1-based */
    int col;  /* 1-based */
};

enum backing { BACKING_DISK, BACKING_TMPFS };
enum scope { SCOPE_JOB, SCOPE_USER };
enum on_error { ON_ERROR_DENY, ON_ERROR_ALLOW };
/* An ssh session (pam_isolation mode=join) of a user with no isolated job on the node. */
enum ssh_access { SSH_DENY, SSH_HOST };
enum mount_type { MOUNT_BIND, MOUNT_SYMLINK, MOUNT_TMPFS, MOUNT_DIR };
enum size_kind { SIZE_UNSET, SIZE_PERCENT, SIZE_BYTES };

/* "50%" (of the job's memory on the node) or "512M"/"8G"/"1048576" (bytes). */
struct size_spec {
    enum size_kind kind;
    uint64_t value; /* percent 1..100, or bytes */
};

/* An fstab_user filter: "A", "A,B", "~A,B" (a leading ~ negates the whole filter) or a YAML list.
 * An absent filter (present == false) matches everyone. */
struct filter {
    bool present;
    bool negate;
    char **names;
    size_t count;
    struct loc loc;
};

struct polydir {
    char *path; /* absolute, normalised: /tmp, /var/tmp, /dev/shm ... */
    enum backing backing;
    enum scope scope;
    struct size_spec size; /* tmpfs: SIZE_UNSET is the kernel default; disk: bytes or no limit */
    struct loc size_loc;   /* of the size value, when written */
    struct loc loc;
};

/* Mount flags a policy may ask for; bind and tmpfs mounts always get nosuid and nodev. */
#define MOUNT_OPT_RO 0x1
#define MOUNT_OPT_NOEXEC 0x2

struct mount_entry {
    enum mount_type type;
    char *source;          /* bind: host path; symlink: the link text; NULL for tmpfs and dir */
    char *target;          /* absolute; may contain %u %U %g %j */
    char *options;         /* the text as written, NULL if absent */
    unsigned flags;        /* MOUNT_OPT_* parsed from options */
    struct size_spec size; /* tmpfs: size=; SIZE_UNSET when absent */
    unsigned mode;         /* tmpfs and dir: mode=, default 0755 */
    struct filter groups;
    struct filter users;
    struct loc loc;
};

struct path_entry {
    char *path;
    struct loc loc;
};

struct env_var {
    char *name;
    char *value;
    struct loc loc;
};

struct profile {
    char *name;
    char *inherits; /* NULL when the profile stands alone */
    struct loc inherits_loc;
    struct polydir *polydirs;
    size_t npolydirs;
    struct mount_entry *mounts;
    size_t nmounts;
    struct path_entry *hide;
    size_t nhide;
    struct env_var *env;
    size_t nenv;
    struct loc loc;
};

struct name_list {
    bool present; /* the key was written */
    char **names;
    struct loc *locs;
    size_t count;
    struct loc loc;
};

struct partition {
    char *name;
    char *default_profile; /* NULL: the global one applies */
    struct loc default_loc;
    struct name_list allowed; /* !present: the global list applies */
    struct loc loc;
};

/* One entry of login: host_groups: the hosts it is for (a Slurm hostlist: "login[1-4],dtn*"),
 * and the login: keys it sets for them; what it does not set comes from login: itself. */
struct login_host_group {
    char *hosts; /* as written (a YAML list is joined with commas) */
    struct loc hosts_loc;
    char *profile; /* NULL: login:'s */
    struct loc profile_loc;
    struct name_list exempt_users;  /* !present: login:'s */
    struct name_list exempt_groups; /* !present: login:'s */
    int sessions;                   /* -1: login:'s; 0 shared; 1 private */
    struct loc loc;
};

/* login: (pam_isolation mode=login): the profile of every login session, who is exempt, and
 * whether a user's sessions share one namespace; host_groups change these on some hosts. */
struct login_policy {
    bool present;
    char *profile; /* NULL only when !present */
    struct loc profile_loc;
    struct name_list exempt_users;
    struct name_list exempt_groups;
    bool private_sessions; /* sessions: private; else shared */
    struct login_host_group *host_groups;
    size_t nhost_groups;
    struct loc loc;
};

struct policy {
    char *file;
    int version;
    char *instance_base; /* the node's, once policy_set_node() has expanded it */
    char *base_template; /* instance_base as written, once policy_set_node() has expanded a
                          * %n (or %%) in it; NULL otherwise */
    struct loc base_loc; /* where instance_base is written; line 0 for the default */
    enum on_error on_error;
    enum ssh_access ssh;
    struct login_policy login;
    char *default_profile;
    struct loc default_loc;
    struct name_list allowed;
    struct profile *profiles;
    size_t nprofiles;
    struct partition *partitions;
    size_t npartitions;
};

/* Load and validate the policy at PATH. Returns NULL if the file cannot be read or has any error;
 * every error (and warning) found is added to DIAGS, whose file name should be PATH. */
struct policy *policy_load(const char *path, struct diag_list *diags);

/* The same, from a buffer (tests, the fuzzer). NAME is what diagnostics call the file. */
struct policy *policy_parse(const char *buf, size_t len, const char *name, struct diag_list *diags);

void policy_free(struct policy *p);

/* --- the node's instance base (isolation.yaml(5): "%n") --------------------------------------- */

/* A node name fit for a path: one component (no "/", not "." or ".."), no control byte, 1 to
 * 255 bytes. */
bool policy_node_name_ok(const char *node);

/* BASE (an instance_base as written) with each %n replaced by NODE and each %% by %, into OUT.
 * Returns its length, or -1 with errno EINVAL (NODE is not a valid name) or ENAMETOOLONG. */
int policy_base_expand(const char *base, const char *node, char *out, size_t size);

/* Make P's instance_base the node NODE's (keeping the template in base_template). 0, or -1 with
 * errno set (EINVAL: NODE is not a valid name); P is unchanged then. */
int policy_set_node(struct policy *p, const char *node);

/* Whether BASE is another node's expansion of P's template (P set for a node): a base this
 * node's epilog must leave to that node. */
bool policy_base_of_other_node(const struct policy *p, const char *base);

const struct profile *policy_profile(const struct policy *p, const char *name);
/* Whether NAME is in the list L. */
bool name_list_has(const struct name_list *l, const char *name);
const struct partition *policy_partition(const struct policy *p, const char *name);

/* --- login: on one host (isolation.yaml(5): "host_groups") ------------------------------------ */

/* What login: gives the sessions of one host: the first of its host_groups whose hosts name the
 * host, with login:'s own keys for what that group does not set. Points into the policy. */
struct login_choice {
    const char *profile; /* NULL when the policy has no login: section */
    const struct name_list *exempt_users;
    const struct name_list *exempt_groups;
    bool private_sessions;
    const struct login_host_group *group; /* NULL: no host group names the host */
    size_t group_index;                   /* of GROUP in host_groups, when set */
};

/* The login: settings of HOST (a short host name; "" matches no host group). */
void policy_login_choose(const struct policy *p, const char *host, struct login_choice *out);

/* Why USER, whose groups are GROUPS (names), is exempt under C: "exempt_users" or
 * "exempt_groups"; NULL when the user is not. (Root is the caller's to exempt.) */
const char *login_choice_exempt(const struct login_choice *c, const char *user,
                                const char *const *groups, size_t ngroups);

/* Whether HOST is one of the hosts of LIST, a hostlist as host_groups take it: names separated
 * by commas, each with ranges in brackets ("login[1-4,7]", "r[1-2]n[01-16]", zero-padded as
 * written) and "*" for any run of characters; letters match in either case. A list that is not
 * valid matches nothing. */
bool hostlist_match(const char *list, const char *host);

/* Why LIST is not a valid hostlist, into BUF (and 0 if it is): -1 with a message naming the fix. */
int hostlist_check(const char *list, char *buf, size_t size);

/* The effective content of a profile after inheritance (isolation.yaml(5), "Inheritance"):
 * the child's polydirs replace the parent's with the same path and add the others; its mounts
 * come before the parent's; its hide and env add to the parent's (a child's env wins by name).
 * The arrays point into the policy and are owned by the returned struct. */
struct profile_view {
    const char *name;
    const struct polydir **polydirs;
    size_t npolydirs;
    const struct mount_entry **mounts;
    size_t nmounts;
    const struct path_entry **hide;
    size_t nhide;
    const struct env_var **env;
    size_t nenv;
};

/* Returns NULL (errno ENOENT or ENOMEM) if NAME is unknown; a validated policy has no cycles. */
struct profile_view *profile_view_get(const struct policy *p, const char *name);
void profile_view_free(struct profile_view *v);

/* Checks that need the host (NSS, the file system); each finding is a warning in DIAGS:
 * an unknown group or user name, a profile that nothing allows, a bind source missing here,
 * an instance base on a read-only or noexec mount. */
void policy_lint(const struct policy *p, struct diag_list *diags);

const char *backing_name(enum backing b);
const char *scope_name(enum scope s);
const char *mount_type_name(enum mount_type t);

/* fstab_user group and user filters: "A", "A,B", "~A,B". */

/* Parse TEXT into F (names are copied). On a syntax error ("~" alone, an empty name, a stray
 * comma, white space inside a name) F is left empty and -1 is returned with a message. */
int filter_parse(struct filter *f, const char *text, struct err *e);

/* Add NAME (a YAML list item) to F; a leading "~" is refused here: lists cannot negate. */
int filter_add_name(struct filter *f, const char *name, struct err *e);

void filter_clear(struct filter *f);

/* True if any of NAMES is in F's list, inverted when F is negated; an absent filter matches. */
bool filter_match(const struct filter *f, const char *const *names, size_t count);

/* Write F back in its string form ("~A,B"), or "" if absent. */
void filter_format(const struct filter *f, char *buf, size_t size);

#endif
