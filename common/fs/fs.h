/* The fs module's door: root-safe, fd-based file-system primitives (opening, creating and
 * removing what a user can influence) and disk quotas for instance directories. Depends on util. */
#ifndef ISO_FS_H
#define ISO_FS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"

/* Root-safe file-system primitives. Everything a user can influence is reached relative to a
 * directory file descriptor, one component at a time, never following a symlink (O_NOFOLLOW,
 * AT_SYMLINK_NOFOLLOW), with owner and mode checked on the opened object (fstat), not the path. */

/* Open the absolute directory PATH by walking from "/" component by component. No symlink is
 * followed; every directory on the way must be owned by root and not writable by group or others.
 * With CREATE, missing components are made (root, 0755; the last one 0700).
 * The final directory must be owned by root with no access at all for group and others.
 * Returns an O_DIRECTORY|O_CLOEXEC fd, or -1 with a message naming the offending component. */
int safe_open_root_dir(const char *path, bool create, struct err *e);

/* Open the existing directory NAME (one component) in DIRFD without following a symlink. */
int safe_open_dir_at(int dirfd, const char *name, struct err *e);

/* Create the directory NAME (one component) in DIRFD with MODE, owned by UID:GID, and return an
 * fd on it. If it already exists it must be a directory (not a symlink) owned by UID:GID with
 * exactly MODE, else -1 (errno EEXIST) and nothing is changed. The mode is set with fchmod, so
 * the umask does not matter. */
int safe_mkdir_at(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid, struct err *e);

/* Remove NAME (one component) in DIRFD and everything below it, like systemd's rm_rf: each
 * directory is read through its own fd, entries are removed with unlinkat (a symlink is removed,
 * never followed), subdirectories are opened with O_NOFOLLOW relative to their parent, another
 * mount is never entered (compared by mount id), and an explicit stack replaces recursion. Any
 * depth is removed in time linear in the number of entries with a bounded number of fds: a
 * subtree too deep to enter is moved up to a fresh ".rm-deep.N" in NAME and removed from there.
 * It keeps going after an error and returns -1 with the first one; NAME missing is success. */
int safe_remove_tree_at(int dirfd, const char *name, struct err *e);

/* The last resort for what safe_remove_tree_at could not remove: rename NAME in DIRFD to a fresh
 * ".NAME.left-N" there (never replacing anything), which sweeps that skip dot-names leave alone,
 * and write that name to ASIDE (SIZE > NAME_MAX is always enough). */
int safe_set_aside_at(int dirfd, const char *name, char *aside, size_t size, struct err *e);

/* Remove everything inside the directory open on FD, but not the directory itself. */
int safe_empty_dir(int fd, struct err *e);

/* True if FD is on a local file system (not NFS, Lustre, GPFS, CIFS, ...). */
bool safe_is_local(int fd);

/* True if NAME in DIRFD is a mount point (its mount id differs from DIRFD's). */
bool safe_is_mountpoint_at(int dirfd, const char *name);

/* Detach (MNT_DETACH) every mount stacked on NAME in DIRFD, with all the mounts below them.
 * 0 when none is left; -1 with a message. */
int safe_unmount_at(int dirfd, const char *name, struct err *e);

/* Resolving paths by fd (resolve.c). What a policy names by path (a hidden path, a bind source, a
 * mount target) is opened from "/" one component at a time, never with a path call that follows
 * a symlink a user may have placed. */

/* A set of mounts, by mount id: where a walk may create the components it finds missing (the
 * namespace builder's own tmpfs mounts). */
struct safe_mounts {
    const uint64_t *ids;
    size_t n;
};

/* The mount id of what FD is open on (statx STATX_MNT_ID), or 0 if the kernel cannot tell. */
uint64_t safe_mount_id(int fd);

/* True if FD lies on one of the mounts in M (never when its mount id is unknown). */
bool safe_in_mounts(int fd, const struct safe_mounts *m);

/* safe_resolve: every directory on the way must be one only root may write. */
#define SAFE_RESOLVE_STRICT 0x1u

