/* The instance store: per-job state, reached only through file descriptors opened from checked
 * directories. The root-only records live apart from the users' data, under the run directory,
 * so that a user who fills the instance base's file system (blocks or inodes) cannot stop other
 * jobs' records, pins and lock from being written.
 *
 *   RUNDIR/store/ESC/     the records of base BASE; ESC is BASE escaped by instance_name()
 *                         (/var/spool/slurm/isolation -> var-spool-slurm-isolation); root 0700,
 *                         a private self-bind mount, so namespace pins can live here
 *       .lock             the store lock (flock): job creation, removal and the sweep take it
 *       .swept            when the last sweep ran
 *       job/JOBID/        root 0700: the job's record
 *           ns            the pin: the job's mount namespace file bind-mounted here
 *           state         the decision (profile, uid, env, or the error the tasks must report)
 *           holder        the job's extern step (pid, start time): the job runs while it lives
 *           (markers)     work done once per job (a step's resize)
 *       user/UID/jobs/JOBID  one reference per job of that user using its instances on this node
 *   BASE/                 root 0700; a private self-bind mount (user tmpfs instances live here)
 *   BASE/job/JOBID/NAME   scope: job disk instances, owned by the user (BASE/job/JOBID root 0700)
 *   BASE/user/UID/NAME    scope: user instances (disk directories, or tmpfs mount points)
 *   BASE/trash/           root 0700; what is being removed (moved here under the lock, removed
 *                         after it, on the instances' own file system); a dot-name is what could
 *                         not be removed
 *
 * /run is emptied at boot: instances under BASE/job/ or BASE/user/ that no record names are from
 * an earlier boot (or a builder that died: it holds the lock while it makes both) and are swept.
 * NAME is the polydir path escaped: /var/tmp -> var-tmp (see instance_name()). */
#ifndef ISO_STORE_H
#define ISO_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"
#include "plan/plan.h"

struct instance_store;

/* Open BASE and its records (RUNDIR/store/ESC) and check them as pam_namespace checks an
 * instance parent (root-owned, no access for others, local, every parent root-owned and not
 * writable by others). With SETUP, create them (root 0700) if missing, make each a private
 * mount (pins live in the records, user tmpfs instances in BASE), and create their job/ and
 * user/; without, only open them (the per-step path; -1 with ENOENT if either is missing). */
struct instance_store *instance_store_open(const char *base, bool setup, struct err *e);
void instance_store_close(struct instance_store *s);
const char *instance_store_path(const struct instance_store *s);
/* RUNDIR/store/ESC: where the base's records (and pins) live. */
const char *instance_store_records(const struct instance_store *s);

/* Every base a prolog used is recorded in RUNDIR/bases (root-only; /run is emptied at boot), so
 * an epilog cleans a job up even when the policy has since become unreadable or names another
 * base. The default RUNDIR is /run/spank-isolation; tests point it elsewhere. */
#define INSTANCE_RUNDIR "/run/spank-isolation"
void instance_set_rundir(const char *dir);

/* Call FN for each recorded base (and the order they were recorded in). */
void instance_for_each_base(void (*fn)(const char *base, void *arg), void *arg);

/* Remove job JOB_ID's instances under BASE (NULL: none) and under every recorded base for which
 * SKIP (NULL: none) says false; each base must still pass the store's checks. Failures are
 * logged; returns -1 if any removal failed. */
int instance_job_cleanup(const char *base, uint32_t job_id,
                         bool (*skip)(const char *base, void *arg), void *arg);

/* Exclusive store lock: every creation, removal and sweep holds it from start to end, so no
 * one ever sees a half-built job. */
int instance_store_lock(struct instance_store *s, struct err *e);
void instance_store_unlock(struct instance_store *s);

/* A job's record (RUNDIR/store/ESC/job/JOBID), open. */
struct instance_job {
    uint32_t job_id;
    int dirfd;
};

