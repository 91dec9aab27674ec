/* The job module's door: what every front end does with a job on a node, over the store and
 * the namespace modules. */
#ifndef ISO_JOB_H
#define ISO_JOB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"
#include "store/store.h"
#include "plan/plan.h"

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
