/* The mount table API: mount_find and mount_list_under against tmpfs mounts made in a private
 * mount namespace, so the host's mounts are never touched. */
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "testfs.h"

static const char *D;

static const char *at(const char *rel)
{
    static char buf[16][1024];
    static int next;
    char *b = buf[next++ % 16];

    if (snprintf(b, sizeof(buf[0]), "%s%s%s", D, *rel ? "/" : "", rel) >= (int)sizeof(buf[0]))
        must(-1);
    return b;
}

static int mnt_id_of(const char *path)
{
    struct statx sx;

    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) < 0)
        return -1;
    return (int)sx.stx_mnt_id;
}

static void tmpfs_at(const char *rel, unsigned long flags, const char *opts)
{
    must(mkdir(at(rel), 0755) < 0 && errno != EEXIST ? -1 : 0);
    must(mount("isotest", at(rel), "tmpfs", flags, opts));
}

/* A tmpfs mounted noexec,nosuid with options: every field read back. */
static void test_find_fields(void)
{
    struct mount_info mi;
    struct err e;

    tmpfs_at("a", MS_NOEXEC | MS_NOSUID, "size=1M,mode=0755");
    if (!ok(mount_find(at("a"), &mi, &e) == 0, "mount_find on a mount point"))
        return diag("%s", e.text);
    is_str(mi.target, at("a"), "its target");
    is_str(mi.fstype, "tmpfs", "its type");
    is_str(mi.source, "isotest", "its source");
    is_str(mi.root, "/", "its root");
    is_int(mi.id, mnt_id_of(at("a")), "its id is statx's mount id");
    is_int(mi.parent_id, mnt_id_of(D), "its parent is the mount it is on");
    ok((mi.flags & (MS_NOEXEC | MS_NOSUID)) == (MS_NOEXEC | MS_NOSUID), "noexec,nosuid in flags");
    ok(!(mi.flags & (MS_RDONLY | MS_NODEV)), "not ro, not nodev");
    ok(strstr(mi.vfs_options, "noexec") != NULL, "VFS options: %s", mi.vfs_options);
    ok(strstr(mi.fs_options, "size=1024k") != NULL, "fs options: %s", mi.fs_options);
    is_int(mi.propagation, 0, "private: no propagation");
    ok(!mi.network, "tmpfs is not a network file system");
    mount_info_clear(&mi);
    ok(mi.target == NULL && mi.fs_options == NULL, "mount_info_clear empties it");
}

