/* Tmpfs instances sized "N%" of the job's memory. The prolog does not know that memory, so it
 * sizes them from the node's; the job's first step sets them from the job's:
 *   scope: job   N% of the job's memory;
 *   scope: user  the instance is shared by the user's jobs on the node: it gets the largest of
 *                their sizes, each job's N% of its own memory, so a job never shrinks the space
 *                a running job of the same user was given. Jobs whose memory Slurm does not
 *                track do not count. The size is set again by each job's first step (it does not
 *                shrink when a job ends, only when the next job of the user starts). */
#ifndef ISO_RESIZE_H
#define ISO_RESIZE_H

#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "instance.h"

/* Resize the job's tmpfs instances listed in RESIZE (its state's resize list) inside the
 * namespace open on NSFD, from MEM, the job's memory in bytes on this node (0: unknown, nothing
 * is done). Done once per job and memory (a marker in the job's directory). UID is the job's
 * user. Returns 0, or -1 with a message when an instance keeps the size it had. */
int job_resize_tmpfs(struct instance_store *s, uint32_t job_id, uid_t uid, int nsfd,
                     char *const *resize, uint64_t mem, struct err *e);

/* N% of MEM, rounded down to a page, at least one page (as the planner sizes it). */
uint64_t resize_share(uint64_t mem, unsigned percent);

#endif
