/* Inside the instance store: what its files (instance.c, instance_trash.c, instance_live.c)
 * share. Not a door: front ends use instance.h. */
#ifndef ISO_INSTANCE_INT_H
#define ISO_INSTANCE_INT_H

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

/* "42" for job 42: the only spelling of a job's directory name. */
void store_job_name(uint32_t job_id, char *buf, size_t size);

/* BASE/NAME opened (a directory of the store); -1 with errno ENOENT when it does not exist. */
int store_open_sub(struct instance_store *s, const char *name, struct err *e);

/* BASE/NAME opened for listing; NULL with errno ENOENT when it does not exist. */
DIR *store_list_sub(struct instance_store *s, const char *name, struct err *e);

/* The same for the record store's directory NAME (job/, user/). */
int store_open_rec(struct instance_store *s, const char *name, struct err *e);
DIR *store_list_rec(struct instance_store *s, const char *name, struct err *e);

/* Entries of the trash that one remover has claimed (see instance_trash.c). */
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

/* Whether the job of the open job record JOBFD still runs on this node (instance_live.c):
 * 1 yes, 0 no (its extern step is gone and no process is inside its namespace), -1 unknown (no
 * extern step recorded: Slurm was not configured with PrologFlags=Contain). */
int store_job_alive(int jobfd);

#endif