/* Create (or reopen) the job's record. Call with the store lock held. */
int instance_job_open(struct instance_store *s, uint32_t job_id, bool create,
                      struct instance_job *job, struct err *e);
void instance_job_close(struct instance_job *job);

/* The job's build lock (flock on its record), held by whoever builds its namespace from before it
 * releases the store lock until the job's state is written (instance_job_close releases it): the
 * sweep and a stale-record check leave a job being built alone, and a second builder of the same
 * job waits for the first (WAIT), or learns that one is at work (-1 with errno EWOULDBLOCK). */
int instance_job_build_lock(struct instance_job *job, bool wait);

/* The name of a polydir's instance: "/var/tmp" -> "var-tmp"; '-' and unusual bytes are
 * escaped as \xNN, so distinct paths give distinct names. */
void instance_name(const char *path, char *buf, size_t size);

/* Make the instance of polydir D for the job and write its path below the base into PATH
 * ("job/42/tmp", "user/1001/tmp"). HOST_MODE is the polydir's mode on the node: the instance gets
 * it, owned by the user, as pam_namespace does. A scope: job tmpfs has no host side: PATH is set
 * to "" and the namespace builder mounts it. A scope: user instance takes a reference for the
 * job. */
int instance_make(struct instance_store *s, struct instance_job *job, const struct plan_polydir *d,
                  uid_t uid, gid_t gid, mode_t host_mode, char *path, size_t size, struct err *e);

/* The job's shared directory, BASE/job/JOBID/slurm-pmix (a name no polydir's instance can
 * have: instance names escape "-"): root's, 0755, seen at this one path by the node's Slurm and,
 * through the namespace, by the job's tasks, so that slurmstepd can make each step's PMIx client
 * directory there (SLURM_PMIX_TMPDIR) instead of in the node's /tmp, which the tasks do not see.
 * It goes with the job's instances. instance_job_share() makes it (with BASE/job/JOBID) and
 * writes its path to PATH; instance_job_share_path() writes the path only if it exists (0), else
 * returns -1. */
#define INSTANCE_SHARE_NAME "slurm-pmix"
int instance_job_share(struct instance_store *s, uint32_t job_id, char *path, size_t size,
                       struct err *e);
int instance_job_share_path(struct instance_store *s, uint32_t job_id, char *path, size_t size);

/* Call FN for each job holding a reference on UID's scope: user instances on this node. */
int instance_user_jobs(struct instance_store *s, uid_t uid, void (*fn)(uint32_t job_id, void *arg),
                       void *arg, struct err *e);

/* The decision recorded for a job by its prolog, read by each step. */
struct job_state {
    char profile[128];
    uid_t uid;
    gid_t gid;
    bool isolated;    /* false: profile none, or on_error: allow after a failure */
    char error[1024]; /* non-empty: the job must not run; this is why */
    char **env;       /* NAME=VALUE strings, NULL-terminated (may be NULL) */
    char **resize;    /* "PERCENT PATH" (scope: job) or "PERCENT user PATH": tmpfs instances
                       * sized from the job's memory by its first step (job_resize_tmpfs) */
    char boot_id[40]; /* filled by instance_state_write */
    char host_ns[48]; /* the mount namespace the job was set up from (ns.h's nsjob_current):
                       * its steps must run there too; "" in records of earlier versions */
};

int instance_state_write(struct instance_job *job, const struct job_state *st, struct err *e);
/* Returns 0, or -1 with errno ENOENT when there is no state yet. */
int instance_state_read(struct instance_store *s, uint32_t job_id, struct job_state *st,
                        struct err *e);
void job_state_clear(struct job_state *st);

/* The state as the text of its record (malloc'ed; NULL if out of memory), and back: a record
 * passed to a process that cannot reach the store (a slurmstepd Slurm put in the job's namespace). */
char *job_state_format(const struct job_state *st);
int job_state_parse(const char *text, struct job_state *st, struct err *e);

