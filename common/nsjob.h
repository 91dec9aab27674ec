/* The applier: build a job's private mount namespace from a plan, pin it, and enter it. */
#ifndef ISO_NSJOB_H
#define ISO_NSJOB_H

#include <sys/types.h>

#include "err.h"
#include "plan.h"

struct ns_request {
    const struct plan *plan;
    const int *instance_fds;   /* per plan polydir: O_PATH fd of the instance, or -2 (tmpfs here) */
    const mode_t *host_modes;  /* per plan polydir: its mode on the node */
    uid_t uid;
    gid_t gid;
    const char *instance_base; /* detached and covered inside the namespace */
    int pin_dirfd;             /* the pin is created as PIN_NAME in this directory */
    const char *pin_name;
};

/* Build the namespace in a child process and pin it: the child unshares, makes "/" recursively
 * slave, opens every bind source in the host's view, binds the instances, applies the mounts and
 * hides, detaches the instance base, and bind-mounts its namespace file on the pin (from the
 * host namespace). Returns 0, or -1 with the child's message. The caller's namespace is not
 * touched. */
int nsjob_build(const struct ns_request *r, struct err *e);

/* Enter the namespace open on NSFD (from instance_pin_open) and return to the working directory
 * the task had, as the task's user if root may not (root-squashed NFS). */
int nsjob_enter(int nsfd, uid_t uid, gid_t gid, struct err *e);

/* The mode of the polydir PATH on the node; -1 if it is missing, not a directory or a symlink. */
int nsjob_host_mode(const char *path, mode_t *mode, struct err *e);

#endif