/* Open the absolute PATH as an O_PATH|O_CLOEXEC fd, one component at a time from "/", each
 * opened with O_NOFOLLOW and checked on its own fd. A symlink is followed (at most 40 in one
 * walk) only if it and the directory holding it are root's, that directory is writable by root
 * only and on local storage; else -1 with errno EPERM. ".." and "." are walked as they come.
 * With SAFE_RESOLVE_STRICT in FLAGS, every directory the walk goes through, and the one where a
 * component is missing, must be owned by root and writable by root only: else -1 with errno
 * EPERM and a message naming that directory and the fix.
 * With CREATE_IN (NULL: never), a missing component is made (root, 0755) when the directory it
 * is missing from lies on one of those mounts.
 * Returns the fd, or -1 with errno set (ENOENT: a component is missing) and a message that
 * starts with PATH. */
int safe_resolve(const char *path, unsigned flags, const struct safe_mounts *create_in,
                 struct err *e);

/* Check, in the caller's view, that only root can rename or replace what PATH names: every
 * directory it is reached through must be owned by root and writable by root only (the prolog
 * refuses hidden paths and bind sources that are not). 0 if so, or if PATH or a directory on its
 * way does not exist here (nothing more to check); -1 with errno EPERM and a message naming the
 * directory and the fix if not; -1 with another errno if the walk failed otherwise. */
int safe_check_parents(const char *path, struct err *e);

/* Open the existing directory REL ("job/42/tmp", relative) below DIRFD, one component at a time
 * with safe_open_dir_at. */
int safe_open_dir_path_at(int dirfd, const char *rel, struct err *e);

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

/* The mount table, as libmount reads it from /proc/self/mountinfo: this process's mount
 * namespace. For isolationctl check's host warnings, the store's sweep, the namespace builder. */

/* One mount. The strings are owned (mount_info_clear) and never NULL ("" when absent). */
struct mount_info {
    int id;                    /* the mount id: mountinfo's first field, statx's stx_mnt_id */
    int parent_id;             /* the mount it is on */
    size_t index;              /* its place in the table: mounts on one target come in the order
                                * they were mounted, the last one on top */
    char *target;              /* where it is mounted, as the table writes it */
    char *fstype;              /* "ext4", "nfs4", "tmpfs", "nsfs", ... */
    char *source;              /* "/dev/sda1", "server:/export", "tmpfs", ... */
    char *root;                /* what of its file system it shows: "/" unless a bind */
    char *vfs_options;         /* this mount's options: "rw,nosuid,nodev,relatime" */
    char *fs_options;          /* its file system's (shared by every bind): "rw,size=1024k" */
    unsigned long flags;       /* MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, ... of vfs_options */
    unsigned long propagation; /* MS_SHARED, MS_SLAVE (both: a slave that is also shared),
                                * MS_UNBINDABLE; 0 for a private mount */
    bool network;              /* libmount counts fstype as a network file system (nfs, ...) */
};

/* The mount that holds PATH (absolute): the one on top at PATH's own mount point, found by the
 * mount id of PATH or, when PATH does not exist yet, of its nearest existing parent. A symlink
 * as the last component is not followed. Returns 0, or -1 with E saying why (MI then holds
 * nothing to clear). */
int mount_find(const char *path, struct mount_info *mi, struct err *e);
void mount_info_clear(struct mount_info *mi);

struct mount_list {
    struct mount_info *v;
    size_t n;
};

/* Every mount whose target is DIR or lies below it (DIR absolute, normalised, no trailing /, as
 * the table writes targets; "/" lists all), sorted by target, mounts on one target in the order
 * they were mounted: a mount comes before the ones on top of it and below it, so walking L
 * backwards unmounts children first. Read once: what is mounted or unmounted afterwards is not
 * seen. Returns 0 (L may be empty), or -1 with E saying why (L then holds nothing). */
int mount_list_under(const char *dir, struct mount_list *l, struct err *e);
void mount_list_free(struct mount_list *l);

#endif
