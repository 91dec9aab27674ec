/* The mount table, read by libmount from /proc/self/mountinfo: the mount that holds a path, and
 * the mounts at or below a directory. Nothing here mounts or unmounts. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs.h"

#define MOUNTINFO "/proc/self/mountinfo"

/* A line libmount cannot parse fails the read: a mount left out could be a pin left mounted. */
static int parse_error(struct libmnt_table *tb, const char *file, int line)
{
    int *bad = libmount_get(NULL)->mnt_table_get_userdata(tb);

    if (bad)
        *bad = line;
    return -EINVAL;
}

static struct libmnt_table *table_read(const struct libmount *lm, struct err *e)
{
    struct libmnt_table *tb = lm->mnt_new_table();
    int bad = 0, rc;

    if (!tb) {
        errprintf(e, "cannot read the mount table: out of memory");
        return NULL;
    }
    lm->mnt_table_set_userdata(tb, &bad);
    lm->mnt_table_set_parser_errcb(tb, parse_error);
    rc = lm->mnt_table_parse_file(tb, MOUNTINFO);
    lm->mnt_table_set_userdata(tb, NULL);
    if (rc == 0)
        return tb;
    if (bad)
        errprintf(e, "%s: line %d is not a mount libmount can read", MOUNTINFO, bad);
    else
        errprintf_errno(e, rc < 0 ? -rc : EIO, "%s: cannot read the mount table", MOUNTINFO);
    lm->mnt_unref_table(tb);
    return NULL;
}

static int copy_str(char **dst, const char *src)
{
    *dst = strdup(src ? src : "");
    return *dst ? 0 : -1;
}

/* MI from libmount's entry FS; on failure MI holds nothing. */
static int info_fill(const struct libmount *lm, struct libmnt_fs *fs, struct mount_info *mi,
                     struct err *e)
{
    const struct libmnt_optmap *linux_map = lm->mnt_get_builtin_optmap(MNT_LINUX_MAP);
    const char *vfs = lm->mnt_fs_get_vfs_options(fs);

    memset(mi, 0, sizeof(*mi));
    mi->id = lm->mnt_fs_get_id(fs);
    mi->parent_id = lm->mnt_fs_get_parent_id(fs);
    mi->network = lm->mnt_fs_is_netfs(fs);
    if (copy_str(&mi->target, lm->mnt_fs_get_target(fs)) < 0 ||
        copy_str(&mi->fstype, lm->mnt_fs_get_fstype(fs)) < 0 ||
        copy_str(&mi->source, lm->mnt_fs_get_source(fs)) < 0 ||
        copy_str(&mi->root, lm->mnt_fs_get_root(fs)) < 0 || copy_str(&mi->vfs_options, vfs) < 0 ||
        copy_str(&mi->fs_options, lm->mnt_fs_get_fs_options(fs)) < 0) {
        mount_info_clear(mi);
        return errprintf(e, "cannot read the mount table: out of memory");
    }
    if (!linux_map || lm->mnt_optstr_get_flags(mi->vfs_options, &mi->flags, linux_map) < 0 ||
        lm->mnt_fs_get_propagation(fs, &mi->propagation) < 0) {
        errprintf(e, "%s: cannot read the options of the mount on %s", MOUNTINFO, mi->target);
        mount_info_clear(mi);
        return -1;
    }
    /* libmount says MS_PRIVATE for "shared by no one", with MS_SLAVE for a slave: keep the bits. */
    mi->propagation &= MS_SHARED | MS_SLAVE | MS_UNBINDABLE;
    return 0;
}

void mount_info_clear(struct mount_info *mi)
{
    free(mi->target);
    free(mi->fstype);
    free(mi->source);
    free(mi->root);
    free(mi->vfs_options);
    free(mi->fs_options);
    memset(mi, 0, sizeof(*mi));
}

/* The mount id of PATH, or of its nearest existing parent; the last component is not followed
 * (a symlink is held by the mount it lies on). */
