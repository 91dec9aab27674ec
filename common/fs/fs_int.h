/* Shared by the files of the fs module (not part of its interface): naming things in messages, the
 * identity of an object (type, inode, mount), and checks on one path component. */
#ifndef ISO_FS_INT_H
#define ISO_FS_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define SHOWN_MAX (PATH_MAX + NAME_MAX + 2)

/* The path behind FD, for messages only: never reopened. */
const char *safefs_fd_path(int fd, char *buf, size_t size);
/* "<path of DIRFD>/NAME", for messages about NAME. */
const char *safefs_where(int dirfd, const char *name, char *buf, size_t size);
/* "regular file", "symlink", ... */
const char *safefs_kind(mode_t mode);

struct ident {
    mode_t mode;
    dev_t dev;
    ino_t ino;
    uint64_t mnt_id;
    bool has_mnt_id; /* STATX_MNT_ID needs Linux >= 5.8; without it we compare st_dev only */
    bool mount_root; /* STATX_ATTR_MOUNT_ROOT, when the kernel reports it */
};

/* NAME in FD (AT_EMPTY_PATH in FLAGS: FD itself), never following a symlink or automounting. */
int safefs_ident_at(int fd, const char *name, int flags, struct ident *id);
int safefs_ident_fd(int fd, struct ident *id);
/* CHILD is on another mount than PARENT (a mount point, a bind mount, a self bind mount). */
bool safefs_other_mount(const struct ident *parent, const struct ident *child);
/* A and B are the same object: nothing was swapped in between. */
bool safefs_same_object(const struct ident *a, const struct ident *b);

/* NAME is exactly one component (not empty, no '/', not "." or ".."), else -1 EINVAL. */
int safefs_check_name(const char *name, struct err *e);
/* After openat(NAME, O_DIRECTORY|O_NOFOLLOW) failed: say what NAME is instead; returns -1. */
int safefs_open_failed(int dirfd, const char *name, struct err *e);

/* The name of FD's file system if it is a shared one, NULL if local, "unknown" if unsure. */
const char *safefs_remote_fs_name(int fd);

#endif