/* A root-only marker NAME in the job's record, for work done once per job (a step's resize). */
bool instance_job_marked(struct instance_store *s, uint32_t job_id, const char *name);
void instance_job_mark(struct instance_store *s, uint32_t job_id, const char *name);

/* The lock login sessions (pam_isolation mode=login) take while they find or build, or end, a
 * user's namespace: RUNDIR/login.lock, held by the fd returned (close it to unlock); -1 with a
 * message. */
int instance_login_lock(struct err *e);

/* Whether job JOB_ID's namespace is still used on this node (its holder lives, or a process is in
 * it); true when it cannot be told. */
bool instance_job_in_use(struct instance_store *s, uint32_t job_id);

/* Whether the records of BASE hold job JOB_ID, found without opening BASE itself (which may be
 * gone); true when it cannot be told. */
bool instance_record_exists(const char *base, uint32_t job_id);

/* Call FN for each job with a record in S. */
int instance_job_ids(struct instance_store *s, void (*fn)(uint32_t job_id, void *arg), void *arg,
                     struct err *e);

/* Open the job's pin and check that it is a live mount namespace; -1 with ENOENT if not. */
int instance_pin_open(struct instance_store *s, uint32_t job_id, struct err *e);

/* Remove everything of the job: unpin, drop its user references (removing a user's instances
 * when their last job on the node ends), remove its instances and its record. The store lock is
 * held only to move it all into the trash; the trash is emptied after. */
int instance_job_remove(struct instance_store *s, uint32_t job_id, struct err *e);

/* Like instance_job_remove, but the files are removed by a detached process: for a prolog that
 * finds what an earlier job with its id left, which must not wait for (nor time out on) it. */
int instance_job_discard(struct instance_store *s, uint32_t job_id, struct err *e);

/* Whether the job has a record or instances: a prolog that finds them faces a reused job id. */
bool instance_job_exists(struct instance_store *s, uint32_t job_id);

/* Remove the job's record and instances if they were not made for the job now running with this
 * id: they name another UID, the job they were made for has ended on this node, or there are
 * instances and no record. Returns 1 if
 * it removed them, 0 if there were none or they are current, -1 on error. Takes the store lock. */
int instance_job_drop_stale(struct instance_store *s, uint32_t job_id, uid_t uid, struct err *e);

/* Record process PID, the job's extern step, as what keeps the job alive on this node
 * (PrologFlags=Contain): once it is gone and the namespace is empty, the job has ended. */
int instance_job_hold(struct instance_store *s, uint32_t job_id, pid_t pid, struct err *e);

/* Remove jobs that have ended without an epilog: their extern step is gone and their namespace
 * is empty, or (without an extern step) their pin is dead and their state names another boot id
 * or they have no state at all; and job instances that have no record. Remove user instances no
 * job references, and empty the trash of removals that died. A job without an extern step and
 * without a namespace (profile none) is left to its epilog. Returns the number of jobs removed.
 * DETACH: the files are removed by a detached process (a prolog, or slurmd at its start, must not
 * wait for what others left); failures are then logged, not returned. */
int instance_sweep(struct instance_store *s, bool detach, struct err *e);

/* Remove the jobs PICK chooses (by id) that are not in use: their holder is gone (or none was
 * recorded) and no process is in their namespace (or they have none). For jobs that nothing enters
 * but under a lock the caller holds (login sessions, under the login lock), since one entered
 * between the check and the removal would be torn down under its process. One pass over /proc
 * for all of them; the records go under the store lock, the files as instance_sweep removes
 * them (DETACH: by a detached process). Returns the number removed, or -1 with a message. */
int instance_sweep_unused(struct instance_store *s, bool (*pick)(uint32_t job_id, void *arg),
                          void *arg, bool detach, struct err *e);

/* Whether SECONDS have passed since the last call that returned true (prologs sweep at most
 * that often). */
bool instance_sweep_due(struct instance_store *s, int seconds);

#endif
