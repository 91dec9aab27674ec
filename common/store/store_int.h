/* Inside the instance store: what its files share. Not a door: front ends use store.h.
 *   base.c    the base and its records opened and checked, the recorded bases, the lock
 *   record.c  a job's record: opened, marked, its namespace pin
 *   state.c   the decision recorded for a job
 *   make.c    instances made
 *   users.c   scope: user instances and the jobs' references on them
 *   remove.c  a job removed (under the lock into the trash, then emptied)
 *   trash.c   the trash: claimed entries, emptied without the lock
 *   live.c    whether a job still runs on this node
 *   sweep.c   what no epilog removed */
#ifndef ISO_STORE_INT_H
#define ISO_STORE_INT_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"
#include "store/store.h"

struct instance_store {
    char *path;  /* BASE: users' data (disk instances, user instances, the trash) */
    char *rpath; /* RUNDIR/store/ESCAPED-BASE: the root-only records (lock, jobs, references) */
    int fd;
    int rfd;
    int lockfd;
};

/* /proc/self/fd/FD: a path for mount(2) that no one can swap under us. */
void store_fd_path(int fd, char *buf, size_t size);

/* "42" for job 42: the only spelling of a job's directory name. */
void store_job_name(uint32_t job_id, char *buf, size_t size);

/* BASE/NAME opened (a directory of the store); -1 with errno ENOENT when it does not exist. */
int store_open_sub(struct instance_store *s, const char *name, struct err *e);

/* BASE/NAME opened for listing; NULL with errno ENOENT when it does not exist. */
DIR *store_list_sub(struct instance_store *s, const char *name, struct err *e);

/* The same for the record store's directory NAME (job/, user/). */
int store_open_rec(struct instance_store *s, const char *name, struct err *e);
DIR *store_list_rec(struct instance_store *s, const char *name, struct err *e);

/* TOP/ID in directory SUB of the base (DATA) or of the records, made root 0700 with CREATE. */
int store_open_id_dir(struct instance_store *s, bool data, const char *sub, const char *id,
                      bool create, struct err *e);

/* The job's pin, JOBFD/ns, opened if it is a mount namespace; -1 with errno ENOENT if not. */
int store_pin_open_at(int jobfd);

/* This boot's id (/proc/sys/kernel/random/boot_id); "" if it cannot be read. */
void store_read_boot_id(char *buf, size_t size);

/* The state in the open job record JOBFD; -1 with errno ENOENT when there is none. */
int store_read_state_at(int jobfd, struct job_state *st, struct err *e);

/* The user's directory: in the base (DATA: its instances) or in the records (its jobs/). */
int store_open_user_dir(struct instance_store *s, bool data, uid_t uid, bool create, struct err *e);

/* Record job JOB_ID as a user of UID's instances: RECORDS/user/UID/jobs/JOBID. */
int store_add_user_ref(struct instance_store *s, uid_t uid, uint32_t job_id, struct err *e);

/* Entries of the trash that one remover has claimed (see trash.c). */
struct trash {
    size_t n, cap;
    struct trash_item {
        int fd; /* the entry, open and flock()ed: no other remover takes it */
        char name[64];
        bool leftover; /* a remover failed on it before: set aside if it fails again */
    } * items;
};

/* Move DIRFD/NAME into BASE/trash under a fresh name and claim it. Store lock held. */
int trash_move(struct instance_store *s, struct trash *t, int dirfd, const char *name,
               struct err *e);
/* Claim the entries no one else is removing (left by a remover that died). Store lock held. */
void trash_claim_leftovers(struct instance_store *s, struct trash *t);
/* Remove the claimed entries, without the store lock; keeps going after an error. */
int trash_empty(struct instance_store *s, struct trash *t, struct err *e);
/* The same in a detached process, for callers that must not wait for a big removal (a prolog
 * sweeping what others left, slurmd at its start); failures are logged. */
void trash_empty_detached(struct instance_store *s, struct trash *t);
/* How every removal ends: unlock the store, empty T (with DETACH in a detached process), close
 * LINGER (a job's lingering process, or -1). RC is the removal's result so far: a failure of the
 * emptying is reported only when it was 0. Returns the final result. */
int trash_finish(struct instance_store *s, struct trash *t, bool detach, int linger, int rc,
                 struct err *e);

/* Drop JOB's references (JOB_ID 0: drop none), and move the instances of users no job
 * references any more into the trash. Store lock held. */
int store_release_users(struct instance_store *s, struct trash *t, uint32_t job_id, struct err *e);

/* Unpin the job, drop its user references, move its instances into the trash and remove its
 * record; *LINGER (if < 0) gets the job's lingering process (see remove.c). Store lock held. */
int store_detach_job_locked(struct instance_store *s, struct trash *t, uint32_t job_id, int *linger,
                            struct err *e);

/* A builder holds the build lock of the job whose record JOBFD is (instance_job_build_lock). */
bool store_job_building(int jobfd);

/* Whether the job of the open job record JOBFD still runs on this node (live.c):
 * 1 yes, 0 no (its extern step is gone and no process is inside its namespace), -1 unknown (no
 * extern step recorded: Slurm was not configured with PrologFlags=Contain). */
int store_job_alive(int jobfd);

/* For each of the N open job records JOBFDS, whether the job is in use (USED): its holder lives,
 * or a process is in its namespace; a record without a pin whose holder is gone or was never
 * recorded is not; true when it cannot be told. One pass over /proc for all of them (live.c). */
void store_jobs_in_use(const int *jobfds, size_t n, bool *used);

#endif
