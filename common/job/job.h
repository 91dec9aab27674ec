/* The job module's door: what every front end does with a job on a node, over the store and
 * the namespace modules. */
#ifndef ISO_JOB_H
#define ISO_JOB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"
#include "policy/policy.h"
#include "store/store.h"
#include "plan/plan.h"

/* Every front end (the SPANK plugin, a PAM session module, isolationctl) does the same few
 * things with a job on a node, and none of them needs a Slurm header to do it:
 *
 *   prolog (root)    job_policy_load(), then job_begin(): plan, build, pin, record;
 *   a step, or a     job_session_open() reads the decision and opens the pin (or plans, when no
 *   PAM session      prolog ran), job_session_enter() enters the namespace (building it first if
 *                    needed), job_session_close();
 *   epilog (root)    job_cleanup().
 *
 * A PAM session adopted into job N of uid U (mode=join) is job_session_open() with
 * {.job_id = N, .uid = U, .gid = G} and job_session_enter(); a login session given a profile
 * (mode=login) is the same with the profile asked for and an id of its own. */

/* --- who: a user from NSS ------------------------------------------------------------------ */

/* A user's name and groups as the planner sees them (ID points into the other fields). */
struct identity {
    struct job_identity id;
    char user[256];
    char **names; /* group names, the given group first, no duplicates */
    size_t nnames;
};

/* Look up UID's name and groups (GID first, then NSS's list for the user) from NSS: the same
 * answer pam_namespace would get on a login node. A group that cannot be named fails the
 * lookup, since group filters decide what a job may see. node_mem_bytes is the node's memory;
 * mem_bytes is left 0. Call identity_free() after, whatever the result. */
int identity_lookup(struct identity *b, uid_t uid, gid_t gid, uint32_t job_id, struct err *e);
void identity_free(struct identity *b);

/* USER's group ids from NSS, GID first (getgrouplist), grown until they all fit; *COUNT is set.
 * NULL if out of memory or the list keeps growing. Free the result. */
gid_t *identity_gids(const char *user, gid_t gid, int *count);

/* --- what: the policy and the plan ---------------------------------------------------------- */

/* Root mounts what the policy says: PATH and its directory must be root's and writable by root
 * only. 0 if so (or if PATH is missing: loading reports that), -1 with a message naming the fix
 * if not. */
int job_policy_check_trust(const char *path, struct err *e);

/* Load the policy at PATH (checking its trust first when running as root); on failure NULL with
 * its first error, and how to see the rest, in E. */
struct policy *job_policy_load(const char *path, struct err *e);

/* This node's name into BUF: GIVEN (Slurm's node name, SLURMD_NODENAME) if set, else the short
 * host name. 0, or -1 if it cannot be part of a path (policy_node_name_ok). */
int job_node_name(const char *given, char *buf, size_t size);

/* job_policy_load(), then the instance base of node NODE (NULL or "": the short host name) when
 * the base names the node (%n). */
struct policy *job_policy_load_node(const char *path, const char *node, struct err *e);

/* The same on a policy already loaded: 0, or -1 with a message if NODE's name cannot be part of
 * a path. */
int job_policy_set_node(struct policy *p, const char *node, struct err *e);

/* The epilog's clean-up of job JOB_ID: under P's base (P loaded for this node; NULL if it could
 * not be loaded) and every recorded base but the other nodes' of P's template (several slurmds
 * on one host each clean up their own). Failures are logged; -1 if any removal failed. */
int job_cleanup(const struct policy *p, uint32_t job_id);

/* What a front end knows about a job on this node. */
struct job_request {
    uint32_t job_id;
    uid_t uid;
    gid_t gid;
    const char *partition; /* from a trusted source ("" for none); NULL: unknown, then only a
                            * profile allowed everywhere is accepted */
    const char *profile;   /* asked for by the user; NULL: the partition's default */
    uint64_t mem_bytes;    /* the job's memory on this node; 0: unknown */
    const char *node;      /* the node's name, for %n in instance_base; NULL: NODE_LOOKUP's, or
                            * the short host name */
    /* Finds the node's name into BUF (NULL if it cannot): asked only when the base names the
     * node and NODE is NULL, so that a step pays for the lookup only then. May be NULL. */
    const char *(*node_lookup)(uint32_t job_id, char *buf, size_t size);
    bool hold;             /* the caller is the job's extern step: it keeps the job alive */
    pid_t holder;          /* job_begin: the job's extern step, when the prolog runs under it
                            * (PrologFlags=RunInJob): it keeps the job alive; 0: none */
    bool login;            /* a login session: PROFILE is the policy's login profile, taken as
                            * it is (no partition's lists apply) */
    const char *no_record; /* job_session_open: when no prolog recorded a decision, fail with
                            * this instead of planning here (a prolog was due first); NULL: plan */
};

