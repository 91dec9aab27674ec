/* Shared between the policy_*.c files that load and check a policy; not part of the API, which
 * is policy.h. Loading has three passes, each in its own files:
 *   bytes -> node tree   read.c (the file, size, UTF-8), tree.c (libyaml events),
 *                        syntax.c (libyaml's syntax errors, explained);
 *   tree -> model        build.c (the top level, partitions), profile.c (profiles,
 *                        polydirs, hide, env), mount.c (mounts), with the value readers of
 *                        value.c, path.c and size.c;
 *   checks on the model  check.c (references, cycles, defaults, instance_base),
 *                        nesting.c (how one profile's paths nest).
 * report.c and suggest.c phrase the diagnostics; view.c applies inheritance.
 */
#ifndef ISO_POLICY_INT_H
#define ISO_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/util.h"
#include "policy/policy.h"

#define MAX_NAME_LEN 64
#define ESC_SLOTS 6

/* --- the node tree (tree.c) ------------------------------------------------------------ */

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

/* The state of one load, from the bytes to the checked model. */
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
    struct loc base_loc; /* where instance_base is written, if base_written */
    bool base_written;
    bool profiles_bad;             /* profiles: is not a mapping; references cannot be judged */
    const struct profile **sorted; /* profiles by name, for lookups */
    bool *chain_ok;                /* per profile: every inherits up the chain resolves */
};

struct yaml_parser_s;

/* Parse the buffer into a tree. NULL when it is not YAML (reported) or holds no document. */
struct node *tree_load(struct ctx *c);
void node_free(struct node *n);
/* A plain ~, null or empty scalar: the value "nothing". */
bool is_null(const struct node *n);

/* syntax.c: report why libyaml stopped, in the policy's terms. */
void report_syntax(struct ctx *c, const struct yaml_parser_s *y);
/* read.c: the line and column (in characters, as libyaml counts) of byte OFF. */
struct loc loc_of_offset(const char *buf, size_t len, size_t off);

/* --- reporting (report.c, suggest.c) -------------------------------------------- */

void error_at(struct ctx *c, struct loc at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void warn_at(struct ctx *c, struct loc at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reported once per load; the policy is then refused. */
void out_of_memory(struct ctx *c);
void *zalloc(struct ctx *c, size_t n, size_t size);
char *dup_str(struct ctx *c, const char *s);
/* S as it may appear inside "..." in a message: escaped, and cut short when long. Up to
 * ESC_SLOTS results (of esc and describe together) can be used in one message. */
const char *esc(struct ctx *c, const char *s);
/* What a node is, for "expected X, got Y". */
const char *describe(struct ctx *c, const struct node *n);

/* The candidate nearest to WORD, if near enough to be what was meant; NULL otherwise. */
const char *nearest(const char *word, const char *const *cands, size_t n);

/* The length of a NULL-terminated list of names. */
static inline size_t count_of(const char *const *list)
{
    size_t n = 0;

    while (list[n])
        n++;
    return n;
}

/* --- reading values (value.c, path.c, size.c) --------------------------- */

/* The text of scalar N, or NULL after reporting that WHAT was expected. */
const char *want_scalar(struct ctx *c, const struct node *n, const char *what);

/* The pairs of a mapping to read: those whose key is a name, and the first of each name. */
struct pairs {
    const struct node *map;
    bool *skip; /* one flag per pair */
    size_t i;
};

/* Start on mapping V, reporting keys that are not names and repeats (WHAT says what the keys
 * are). False after reporting that V is not EXPECTED, or out of memory. */
bool pairs_open(struct pairs *it, struct ctx *c, const struct node *v, const char *expected,
                const char *what);
/* The next pair to read into *KEY and *VAL; false at the end. */
bool pairs_next(struct pairs *it, const struct node **key, const struct node **val);
/* Done with the pairs of a pairs_open that returned true. */
void pairs_close(struct pairs *it);
/* One zeroed element of SIZE bytes per item of list V; NULL when V is nothing, or after
 * reporting that it is not a list of WHAT. */
void *want_list(struct ctx *c, const struct node *v, const char *what, size_t size);
/* KEY is none of KNOWN, in WHERE: report it, with the key it was probably meant to be. */
void unknown_key(struct ctx *c, const struct node *key, const char *const *known,
                 const char *where);
/* One of CHOICES (NULL-terminated), by index; -1 after reporting. */
int read_choice(struct ctx *c, const struct node *v, const char *key, const char *const *choices);

/* An absolute, normalised path; TEMPLATE paths may hold %-expansions. */
char *read_path(struct ctx *c, const struct node *v, const char *what, bool template);
/* The same, refusing "/" with ROOT_MSG. */
char *read_path_not_root(struct ctx *c, const struct node *v, const char *what, bool template,
                         const char *root_msg);
/* V's text holds no expansion but %u %U %g %j and %%; else reported, naming it WHAT. */
bool check_expansions(struct ctx *c, const struct node *v, const char *what);
/* instance_base holds only %n and %% (node.c). */
bool check_base_expansions(struct ctx *c, const struct node *v);

/* A size; PERCENT_OK for polydirs (share of the job's memory), bytes only for mounts. */
bool read_size(struct ctx *c, const char *s, struct loc at, bool percent_ok, struct size_spec *out);
/* An octal mode: "0755", "755", "1777". */
bool parse_mode(const char *s, unsigned *mode);

/* --- from the tree to the model (build.c, profile.c, mount.c) ----------- */

/* Read the whole tree into c->p. */
void build_model(struct ctx *c, const struct node *root);
/* A profile named in default_profile, allowed_profiles or inherits; resolved later. */
char *read_profile_ref(struct ctx *c, const struct node *v, struct loc *at);
void read_profiles(struct ctx *c, const struct node *v);
/* login: (login.c). */
void read_login(struct ctx *c, const struct node *v);
void login_free(struct login_policy *l);
/* login: host_groups' hosts: a hostlist, or a list of them (joined with commas); NULL after
 * reporting what is wrong with it. */
char *read_hostlist(struct ctx *c, const struct node *v);
void name_list_free(struct name_list *l);
/* KEY belongs inside a profile. */
bool is_profile_key(const char *key);
void read_mounts(struct ctx *c, const struct node *v, struct profile *pr);

/* --- checks on the model (check.c, nesting.c) ---------------------------------- */

/* Check the rules that span the file; c->p is as read, and may hold errors already. */
void check_model(struct ctx *c);
/* Per profile: polydirs listed twice, and how its effective paths nest. */
void check_profiles(struct ctx *c);

/* --- the model (policy.c, view.c) ------------------------------------------------------ */

extern const char *const mount_type_names[];

/* Orders pointers to profiles by name (qsort, bsearch). */
int profile_cmp_name(const void *a, const void *b);
/* The profile called NAME in SORTED (N pointers ordered by profile_cmp_name), or NULL. */
const struct profile *profile_find_sorted(const struct profile *const *sorted, size_t n,
                                          const char *name);
/* The view of PR following its chain as far as it resolves (validation works on invalid
 * policies too); *COMPLETE says whether it ended cleanly. SORTED, if not NULL, speeds up the
 * lookups. NULL when out of memory. */
struct profile_view *view_build(const struct policy *p, const struct profile *pr,
                                const struct profile *const *sorted, bool *complete);

#endif
