/* A job on a node, from plan to pinned namespace: what the prolog does (and the first task, when
 * no prolog ran). Slurm-agnostic, so tests and tools drive the very code the plugin runs. */
#ifndef ISO_JOB_H
#define ISO_JOB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "instance.h"
#include "plan.h"

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

#endif