/* Plan the job: its user's identity from NSS, its profile resolved, the plan built. */
int job_plan(const struct policy *p, const struct job_request *r, struct plan **out, struct err *e);

/* The prolog's work for job R, under policy P: open (and set up) the store, sweep what ended
 * without an epilog, drop what an earlier job with this id left, plan, build and pin the
 * namespace, and record the decision. A policy error never fails it: it is recorded and every
 * task reports it. Failures are logged. Returns -1 only when the node cannot isolate jobs (the
 * node should be drained), else 0. */
int job_begin(const struct policy *p, const struct job_request *r);

/* --- joining a job: a step's tasks, or a PAM session ---------------------------------------- */

struct job_session {
    struct job_request req; /* its strings are not used after job_session_open */
    const char *policy_path;
    bool isolate;           /* the processes must enter the namespace */
    bool allow_unisolated;  /* on_error: allow (read with job_session_allows_unisolated) */
    int nsfd;               /* the pin, open; -1: none (the namespace is built on entering) */
    struct policy *policy;  /* the policy, loaded only when needed (no record to follow); its
                             * base is where the namespace is built */
    struct plan *plan;      /* the plan, when no prolog recorded one */
    struct job_state state; /* the decision; state.env is the environment to give */
    char share[4096];       /* the job's shared directory (store.h), where the step's PMIx
                             * client directory goes; "" when the job has none */
};

/* Get ready to join job R with the policy at POLICY_PATH (a string that must outlive JS): check
 * the job's record against R's uid (dropping one an earlier job with this id left), read the
 * decision and open the pin; without a record, or without a pin when the job is isolated, plan
 * from R. The record is looked for first under the recorded bases, where the prolog made it:
 * a step that finds it reads no policy. Returns 0, or -1 with the reason the job's processes
 * must not run in E. Problems that do not stop them are logged. Call job_session_close() after,
 * whatever the result. */
int job_session_open(struct job_session *js, const char *policy_path, const struct job_request *r,
                     struct err *e);

/* Enter the job's namespace (if it is isolated), building and pinning it first if no one has
 * (the store lock makes concurrent callers wait, then find the pin). Returns 0, or -1 with a
 * message; the caller decides, with job_session_allows_unisolated, whether to go on without it. */
int job_session_enter(struct job_session *js, struct err *e);

/* Whether the policy says on_error: allow (loading it if the session has not): a process whose
 * entry failed may then run without isolation. False if the policy cannot be loaded. */
bool job_session_allows_unisolated(struct job_session *js);

void job_session_close(struct job_session *js);

/* --- Slurm joining a job (the companion plugin) --------------------------------------------- */

/* What job_namespace_open() found. */
enum job_ns {
    JOB_NS_OPEN,       /* the job's namespace, open */
    JOB_NS_NONE,       /* the job is not isolated (profile none, or on_error: allow after a
                        * failure): it runs in the node's view */
    JOB_NS_NO_RECORD,  /* no record of the job on this node */
    JOB_NS_FAILED,     /* its isolation failed: its tasks are refused */
    JOB_NS_OTHER_USER, /* the record is another user's */
    JOB_NS_ERROR       /* isolated, but its namespace cannot be opened, or a base cannot be
                        * checked: never take it for the node's view */
};

/* The namespace of job JOB_ID on this node, for a process Slurm runs for the job as UID (0: one
 * of Slurm's own), found from the records alone, under whatever base the job was set up: its pin,
 * open, and its record in *ST if not NULL (job_state_clear() it). -1 otherwise; *WHY says what
 * was found (always set) and E why. */
int job_namespace_open(uint32_t job_id, uid_t uid, struct job_state *st, enum job_ns *why,
                       struct err *e);

/* The one job of UID's on this node that has a namespace (a session with no job named, which
 * pam_slurm_adopt did not adopt): 0 and *JOB_ID; -1 with errno ENOENT when there is none, EEXIST
 * when there are several, EIO when a base cannot be checked, with a message. */
int job_user_namespace(uid_t uid, uint32_t *job_id, struct err *e);

/* --- login sessions (pam_isolation mode=login) ---------------------------------------------- */

/* What the login: section gives a session of a user on a host (pam_isolation mode=login; the
 * exempt users of mode=join; isolationctl explain --login). */
struct job_login_decision {
    char host[256];         /* the host decided for ("" when its name is unknown) */
    struct login_choice on; /* the login: settings of the host (policy_login_choose) */
    const char *exempt;     /* why the session keeps the node's view untouched: "root",
                             * "exempt_users" or "exempt_groups"; NULL: login: on decides */
};

/* Decide for USER (UID), whose groups are the names GROUPS, on HOST (NULL or "": this host's
 * short name). */