static int held_mount_id(const char *path, int *id, struct err *e)
{
    char cut[PATH_MAX];
    struct statx sx;
    int fd;

    if (path[0] != '/')
        return errprintf(e, "%s: not an absolute path", path);
    if (snprintf(cut, sizeof(cut), "%s", path) >= (int)sizeof(cut))
        return errprintf(e, "%s: path too long", path);
    while ((fd = open(cut, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        char *slash = strrchr(cut, '/');
        if ((errno != ENOENT && errno != ENOTDIR) || !slash || cut[1] == '\0')
            return errprintf_errno(e, errno, "%s: cannot open", cut);
        slash[slash == cut] = '\0'; /* "/a" -> "/" */
    }
    int rc = statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx);
    int saved = errno;
    close(fd);
    if (rc < 0)
        return errprintf_errno(e, saved, "%s: cannot stat", cut);
    if (!(sx.stx_mask & STATX_MNT_ID))
        return errprintf(e, "%s: the kernel does not report mount ids (Linux 5.8 or later does)",
                         cut);
    *id = (int)sx.stx_mnt_id;
    return 0;
}

static int match_id(struct libmnt_fs *fs, void *id)
{
    return libmount_get(NULL)->mnt_fs_get_id(fs) == *(int *)id;
}

int mount_find(const char *path, struct mount_info *mi, struct err *e)
{
    struct libmnt_iter *it = NULL;
    struct libmnt_table *tb = NULL;
    struct libmnt_fs *fs = NULL;
    const struct libmount *lm = libmount_get(e);
    int id, rc = -1;

    memset(mi, 0, sizeof(*mi));
    if (!lm)
        return -1;
    if (held_mount_id(path, &id, e) < 0 || !(tb = table_read(lm, e)))
        goto out;
    if (!(it = lm->mnt_new_iter(MNT_ITER_FORWARD))) {
        errprintf(e, "cannot read the mount table: out of memory");
        goto out;
    }
    if (lm->mnt_table_find_next_fs(tb, it, match_id, &id, &fs) != 0 || !fs) {
        errprintf(e, "%s: its mount (id %d) is not in %s; was it unmounted meanwhile?", path, id,
                  MOUNTINFO);
        goto out;
    }
    rc = info_fill(lm, fs, mi, e);
out:
    lm->mnt_free_iter(it);
    lm->mnt_unref_table(tb);
    return rc;
}

/* TARGET is DIR or lies below it. */
static bool at_or_below(const char *target, const char *dir, size_t n)
{
    if (n == 1)
        return target[0] == '/';
    return strncmp(target, dir, n) == 0 && (target[n] == '\0' || target[n] == '/');
}

static int cmp_target(const void *a, const void *b)
{
    const struct mount_info *x = a, *y = b;
    int r = strcmp(x->target, y->target);

    if (r)
        return r;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Append FS to L, growing it by doubling. */
static int list_add(const struct libmount *lm, struct mount_list *l, size_t *cap,
                    struct libmnt_fs *fs, struct err *e)
{
    if (l->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct mount_info *v = realloc(l->v, ncap * sizeof(*v));
        if (!v)
            return errprintf(e, "cannot read the mount table: out of memory");
        l->v = v;
        *cap = ncap;
    }
    if (info_fill(lm, fs, &l->v[l->n], e) < 0)
        return -1;
    l->v[l->n].index = l->n;
    l->n++;
    return 0;
}

int mount_list_under(const char *dir, struct mount_list *l, struct err *e)
{
    struct libmnt_table *tb;
    struct libmnt_iter *it;
    struct libmnt_fs *fs;
    const struct libmount *lm = libmount_get(e);
    size_t n = strlen(dir), cap = 0;
    int rc = 0;

    memset(l, 0, sizeof(*l));
    if (dir[0] != '/' || (n > 1 && dir[n - 1] == '/'))
        return errprintf(e, "%s: not an absolute path without a trailing /", dir);
    if (!lm || !(tb = table_read(lm, e)))
        return -1;
    if (!(it = lm->mnt_new_iter(MNT_ITER_FORWARD))) {
        lm->mnt_unref_table(tb);
        return errprintf(e, "cannot read the mount table: out of memory");
    }
    while (rc == 0 && lm->mnt_table_next_fs(tb, it, &fs) == 0)
        if (at_or_below(lm->mnt_fs_get_target(fs) ? lm->mnt_fs_get_target(fs) : "", dir, n))
            rc = list_add(lm, l, &cap, fs, e);
    lm->mnt_free_iter(it);
    lm->mnt_unref_table(tb);
    if (rc < 0) {
        mount_list_free(l);
        return -1;
    }
    if (l->n)
        qsort(l->v, l->n, sizeof(*l->v), cmp_target);
    return 0;
}

void mount_list_free(struct mount_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        mount_info_clear(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}
