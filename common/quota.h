/* Disk quotas for instances: a disk polydir with a size gets an instance whose use is limited by
 * the instance base's own file system, so one job filling its /tmp cannot fill the disk that
 * every other job's instances live on.
 *
 *   btrfs     the instance is a subvolume; its level-0 qgroup limits referenced bytes (data and
 *             metadata, so inodes too). Needs `btrfs quota enable` on the file system.
 *   ext4/XFS  the instance is a directory with its own project id (its inode number), inherited
 *             by everything made inside it; a project quota limits blocks and inodes. Needs the
 *             prjquota mount option (ext4 also the project and quota features).
 *
 * Everything is reached relative to directory fds, never following a symlink. */
#ifndef ISO_QUOTA_H
#define ISO_QUOTA_H

#include <stdint.h>
#include <sys/types.h>

#include "err.h"

enum quota_kind { QUOTA_NONE, QUOTA_BTRFS, QUOTA_PROJECT };

/* One inode per this many bytes of size: the ratio mkfs.ext4 uses by default, so a job gets the
 * share of inodes its share of space would have. */
#define QUOTA_BYTES_PER_INODE 16384

/* Which mechanism FD's file system can enforce right now. QUOTA_NONE: E says what is missing
 * (the mount option or the feature) and how to turn it on; WHERE names the directory in it. */
enum quota_kind quota_probe(int fd, const char *where, struct err *e);

/* The same for PATH, or for its nearest existing parent when PATH does not exist yet (the
 * instance base is created by the first job). For isolationctl check. */
enum quota_kind quota_probe_path(const char *path, struct err *e);

/* Make NAME in DIRFD an instance limited to BYTES, with MODE, owned by UID:GID, and return an fd
 * on it. The limit is set before the user gets the directory. An existing NAME is reused only
 * if it is already such an instance (not a symlink, not a plain directory) with that owner and
 * mode; its limit is set to BYTES. On failure nothing is left behind. */
int quota_mkdir_at(int dirfd, const char *name, uint64_t bytes, mode_t mode, uid_t uid, gid_t gid,
                   struct err *e);

/* Remove the instance NAME in DIRFD: its tree, then its quota (the qgroup, the project limit).
 * NAME missing is success. */
int quota_remove_at(int dirfd, const char *name, struct err *e);

/* Remove every limited instance directly inside the directory NAME of DIRFD (a job's or a
 * user's directory) with quota_remove_at, so that removing NAME afterwards leaves no qgroup or
 * project limit behind. Keeps going after an error and reports the first. */
int quota_remove_instances_in(int dirfd, const char *name, struct err *e);

#endif