void job_login_decide(const struct policy *p, const char *host, const char *user, uid_t uid,
                      const char *const *groups, size_t ngroups, struct job_login_decision *d);

/* The same with the user's groups from NSS (GID first): what a session gets. A user whose groups
 * cannot be read is not exempt by group (isolated: the safe answer). */
void job_login_decide_nss(const struct policy *p, const char *host, const char *user, uid_t uid,
                          gid_t gid, struct job_login_decision *d);

/* The store id of a login session of UID opened by process PID under D: the user's
 * (0x80000000 | UID) or, with sessions: private, the session's own (0xC0000000 | PID). */
int job_login_id(const struct job_login_decision *d, uid_t uid, pid_t pid, uint32_t *id,
                 struct err *e);

struct job_login {
    uint32_t id;   /* the session's namespace in the store */
    int host_nsfd; /* the namespace the session came from; -1: none entered */
};

/* Put the calling process (a login session of UID, GID, not exempt, whose profile D->on.profile
 * is not none) in its namespace, found or built: the user's (sessions: shared) or its own
 * (private). Login namespaces that no process is left in (their sessions ended without a close:
 * sshd killed) are removed first. *ST gets its record (its env). 0, or -1 with a message; *L
 * (keep it for job_login_close) is set either way. */
int job_login_open(const struct policy *p, const struct job_login_decision *d, uid_t uid, gid_t gid,
                   struct job_login *l, struct job_state *st, struct err *e);

/* The session ends: back to the namespace it came from, and the namespace removed with its
 * instances (scope: job; a user's scope: user ones as the store keeps them) once no process is
 * in it. */
int job_login_close(const struct policy *p, struct job_login *l, struct err *e);

/* slurmd joins a step's slurmstepd to the job's namespace before it execs it (the companion, on
 * Slurm 23.02+): slurmstepd cannot reach the store from there, so the companion hands it the
 * job's id and record in its environment, which only slurmd sets. */
#define JOB_JOINED_ENV "SPANK_ISOLATION_JOINED_JOB"
#define JOB_RECORD_ENV "SPANK_ISOLATION_JOINED_RECORD"

/* job_session_open() for a step whose slurmstepd Slurm put in the job's namespace already, from
 * RECORD (JOB_RECORD_ENV's text): the same checks of the record, and nothing to enter. The
 * job's instances are not resized from here (its extern step did at the job's start). */
int job_session_open_joined(struct job_session *js, const char *policy_path,
                            const struct job_request *r, const char *record, struct err *e);

/* --- the building blocks -------------------------------------------------------------------- */

/* A job on a node, from plan to pinned namespace: what the prolog does (and the first task, when
 * no prolog ran). Slurm-agnostic, so tests and tools drive the very code the plugin runs. */

/* Make the instances, build and pin the namespace, record the decision. Idempotent: a job whose
 * namespace is already pinned is left as it is. Holds the store lock throughout. */
int job_setup(struct instance_store *s, uint32_t job_id, const struct plan *plan, uid_t uid,
              gid_t gid, struct err *e);

/* Record a decision without a namespace: profile none, a refusal (ERROR), or on_error: allow. */
void job_record(struct instance_store *s, uint32_t job_id, uid_t uid, gid_t gid,
                const char *profile, const char *error, const struct plan *plan);

/* The plan's environment as NAME=VALUE strings, NULL-terminated. */
char **job_env_strings(const struct plan *plan);

/* Errors that mean this node cannot isolate anything (full disk, I/O error): drain it. */
bool job_is_node_fault(int errnum);

/* Tmpfs instances sized "N%" of the job's memory. The prolog does not know that memory, so it
 * sizes them from the node's; the job's first step sets them from the job's:
 *   scope: job   N% of the job's memory;
 *   scope: user  the instance is shared by the user's jobs on the node: it gets the largest of
 *                their sizes, each job's N% of its own memory, so a job never shrinks the space
 *                a running job of the same user was given. Jobs whose memory Slurm does not
 *                track do not count. The size is set again by each job's first step (it does not
 *                shrink when a job ends, only when the next job of the user starts). */

/* Resize the job's tmpfs instances listed in RESIZE (its state's resize list) inside the
 * namespace open on NSFD, from MEM, the job's memory in bytes on this node (0: unknown, nothing
 * is done). Done once per job and memory (a marker in the job's directory). UID is the job's
 * user. Returns 0, or -1 with a message when an instance keeps the size it had. */
int job_resize_tmpfs(struct instance_store *s, uint32_t job_id, uid_t uid, int nsfd,
                     char *const *resize, uint64_t mem, struct err *e);

/* N% of MEM, rounded down to a page, at least one page (as the planner sizes it). */
uint64_t resize_share(uint64_t mem, unsigned percent);

#endif