/* What holds a path below a mount point, missing or not, a file, a symlink pointing out. */
static void test_find_holder(void)
{
    struct mount_info mi;
    struct err e;

    must(write_file(at("a/file"), "x"));
    must(symlink("/", at("a/link")));
    struct {
        const char *path, *holder, *what;
    } cases[] = {
        {at("a/file"), at("a"), "a file"},
        {at("a/missing/deeper"), at("a"), "a missing path: its nearest existing parent"},
        {at("a/file/x"), at("a"), "a path through a file"},
        {at("a/link"), at("a"), "a symlink is not followed"},
        {at(""), D, "the scratch directory's own tmpfs"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (!ok(mount_find(cases[i].path, &mi, &e) == 0, "mount_find: %s", cases[i].what)) {
            diag("%s", e.text);
            continue;
        }
        is_str(mi.target, cases[i].holder, "%s: held by %s", cases[i].what, cases[i].holder);
        mount_info_clear(&mi);
    }
}

/* Two mounts on one target: the one on top holds the path. A bind shows its root. */
static void test_find_stack_and_bind(void)
{
    struct mount_info mi;
    struct err e;
    int below = mnt_id_of(at("a"));

    must(mount("isotest", at("a"), "tmpfs", MS_RDONLY, NULL));
    if (ok(mount_find(at("a"), &mi, &e) == 0, "mount_find on a stacked mount point")) {
        ok(mi.flags & MS_RDONLY, "the top one (read-only) holds it");
        is_int(mi.parent_id, below, "it is on the one below");
        mount_info_clear(&mi);
    }
    tmpfs_at("c", 0, NULL);
    must(mkdir(at("c/sub"), 0755));
    must(mkdir(at("b"), 0755));
    must(mount(at("c/sub"), at("b"), NULL, MS_BIND, NULL));
    if (ok(mount_find(at("b"), &mi, &e) == 0, "mount_find on a bind")) {
        is_str(mi.root, "/sub", "a bind's root is the directory it shows");
        mount_info_clear(&mi);
    }
}

/* Shared, slave and unbindable mounts, as the propagation bits say. */
static void test_find_propagation(void)
{
    struct mount_info mi;
    struct err e;

    tmpfs_at("s", 0, NULL);
    must(mount(NULL, at("s"), NULL, MS_SHARED, NULL));
    must(mkdir(at("t"), 0755));
    must(mount(at("s"), at("t"), NULL, MS_BIND, NULL));
    must(mount(NULL, at("t"), NULL, MS_SLAVE, NULL));
    tmpfs_at("u", 0, NULL);
    must(mount(NULL, at("u"), NULL, MS_UNBINDABLE, NULL));
    const struct {
        const char *rel;
        unsigned long want;
    } cases[] = {{"s", MS_SHARED}, {"t", MS_SLAVE}, {"u", MS_UNBINDABLE}};
    for (size_t i = 0; i < 3; i++) {
        if (!ok(mount_find(at(cases[i].rel), &mi, &e) == 0, "mount_find %s", cases[i].rel)) {
            diag("%s", e.text);
            continue;
        }
        is_int(mi.propagation, cases[i].want, "%s: propagation %#lx", cases[i].rel, cases[i].want);
        mount_info_clear(&mi);
    }
}

static void test_find_errors(void)
{
    struct mount_info mi;
    struct err e;

    ok(mount_find("relative/path", &mi, &e) < 0 && strstr(e.text, "not an absolute path"),
       "a relative path is refused: %s", e.text);
    ok(mi.target == NULL, "and MI holds nothing");
}

/* The mounts at or below a directory, sorted by target, stacked ones in mount order. */
static void test_list(void)
{
    struct mount_list l;
    struct err e;

    tmpfs_at("l", 0, NULL);
    tmpfs_at("l", MS_NOEXEC, NULL);
    tmpfs_at("l/in", 0, NULL);
    tmpfs_at("lm", 0, NULL);
    if (!ok(mount_list_under(at("l"), &l, &e) == 0, "mount_list_under"))
        return diag("%s", e.text);
    is_int(l.n, 3, "the two mounts on l/ and the one below it, not the sibling lm/");
    if (l.n == 3) {
        is_str(l.v[0].target, at("l"), "first l/, the one below");
        ok(!(l.v[0].flags & MS_NOEXEC) && (l.v[1].flags & MS_NOEXEC), "then the one on top");
        is_str(l.v[2].target, at("l/in"), "then what is below it");
        is_int(l.v[2].id, mnt_id_of(at("l/in")), "with its id");
    }
    /* Read once: unmounting while walking backwards (as a sweep would) is safe. */
    int gone = 0;
    for (size_t i = l.n; i-- > 0;)
        gone += umount2(l.v[i].target, MNT_DETACH) == 0;
    is_int(gone, 3, "walked backwards, each one unmounts");
    mount_list_free(&l);
    ok(l.v == NULL && l.n == 0, "mount_list_free empties it");

    ok(mount_list_under(at("l"), &l, &e) == 0 && l.n == 0, "nothing left at or below l/");
    mount_list_free(&l);
    if (ok(mount_list_under("/", &l, &e) == 0 && l.n > 0, "\"/\" lists every mount"))
        is_str(l.v[0].target, "/", "the root first");
    mount_list_free(&l);
    ok(mount_list_under(at("l/"), &l, &e) < 0 && strstr(e.text, "trailing"),
       "a trailing / is refused: %s", e.text);
    ok(mount_list_under("tmp", &l, &e) < 0, "a relative path is refused");
}

int main(void)
{
    D = testfs_setup();
    test_find_fields();
    test_find_holder();
    test_find_stack_and_bind();
    test_find_propagation();
    test_find_errors();
    test_list();
    umount2(at("s"), MNT_DETACH);
    umount2(at("t"), MNT_DETACH);
    umount2(at("u"), MNT_DETACH);
    umount2(at("b"), MNT_DETACH);
    umount2(at("c"), MNT_DETACH);
    umount2(at("lm"), MNT_DETACH);
    umount2(at("a"), MNT_DETACH);
    umount2(at("a"), MNT_DETACH);
    testfs_cleanup(D);
    return done_testing();
}
