/* The applier: build a job's private mount namespace from a plan, pin it, and enter it. */
#ifndef ISO_NS_H
#define ISO_NS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"
#include "plan/plan.h"

struct ns_request {
    const struct plan *plan;
    /* Per plan polydir: the instance's path below the instance base ("job/42/tmp"), or NULL for
     * a scope: job tmpfs, which is mounted inside the namespace only. Paths, not fds: a mount
     * can only be cloned from the caller's own namespace, so the child reopens them. */
    const char *const *instance_paths;
    const mode_t *host_modes; /* per plan polydir: its mode on the node */
    uid_t uid;
    gid_t gid;
    const char *instance_base; /* detached and covered inside the namespace */
    const char *records;       /* the base's records (other jobs' pins): detached and covered
                                * too; NULL: none */
    const char *share;         /* the job's shared directory below the base (store.h's
                                * instance_job_share), kept at its path through the base's
                                * cover; NULL: none */
    int pin_dirfd;             /* the pin is created as PIN_NAME in this directory */
    const char *pin_name;
};

/* Build the namespace in a child process and pin it: the child unshares, makes "/" recursively
 * slave, opens every bind source while its view is still the host's, binds the instances,
 * applies the mounts and hides, detaches and covers the instance base and its records (so no
 * other job's pin is held by this namespace), and, back in the host
 * namespace, bind-mounts its namespace file on the pin. Returns 0, or -1 with the child's
 * message. The caller's own namespace is never changed. */
int nsjob_build(const struct ns_request *r, struct err *e);

/* Enter the namespace open on NSFD (from instance_pin_open). setns() leaves the task in "/";
 * slurmstepd changes to the job's working directory after task_init_privileged, as the user,
 * so that directory is resolved inside the namespace. */
int nsjob_enter(int nsfd, struct err *e);

/* Set the size of the tmpfs at PATH inside the namespace open on NSFD, in a child process; only
 * the file system's size changes, not the mount's flags. */
int nsjob_resize_tmpfs(int nsfd, const char *path, uint64_t bytes, struct err *e);

/* The calling process's mount namespace as "DEV:INO" in BUF (SIZE >= 48); "" if it cannot be
 * read. */
void nsjob_current(char *buf, size_t size);

/* Whether the calling process is in the namespace open on NSFD already (Slurm's companion plugin
 * put it there). */
bool nsjob_is_current(int nsfd);

/* The mode of the polydir PATH on the node; -1 if it is missing, not a directory or a symlink. */
int nsjob_host_mode(const char *path, mode_t *mode, struct err *e);

#endif
