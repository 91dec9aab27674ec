/* Unit tests for the fs module (common/fs/), run as root in a private mount namespace (so the
 * bind and tmpfs mounts made here never reach the host), on a scratch tree under /var/lib. Most cases
 * are hostile: symlinks pointing out, loops, files where directories belong, directories
 * owned by someone else, mount points inside a tree, very deep and very wide trees. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/fs.h"
#include "tap.h"

#define NOBODY 65534

static char base[] = "/var/lib/safefs-test-XXXXXX";
static struct err e;

/* ---- helpers: the scratch tree is built with plain path calls; only safefs is under test ---- */

static void bail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void bail(const char *fmt, ...)
{
    va_list ap;

    printf("Bail out! ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(": %s\n", strerror(errno));
    exit(1);
}

/* A path under the scratch base; a few rotating buffers so calls can be nested. */
static const char *B(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *B(const char *fmt, ...)
{
    static char bufs[8][PATH_MAX];
    static int n;
    char *b = bufs[n++ % 8];
    va_list ap;
    int len = snprintf(b, PATH_MAX, "%s/", base);

    va_start(ap, fmt);
    vsnprintf(b + len, PATH_MAX - len, fmt, ap);
    va_end(ap);
    return b;
}

static void mkd(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
    if (mkdir(path, 0700) < 0 || chown(path, uid, gid) < 0 || chmod(path, mode) < 0)
        bail("mkdir %s", path);
}

static void mkf(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");

    if (!f || fputs(content, f) < 0 || fclose(f) != 0)
        bail("write %s", path);
}

static void mkl(const char *target, const char *path)
{
    if (symlink(target, path) < 0)
        bail("symlink %s", path);
}

static const char *slurp(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f)
        return "(missing)";
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static struct stat st_of(const char *path)
{
    struct stat st = {0};

    lstat(path, &st);
    return st;
}

static int dir_fd(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        bail("open %s", path);
    return fd;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    if (!d)
        bail("opendir /proc/self/fd");
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static int entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    int n = 0;

    if (!d)
        return -1;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

static void bind_mount(const char *src, const char *dst)
{
    if (mount(src, dst, "none", MS_BIND, NULL) < 0)
        bail("bind %s on %s", src, dst);
}

static void unmount(const char *path)
{
    if (umount2(path, MNT_DETACH) < 0)
        bail("umount %s", path);
}

/* Build a chain DIR/d/d/.../d DEPTH levels deep through fds (the path is longer than PATH_MAX),
 * with a file every 100 levels; return an fd on level KEEP (or -1). */
static int mkchain(const char *dir, int depth, int keep)
{
    int fd = dir_fd(dir), kept = -1, i;

    for (i = 1; i <= depth; i++) {
        int nfd;
        if (mkdirat(fd, "d", 0700) < 0 || (nfd = openat(fd, "d", O_RDONLY | O_DIRECTORY)) < 0)
            bail("chain level %d", i);
        if (i % 100 == 0) {
            int f = openat(nfd, "f", O_WRONLY | O_CREAT, 0600);
            if (f < 0)
                bail("chain file %d", i);
            close(f);
        }
        if (i - 1 == keep)
            kept = fd;
        else
            close(fd);
        fd = nfd;
    }
    if (depth == keep)
        return fd;
    close(fd);
    return kept;
}

/* ok(), showing the library's message when it fails. */
#define ok_e(cond, ...)                                                                            \
    do {                                                                                           \
        if (!ok(cond, __VA_ARGS__))                                                                \
            diag("message: %s", e.text);                                                           \
    } while (0)

static void expect_err(int rc, int want_errno, const char *want_text, const char *what)
{
    int err = errno;

    ok(rc == -1 && err == want_errno, "%s: refused (errno %s)", what, strerror(want_errno));
    if (rc != -1 || err != want_errno)
        diag("rc %d errno %d (%s) text: %s", rc, err, strerror(err), e.text);
    if (want_text && !ok(strstr(e.text, want_text) != NULL, "%s: message says why", what))
        diag("got \"%s\"; want it to contain \"%s\"", e.text, want_text);
}

/* ---- safe_open_root_dir --------------------------------------------------------------------- */

/* The fixtures of the open_root_dir and open_dir_at tests. */
static void build_root_fixtures(void)
{
    mkd(B("good"), 0700, 0, 0);
    mkd(B("real"), 0755, 0, 0);
    mkd(B("real/sub"), 0700, 0, 0);
    mkl(B("real"), B("lnk"));
    mkl(B("good"), B("lnkfinal"));
    mkd(B("open755"), 0755, 0, 0);
    mkd(B("nobody"), 0700, NOBODY, 0);
    mkd(B("ww"), 0777, 0, 0);
    mkd(B("ww/sub"), 0700, 0, 0);
    mkd(B("gw"), 0775, 0, 0);
    mkd(B("gw/sub"), 0700, 0, 0);
    mkd(B("sticky"), 01777, 0, 0);
    mkd(B("sticky/sub"), 0700, 0, 0);
    mkd(B("uown"), 0755, NOBODY, NOBODY);
    mkd(B("uown/sub"), 0700, 0, 0);
    mkf(B("afile"), "x");
}

static void test_root_dir_paths(void)
{
    expect_err(safe_open_root_dir("var/lib", false, &e), EINVAL, "must be an absolute path",
               "relative path");
    expect_err(safe_open_root_dir(B("real/../good"), false, &e), EINVAL, "not a normalised path",
               "path with ..");
    expect_err(safe_open_root_dir(B("./good"), false, &e), EINVAL, "not a normalised",
               "path with .");
    expect_err(safe_open_root_dir(B("/good"), false, &e), EINVAL, "not a normalised",
               "path with //");
    expect_err(safe_open_root_dir(B("good/"), false, &e), EINVAL, "not a normalised", "trailing /");
    expect_err(safe_open_root_dir("/", false, &e), EINVAL, "root directory itself", "/ itself");
}

/* Symlinks, files and missing components: nothing is followed, nothing made elsewhere. */
static void test_root_dir_types(void)
{
    expect_err(safe_open_root_dir(B("lnk/sub"), false, &e), ELOOP, NULL, "symlinked component");
    is_str(e.text, B("lnk: is a symlink; refusing to follow it"), "symlinked component: message");
    expect_err(safe_open_root_dir(B("lnkfinal"), false, &e), ELOOP,
               "is a symlink; refusing to follow it", "final symlink");
    expect_err(safe_open_root_dir(B("afile/sub"), false, &e), ENOTDIR,
               "afile: is a regular file, expected a directory", "file as a component");
    expect_err(safe_open_root_dir(B("afile"), true, &e), ENOTDIR, "is a regular file",
               "file as the final component");
    expect_err(safe_open_root_dir(B("missing"), false, &e), ENOENT, "missing: cannot open",
               "missing without create");
    ok(!exists(B("missing")), "missing without create: not created");
    expect_err(safe_open_root_dir(B("lnk/newdir"), true, &e), ELOOP, "is a symlink",
               "create through a symlink");
    ok(!exists(B("real/newdir")), "create through a symlink: nothing made at the target");
    mkl(B("nowhere"), B("dangling"));
    expect_err(safe_open_root_dir(B("dangling"), true, &e), ELOOP, "is a symlink",
               "create over a dangling symlink");
    ok(!exists(B("nowhere")), "create over a dangling symlink: target not made");
}

/* Owners and modes, of the final directory and of every one on the way. */
static void test_root_dir_owners(void)
{
    expect_err(safe_open_root_dir(B("open755"), false, &e), EPERM, NULL, "final dir 0755");
    is_str(e.text, B("open755: mode 0755, must give no access to group and others (chmod 0700)"),
           "final dir 0755: message");
    expect_err(safe_open_root_dir(B("nobody"), false, &e), EPERM, NULL, "final dir not root's");
    is_str(e.text, B("nobody: owned by uid 65534, must be owned by root"),
           "final dir not root's: message");
    expect_err(safe_open_root_dir(B("ww/sub"), false, &e), EPERM,
               "mode 0777, writable by group or others", "intermediate 0777");
    expect_err(safe_open_root_dir(B("gw/sub"), false, &e), EPERM,
               "mode 0775, writable by group or others", "intermediate group-writable");
    expect_err(safe_open_root_dir(B("sticky/sub"), false, &e), EPERM,
               "world-writable sticky directory (mode 1777)", "intermediate sticky like /tmp");
    expect_err(safe_open_root_dir(B("uown/sub"), false, &e), EPERM,
               "uown: owned by uid 65534, must be owned by root (on the way to",
               "intermediate not root's");
    expect_err(safe_open_root_dir(B("open755"), true, &e), EPERM, "chmod 0700",
               "create does not adopt a 0755 directory");
    is_int(st_of(B("open755")).st_mode & 07777, 0755, "create leaves the existing mode alone");
}

static void test_root_dir_opens(void)
{
    struct stat st, want = st_of(B("good"));
    int fd = safe_open_root_dir(B("good"), false, &e);

    ok_e(fd >= 0, "open_root_dir: a root 0700 directory opens");
    ok(fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == want.st_ino && st.st_dev == want.st_dev,
       "open_root_dir: the fd is on that directory");
    ok(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "open_root_dir: the fd is close-on-exec");
    if (fd >= 0)
        close(fd);

    umask(0);
    fd = safe_open_root_dir(B("new/a/b"), true, &e);
    ok_e(fd >= 0, "create: missing components made");
    is_int(st_of(B("new")).st_mode, S_IFDIR | 0755, "create: intermediate is 0755 (umask 0)");
    is_int(st_of(B("new/a")).st_mode, S_IFDIR | 0755, "create: second intermediate is 0755");
    is_int(st_of(B("new/a/b")).st_mode, S_IFDIR | 0700, "create: last is 0700");
    ok(st_of(B("new/a/b")).st_uid == 0 && st_of(B("new/a/b")).st_gid == 0,
       "create: last is root:root");
    if (fd >= 0)
        close(fd);
    umask(077);
    fd = safe_open_root_dir(B("new2/x"), true, &e);
    is_int(st_of(B("new2")).st_mode, S_IFDIR | 0755, "create: intermediate is 0755 (umask 077)");
    if (fd >= 0)
        close(fd);
    umask(022);

    /* a setgid parent would hand its group down; the base must still come out root:root */
    mkd(B("sg"), 02755, 0, NOBODY);
    fd = safe_open_root_dir(B("sg/c"), true, &e);
    ok_e(fd >= 0 && st_of(B("sg/c")).st_gid == 0 && (st_of(B("sg/c")).st_mode & 07777) == 0700,
         "create under a setgid parent: root:root 0700");
    if (fd >= 0)
        close(fd);
    fd = safe_open_root_dir(B("new/a/b"), true, &e);
    ok(fd >= 0, "create: an existing good directory is simply opened");
    if (fd >= 0)
        close(fd);
}

/* ---- safe_open_dir_at and name checks
 * ------------------------------------------------------------ */

static void test_names(void)
{
    const char *bad[] = {"", ".", "..", "a/b", "../good", "/good"};
    int dfd = dir_fd(base), fd;
    size_t i;

    fd = safe_open_dir_at(dfd, "good", &e);
    ok(fd >= 0, "open_dir_at: opens a directory");
    if (fd >= 0)
        close(fd);
    expect_err(safe_open_dir_at(dfd, "lnkfinal", &e), ELOOP, "is a symlink; refusing to follow",
               "open_dir_at: symlink");
    expect_err(safe_open_dir_at(dfd, "afile", &e), ENOTDIR, "is a regular file",
               "open_dir_at: file");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char what[64];
        snprintf(what, sizeof(what), "open_dir_at: bad name \"%s\"", bad[i]);
        expect_err(safe_open_dir_at(dfd, bad[i], &e), EINVAL, "must be one path component", what);
        snprintf(what, sizeof(what), "mkdir_at: bad name \"%s\"", bad[i]);
        expect_err(safe_mkdir_at(dfd, bad[i], 0700, 0, 0, &e), EINVAL, NULL, what);
        snprintf(what, sizeof(what), "remove_tree_at: bad name \"%s\"", bad[i]);
        expect_err(safe_remove_tree_at(dfd, bad[i], &e), EINVAL, NULL, what);
        ok(!safe_is_mountpoint_at(dfd, bad[i]), "is_mountpoint_at: bad name \"%s\" is false",
           bad[i]);
    }
    expect_err(safe_open_dir_at(dfd, NULL, &e), EINVAL, NULL, "open_dir_at: NULL name");
    ok(exists(B("good")) && exists(B("real/sub")), "bad names touched nothing");
    close(dfd);
}

/* ---- safe_mkdir_at -------------------------------------------------------------------------- */

static void test_mkdir_creates(int dfd)
{
    struct stat st;
    int fd;

    umask(077);
    fd = safe_mkdir_at(dfd, "a", 0755, 1000, 1000, &e);
    ok_e(fd >= 0, "mkdir_at: creates");
    st = st_of(B("mk/a"));
    ok(st.st_mode == (S_IFDIR | 0755) && st.st_uid == 1000 && st.st_gid == 1000,
       "mkdir_at: exact mode 0755 and owner 1000:1000 despite umask 077");
    ok(fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == st_of(B("mk/a")).st_ino,
       "mkdir_at: the fd is on the new directory");
    if (fd >= 0)
        close(fd);
    umask(022);
    fd = safe_mkdir_at(dfd, "a", 0755, 1000, 1000, &e);
    ok(fd >= 0, "mkdir_at: an existing exact match is reused");
    if (fd >= 0)
        close(fd);
    fd = safe_mkdir_at(dfd, "t", 01777, 0, 0, &e);
    is_int(st_of(B("mk/t")).st_mode, S_IFDIR | 01777, "mkdir_at: sticky 1777 exactly");
    if (fd >= 0)
        close(fd);
}

/* A setgid parent hands down its group and the setgid bit; the result must still be exact. */
static void test_mkdir_setgid_parent(void)
{
    struct stat st;
    int dfd, fd;

    mkd(B("mk/sg"), 02755, 0, NOBODY);
    dfd = dir_fd(B("mk/sg"));
    fd = safe_mkdir_at(dfd, "x", 0750, 1000, 1000, &e);
    st = st_of(B("mk/sg/x"));
    ok(fd >= 0 && st.st_gid == 1000 && st.st_mode == (S_IFDIR | 0750),
       "mkdir_at: under a setgid parent, group and mode are as asked");
    if (fd >= 0)
        close(fd);
    close(dfd);
}

static void test_mkdir_mismatch(int dfd)
{
    struct stat st;

    expect_err(safe_mkdir_at(dfd, "a", 0700, 1000, 1000, &e), EEXIST, NULL,
               "mkdir_at: existing with another mode");
    is_str(e.text,
           B("mk/a: already exists, owned by uid 1000 gid 1000 mode 0755; expected uid "
             "1000 gid 1000 mode 0700"),
           "mkdir_at: message names owner and mode");
    is_int(st_of(B("mk/a")).st_mode, S_IFDIR | 0755, "mkdir_at: mismatch leaves the mode alone");
    mkd(B("mk/b"), 0700, NOBODY, NOBODY);
    expect_err(safe_mkdir_at(dfd, "b", 0700, 1000, 1000, &e), EEXIST, "owned by uid 65534",
               "mkdir_at: pre-created by someone else");
    st = st_of(B("mk/b"));
    ok(st.st_uid == NOBODY && st.st_gid == NOBODY && (st.st_mode & 07777) == 0700,
       "mkdir_at: someone else's directory left untouched");
    expect_err(safe_mkdir_at(dfd, "m", 010000, 0, 0, &e), EINVAL, "invalid mode",
               "mkdir_at: mode with a type bit");
    ok(!exists(B("mk/m")), "mkdir_at: invalid mode creates nothing");
}

static void test_mkdir_not_a_dir(int dfd)
{
    struct stat st;

    mkd(B("mktarget"), 0700, 0, 0);
    mkd(B("mktarget1000"), 0700, 1000, 1000);
    mkl(B("mktarget"), B("mk/c"));
    expect_err(safe_mkdir_at(dfd, "c", 0700, 0, 0, &e), EEXIST,
               "is a symlink; refusing to follow it", "mkdir_at: symlink to a matching dir");
    mkl(B("mktarget1000"), B("mk/c2"));
    expect_err(safe_mkdir_at(dfd, "c2", 0755, 0, 0, &e), EEXIST, "is a symlink",
               "mkdir_at: symlink to a user's dir");
    st = st_of(B("mktarget1000"));
    ok(st.st_uid == 1000 && (st.st_mode & 07777) == 0700, "mkdir_at: symlink target untouched");
    ok(S_ISLNK(st_of(B("mk/c")).st_mode), "mkdir_at: the symlink is still there");
    mkl(B("mk-nowhere"), B("mk/d"));
    expect_err(safe_mkdir_at(dfd, "d", 0700, 0, 0, &e), EEXIST, "is a symlink",
               "mkdir_at: dangling symlink");
    ok(!exists(B("mk-nowhere")), "mkdir_at: dangling symlink's target not created");
    mkf(B("mk/f"), "x");
    expect_err(safe_mkdir_at(dfd, "f", 0700, 0, 0, &e), EEXIST, "is a regular file",
               "mkdir_at: a file in its place");
}

static void test_mkdir_at(void)
{
    int dfd;

    mkd(B("mk"), 0700, 0, 0);
    dfd = dir_fd(B("mk"));
    test_mkdir_creates(dfd);
    test_mkdir_mismatch(dfd);
    test_mkdir_not_a_dir(dfd);
    close(dfd);
    test_mkdir_setgid_parent();
}

/* Without root, the new mode 0 directory cannot be opened: the call fails and leaves nothing. */
static void test_mkdir_unprivileged(void)
{
    int status = -1;
    pid_t pid;

    mkd(B("mku"), 0700, 1000, 1000);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        int dfd = dir_fd(B("mku"));
        if (setgroups(0, NULL) < 0 || setgid(1000) < 0 || setuid(1000) < 0)
            _exit(2);
        if (safe_mkdir_at(dfd, "x", 0700, 1000, 1000, &e) != -1 || errno != EACCES)
            _exit(3);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && !exists(B("mku/x")),
       "mkdir_at: as a plain user it fails with EACCES and leaves nothing (exit %d)",
       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static bool no_xattr(const char *path, const char *name)
{
    return getxattr(path, name, NULL, 0) < 0 && errno == ENODATA;
}

/* A default ACL on the parent must not hand a new directory more access than its mode. */
static void test_mkdir_acl(void)
{
    struct __attribute__((packed)) {
        uint32_t version;
        struct __attribute__((packed)) {
            uint16_t tag, perm;
            uint32_t id;
        } ent[5];
    } acl = {2, {{0x01, 7, -1}, {0x02, 7, 1000}, {0x04, 5, -1}, {0x10, 7, -1}, {0x20, 0, -1}}};
    int dfd, fd;

    mkd(B("acl"), 0700, 0, 0);
    if (setxattr(B("acl"), "system.posix_acl_default", &acl, sizeof(acl), 0) < 0) {
        ok(1, "mkdir_at: inherited ACL # SKIP no POSIX ACLs here (%s)", strerror(errno));
        return;
    }
    dfd = dir_fd(B("acl"));
    fd = safe_mkdir_at(dfd, "x", 0750, 0, 0, &e);
    ok(fd >= 0 && no_xattr(B("acl/x"), "system.posix_acl_access") &&
           no_xattr(B("acl/x"), "system.posix_acl_default"),
       "mkdir_at: no ACL inherited from the parent's default ACL");
    is_int(st_of(B("acl/x")).st_mode, S_IFDIR | 0750, "mkdir_at: ... and the exact mode");
    if (fd >= 0)
        close(fd);
    mkd(B("acl/y"), 0750, 0, 0); /* made the plain way: it inherits the ACL */
    expect_err(safe_mkdir_at(dfd, "y", 0750, 0, 0, &e), EEXIST,
               "already exists with a POSIX ACL; expected mode 0750 and no ACL",
               "mkdir_at: an existing directory with an ACL");
    close(dfd);
}

/* ---- safe_is_local, safe_is_mountpoint_at
 * ---------------------------------------------------------- */

static void test_local_and_mounts(void)
{
    int dfd = dir_fd(base), fd;

    mkd(B("tmpfs"), 0700, 0, 0);
    if (mount("tmpfs", B("tmpfs"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0)
        bail("mount tmpfs");
    fd = dir_fd(B("tmpfs"));
    ok(safe_is_local(fd), "is_local: tmpfs is local");
    close(fd);
    ok(safe_is_local(dfd), "is_local: the scratch disk is local");
    ok(!safe_is_local(-1), "is_local: a bad fd is not called local");
    fd = safe_open_root_dir(B("tmpfs"), false, &e);
    ok_e(fd >= 0, "open_root_dir: a root 0700 tmpfs mount opens");
    if (fd >= 0)
        close(fd);

    mkd(B("bindsrc"), 0700, 0, 0);
    mkd(B("bindmnt"), 0700, 0, 0);
    bind_mount(B("bindsrc"), B("bindmnt"));
    ok(safe_is_mountpoint_at(dfd, "tmpfs"), "is_mountpoint_at: a tmpfs mount");
    ok(safe_is_mountpoint_at(dfd, "bindmnt"), "is_mountpoint_at: a bind mount on the same fs");
    ok(!safe_is_mountpoint_at(dfd, "bindsrc"), "is_mountpoint_at: its source is not");
    ok(!safe_is_mountpoint_at(dfd, "good"), "is_mountpoint_at: a plain directory is not");
    ok(!safe_is_mountpoint_at(dfd, "lnkfinal"), "is_mountpoint_at: a symlink is not");
    ok(!safe_is_mountpoint_at(dfd, "missing"), "is_mountpoint_at: a missing name is not");
    unmount(B("tmpfs"));
    unmount(B("bindmnt"));
    close(dfd);
}

/* ---- safe_resolve, safe_check_parents, safe_open_dir_path_at -------------------------------- */

/* FD (from safe_resolve) is the object at PATH: the walk ended where a plain lookup does. */
static bool same_as(int fd, const char *path)
{
    struct stat a, b;

    return fd >= 0 && fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

static void expect_resolves(const char *path, unsigned flags, const char *to, const char *what)
{
    int fd = safe_resolve(path, flags, NULL, &e);

    ok_e(same_as(fd, to), "resolve: %s", what);
    if (fd >= 0)
        close(fd);
}

/* Symlinks to follow and to refuse, loops, chains; built beside the root fixtures. */
static void build_resolve_fixtures(void)
{
    char name[32], next[32];

    mkl("real", B("rel"));
    mkl(B("real"), B("ulnk"));
    if (lchown(B("ulnk"), NOBODY, NOBODY) < 0)
        bail("lchown %s", B("ulnk"));
    mkl(B("real"), B("ww/lnk"));
    mkl(B("real"), B("uown/lnk"));
    mkl("loop2", B("loop1"));
    mkl("loop1", B("loop2"));
    mkl("self", B("self"));
    /* hop0 -> hop1 -> ... -> hop40 -> real: 41 links in one walk, one more than allowed. */
    for (int i = 0; i <= 40; i++) {
        snprintf(name, sizeof(name), "hop%d", i);
        snprintf(next, sizeof(next), i < 40 ? "hop%d" : "real", i + 1);
        mkl(next, B("%s", name));
    }
}

static void test_resolve_plain(void)
{
    expect_resolves(B("real/sub"), 0, B("real/sub"), "a plain directory");
    expect_resolves(B("afile"), 0, B("afile"), "a file (an O_PATH fd, no need to read it)");
    expect_resolves(B("real/sub/../sub/./"), 0, B("real/sub"), "\"..\" and \".\" are walked");
    expect_resolves(B("lnk/sub"), 0, B("real/sub"), "root's absolute symlink in a root-only dir");
    expect_resolves(B("rel/sub"), 0, B("real/sub"), "root's relative symlink in a root-only dir");
    expect_resolves(B("lnkfinal"), 0, B("good"), "a symlink as the last component is followed");
    expect_resolves(B("hop1"), 0, B("real"), "40 symlinks in one walk are followed");
    expect_err(safe_resolve(B("real/missing/x"), 0, NULL, &e), ENOENT, "component \"missing\"",
               "a missing component");
    ok(strncmp(e.text, B("real/missing/x"), strlen(B("real/missing/x"))) == 0,
       "resolve: the message starts with the path");
    expect_err(safe_resolve(B("afile/x"), 0, NULL, &e), ENOTDIR, "component \"x\"",
               "a file where a directory is expected");
}

static void test_resolve_links(void)
{
    expect_err(safe_resolve(B("ulnk/sub"), 0, NULL, &e), EPERM,
               "\"ulnk\" is a symlink a user could have made or changed (link owned by uid 65534",
               "a symlink owned by a user");
    expect_err(safe_resolve(B("ww/lnk/sub"), 0, NULL, &e), EPERM,
               "in a directory of uid 0, mode 0777", "root's symlink in a world-writable dir");
    expect_err(safe_resolve(B("uown/lnk"), 0, NULL, &e), EPERM,
               "in a directory of uid 65534, mode 0755", "root's symlink in a user's directory");
    ok(strstr(e.text, "name the real path in the policy") != NULL, "resolve: ...and says the fix");
    expect_err(safe_resolve(B("ulnk"), SAFE_RESOLVE_STRICT, NULL, &e), EPERM, "owned by uid 65534",
               "a user's symlink in strict mode too");
    ok(safe_resolve(B("loop1/x"), 0, NULL, &e) < 0 && strstr(e.text, "too many symlinks"),
       "resolve: a symlink loop ends");
    ok(safe_resolve(B("self"), 0, NULL, &e) < 0 && strstr(e.text, "too many symlinks"),
       "resolve: a symlink to itself ends");
    ok(safe_resolve(B("hop0/sub"), 0, NULL, &e) < 0 && strstr(e.text, "too many symlinks"),
       "resolve: 41 symlinks in one walk are too many");
}

static void test_resolve_strict(void)
{
    expect_resolves(B("real/sub"), SAFE_RESOLVE_STRICT, B("real/sub"), "strict: root-only dirs");
    expect_resolves(B("ww/sub"), 0, B("ww/sub"), "not strict: a world-writable dir on the way");
    expect_err(safe_resolve(B("ww/sub"), SAFE_RESOLVE_STRICT, NULL, &e), EPERM,
               "/ww (owner uid 0, mode 0777) may be written by users other than root",
               "strict: a world-writable dir on the way");
    ok(strstr(e.text, "chown root and chmod go-w ") != NULL, "strict: ...naming the fix");
    expect_err(safe_resolve(B("sticky/sub"), SAFE_RESOLVE_STRICT, NULL, &e), EPERM,
               "(owner uid 0, mode 1777)", "strict: a sticky shared dir on the way");
    ok(!strstr(e.text, "chmod go-w") && strstr(e.text, "move the path under directories"),
       "strict: ...where only moving the path helps");
    expect_err(safe_resolve(B("gw/sub"), SAFE_RESOLVE_STRICT, NULL, &e), EPERM, "mode 0775",
               "strict: a group-writable dir on the way");
    expect_err(safe_resolve(B("uown/sub"), SAFE_RESOLVE_STRICT, NULL, &e), EPERM,
               "(owner uid 65534, mode 0755)", "strict: a user's dir on the way");
    expect_err(safe_resolve(B("uown/not-yet"), SAFE_RESOLVE_STRICT, NULL, &e), EPERM,
               "(owner uid 65534", "strict: missing in a user's dir (the user could make it)");
    expect_err(safe_resolve(B("ww/not-yet"), SAFE_RESOLVE_STRICT, NULL, &e), EPERM, "mode 0777",
               "strict: missing in a world-writable dir");
    expect_err(safe_resolve(B("uown/not-yet"), 0, NULL, &e), ENOENT, "component \"not-yet\"",
               "not strict: that is just missing");
    expect_err(safe_resolve(B("real/not-yet"), SAFE_RESOLVE_STRICT, NULL, &e), ENOENT, "not-yet",
               "strict: missing in a root-only dir is just missing");
    expect_err(safe_resolve(B("real/../ww/sub"), SAFE_RESOLVE_STRICT, NULL, &e), EPERM, NULL,
               "strict: a world-writable dir reached through \"..\"");
    ok(strstr(e.text, B("ww (owner")) != NULL, "strict: ...named as %s", B("ww"));
}

/* The namespace builder may create what is missing, but only on the mounts it names. */
static void test_resolve_create(void)
{
    uint64_t id;
    int fd;

    mkd(B("own"), 0755, 0, 0);
    if (mount("tmpfs", B("own"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
        bail("mount tmpfs on %s", B("own"));
    fd = dir_fd(B("own"));
    id = safe_mount_id(fd);
    close(fd);
    if (!ok(id != 0, "resolve mount_id: the kernel reports mount ids")) {
        unmount(B("own"));
        return;
    }
    const struct safe_mounts own = {&id, 1}, other = {(uint64_t[]){id + 1}, 1};
    fd = dir_fd(B("own"));
    ok(safe_in_mounts(fd, &own) && !safe_in_mounts(fd, &other), "resolve in_mounts: by mount id");
    close(fd);
    expect_err(safe_resolve(B("own/a/b"), 0, NULL, &e), ENOENT, "component \"a\"",
               "resolve create: nothing is made without mounts to make it in");
    expect_err(safe_resolve(B("own/a/b"), 0, &other, &e), ENOENT, "component \"a\"",
               "resolve create: nothing is made on another mount");
    expect_err(safe_resolve(B("real/a/b"), 0, &own, &e), ENOENT, "component \"a\"",
               "resolve create: nothing is made outside the mounts named");
    ok(!exists(B("own/a")) && !exists(B("real/a")), "resolve create: ...really nothing");
    fd = safe_resolve(B("own/a/b"), 0, &own, &e);
    ok_e(same_as(fd, B("own/a/b")),
         "resolve create: missing components are made on the mounts named");
    ok(st_of(B("own/a/b")).st_uid == 0 && (st_of(B("own/a/b")).st_mode & 07777) == 0755 &&
           S_ISDIR(st_of(B("own/a")).st_mode),
       "resolve create: ...as root's directories, mode 0755");
    if (fd >= 0)
        close(fd);
    unmount(B("own"));
}

static void test_check_parents(void)
{
    ok_e(safe_check_parents(B("real/sub"), &e) == 0, "check_parents: accepts root-only dirs");
    ok_e(safe_check_parents(B("no/such/dir"), &e) == 0,
         "check_parents: and a path missing here (nothing more to check)");
    ok_e(safe_check_parents(B("afile/x"), &e) == 0, "check_parents: and a file on the way");
    expect_err(safe_check_parents(B("ww/sub"), &e), EPERM, "may be written by users other than",
               "check_parents: a world-writable dir on the way");
    expect_err(safe_check_parents(B("uown/not-yet"), &e), EPERM, "(owner uid 65534",
               "check_parents: a path missing in a user's dir");
    expect_err(safe_check_parents(B("ulnk/sub"), &e), EPERM, "owned by uid 65534",
               "check_parents: a user's symlink on the way");
}

static void test_open_dir_path_at(void)
{
    int dfd = dir_fd(base), fd;

    fd = safe_open_dir_path_at(dfd, "real/sub", &e);
    ok_e(same_as(fd, B("real/sub")), "open_dir_path_at: a relative path of directories");
    if (fd >= 0)
        close(fd);
    expect_err(safe_open_dir_path_at(dfd, "lnk/sub", &e), ELOOP, NULL,
               "open_dir_path_at: no symlink is followed");
    expect_err(safe_open_dir_path_at(dfd, "real/missing", &e), ENOENT, NULL,
               "open_dir_path_at: a missing directory");
    close(dfd);
}

static void test_resolve(void)
{
    build_resolve_fixtures();
    test_resolve_plain();
    test_resolve_links();
    test_resolve_strict();
    test_resolve_create();
    test_check_parents();
    test_open_dir_path_at();
}

/* ---- safe_remove_tree_at: hostile content
 * ---------------------------------------------------------- */

static void build_hostile_tree(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s;

    mkd(B("out"), 0755, 0, 0);
    mkf(B("out/file"), "precious");
    mkd(B("out/dir"), 0755, 0, 0);
    mkf(B("out/dir/inner"), "inner");
    mkd(B("rm/tree"), 0755, 0, 0);
    mkf(B("rm/tree/f1"), "x");
    mkd(B("rm/tree/d1"), 0755, 0, 0);
    mkf(B("rm/tree/d1/f2"), "x");
    mkd(B("rm/tree/d1/d2"), 0755, 0, 0);
    mkf(B("rm/tree/d1/d2/f3"), "x");
    mkl(B("out/file"), B("rm/tree/lnk_file"));
    mkl(B("out/dir"), B("rm/tree/d1/lnk_dir"));
    mkl("../../../out/dir", B("rm/tree/d1/lnk_rel"));
    mkl("loop2", B("rm/tree/loop1"));
    mkl("loop1", B("rm/tree/loop2"));
    mkl("self", B("rm/tree/self"));
    if (mkfifo(B("rm/tree/fifo"), 0600) < 0 ||
        mknod(B("rm/tree/null"), S_IFCHR | 0600, makedev(1, 3)) < 0 ||
        link(B("out/file"), B("rm/tree/hard")) < 0)
        bail("special files");
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", B("rm/tree/sock"));
    if ((s = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 || bind(s, (void *)&sa, sizeof(sa)) < 0)
        bail("socket");
    close(s);
    mkd(B("rm/tree/locked"), 0700, 0, 0);
    mkd(B("rm/tree/locked/inner"), 0700, 0, 0);
    mkf(B("rm/tree/locked/inner/f"), "x");
    mkf(B("rm/tree/locked/f"), "x");
    chmod(B("rm/tree/locked/inner/f"), 0);
    chmod(B("rm/tree/locked/inner"), 0);
    chmod(B("rm/tree/locked"), 0);
    mkd(B("rm/tree/u"), 0700, NOBODY, NOBODY);
    mkd(B("rm/tree/u/g"), 0500, NOBODY, NOBODY);
    mkl(B("out"), B("rm/tree/u/g/escape"));
}

static void test_remove_hostile(void)
{
    int dfd, rc;

    mkd(B("rm"), 0700, 0, 0);
    build_hostile_tree();
    dfd = dir_fd(B("rm"));
    rc = safe_remove_tree_at(dfd, "tree", &e);
    ok_e(rc == 0, "remove_tree: hostile tree removed");
    ok(!exists(B("rm/tree")), "remove_tree: nothing left of it");
    is_str(slurp(B("out/file")), "precious", "remove_tree: file behind a symlink intact");
    is_int(st_of(B("out/file")).st_nlink, 1, "remove_tree: hard link dropped, file intact");
    is_str(slurp(B("out/dir/inner")), "inner", "remove_tree: directory behind symlinks intact");
    is_int(entries(B("out")), 2, "remove_tree: the outside directory has all its entries");

    mkl(B("out/dir"), B("rm/lnkroot"));
    rc = safe_remove_tree_at(dfd, "lnkroot", &e);
    ok(rc == 0 && !exists(B("rm/lnkroot")), "remove_tree: a symlink as NAME is unlinked");
    is_str(slurp(B("out/dir/inner")), "inner", "remove_tree: ... and its target is untouched");
    mkf(B("rm/plain"), "x");
    ok(safe_remove_tree_at(dfd, "plain", &e) == 0 && !exists(B("rm/plain")),
       "remove_tree: a file as NAME is unlinked");
    ok(safe_remove_tree_at(dfd, "nope", &e) == 0, "remove_tree: a missing NAME is success");
    mkd(B("rm/theirs"), 0, NOBODY, NOBODY);
    mkf(B("rm/theirs/f"), "x");
    ok(safe_remove_tree_at(dfd, "theirs", &e) == 0 && !exists(B("rm/theirs")),
       "remove_tree: a user's mode 000 directory is removed");
    close(dfd);
}

/* ---- safe_remove_tree_at: mount points are never entered
 * -------------------------------------------- */

static void test_remove_bind_dir(int dfd)
{
    mkd(B("out2"), 0755, 0, 0);
    mkf(B("out2/keep"), "keep");
    mkd(B("rm/t2"), 0755, 0, 0);
    mkd(B("rm/t2/sub"), 0755, 0, 0);
    mkd(B("rm/t2/sub/mnt"), 0755, 0, 0);
    mkf(B("rm/t2/sub/zz"), "x");
    mkf(B("rm/t2/a"), "x");
    bind_mount(B("out2"), B("rm/t2/sub/mnt"));
    expect_err(safe_remove_tree_at(dfd, "t2", &e), EBUSY, NULL, "remove_tree: bind mount inside");
    is_str(e.text, B("rm/t2/sub/mnt: is a mount point; not entered"),
           "remove_tree: the message names the mount point");
    is_str(slurp(B("out2/keep")), "keep", "remove_tree: the bind-mounted directory is intact");
    ok(!exists(B("rm/t2/a")) && !exists(B("rm/t2/sub/zz")),
       "remove_tree: kept going and removed the rest");
    ok(exists(B("rm/t2/sub/mnt")), "remove_tree: the mount point and its parents stay");
    unmount(B("rm/t2/sub/mnt"));
    ok(safe_remove_tree_at(dfd, "t2", &e) == 0 && !exists(B("rm/t2")),
       "remove_tree: after umount it goes");
    is_str(slurp(B("out2/keep")), "keep", "remove_tree: ... and the source is still intact");
}

static void test_remove_other_mounts(int dfd)
{
    mkf(B("outf"), "keepf");
    mkd(B("rm/t3"), 0755, 0, 0);
    mkf(B("rm/t3/f"), "");
    bind_mount(B("outf"), B("rm/t3/f"));
    expect_err(safe_remove_tree_at(dfd, "t3", &e), EBUSY, "rm/t3/f: cannot remove",
               "remove_tree: a file bind mount inside");
    is_str(slurp(B("outf")), "keepf", "remove_tree: the bind-mounted file is intact");
    unmount(B("rm/t3/f"));

    mkd(B("rm/t4"), 0755, 0, 0);
    mkd(B("rm/t4/tm"), 0755, 0, 0);
    if (mount("tmpfs", B("rm/t4/tm"), "tmpfs", 0, "mode=0755") < 0)
        bail("mount tmpfs");
    mkf(B("rm/t4/tm/data"), "t");
    expect_err(safe_remove_tree_at(dfd, "t4", &e), EBUSY, "t4/tm: is a mount point",
               "remove_tree: a tmpfs inside");
    is_str(slurp(B("rm/t4/tm/data")), "t", "remove_tree: the tmpfs content is intact");
    unmount(B("rm/t4/tm"));

    /* a self bind mount has the same device and inode: only the mount id tells */
    mkd(B("rm/t5"), 0755, 0, 0);
    mkd(B("rm/t5/x"), 0755, 0, 0);
    mkf(B("rm/t5/x/f"), "self");
    bind_mount(B("rm/t5/x"), B("rm/t5/x"));
    expect_err(safe_remove_tree_at(dfd, "t5", &e), EBUSY, "t5/x: is a mount point",
               "remove_tree: a self bind mount (same dev and inode)");
    is_str(slurp(B("rm/t5/x/f")), "self", "remove_tree: its content is intact");
    unmount(B("rm/t5/x"));

    mkd(B("rm/mp"), 0755, 0, 0);
    bind_mount(B("out2"), B("rm/mp"));
    expect_err(safe_remove_tree_at(dfd, "mp", &e), EBUSY, "rm/mp: is a mount point; not entered",
               "remove_tree: NAME itself a mount point");
    is_str(slurp(B("out2/keep")), "keep", "remove_tree: its content is intact");
    unmount(B("rm/mp"));
    ok(safe_remove_tree_at(dfd, "t3", &e) == 0 && safe_remove_tree_at(dfd, "t4", &e) == 0 &&
           safe_remove_tree_at(dfd, "t5", &e) == 0 && safe_remove_tree_at(dfd, "mp", &e) == 0,
       "remove_tree: all gone once unmounted");
}

/* ---- safe_remove_tree_at: depth and width
 * ------------------------------------------------------------ */

/* Depth beyond the descriptor limit: a walk holding one fd per level would fail here. */
static void test_remove_deep(int dfd)
{
    struct rlimit old, low;
    int rc;

    mkd(B("fast/deep"), 0755, 0, 0);
    mkchain(B("fast/deep"), 10000, -1);
    getrlimit(RLIMIT_NOFILE, &old);
    low = old;
    low.rlim_cur = 256;
    setrlimit(RLIMIT_NOFILE, &low);
    rc = safe_remove_tree_at(dfd, "deep", &e);
    setrlimit(RLIMIT_NOFILE, &old);
    ok_e(rc == 0, "remove_tree: 10000 levels deep with RLIMIT_NOFILE 256");
    ok(!exists(B("fast/deep")), "remove_tree: the deep tree is gone");
}

/* Remove NAME in DFD with at most FDS_FREE descriptors beyond those open now: a walk holding
 * more (one per level, or the old anchors) fails with EMFILE before the tree is gone. */
static int remove_bounded(int dfd, const char *name, int fds_free)
{
    struct rlimit old, low;
    int rc;

    getrlimit(RLIMIT_NOFILE, &old);
    low = old;
    low.rlim_cur = (rlim_t)(count_fds() + fds_free);
    setrlimit(RLIMIT_NOFILE, &low);
    rc = safe_remove_tree_at(dfd, name, &e);
    setrlimit(RLIMIT_NOFILE, &old);
    return rc;
}

/* No depth stops the walk (issue 7: chains of 16,400 levels survived the epilog). */
static void test_remove_deeper(int dfd, int depth)
{
    int fds = count_fds(), rc;
    char name[32];

    snprintf(name, sizeof(name), "deeper%d", depth);
    mkd(B("fast/%s", name), 0755, 0, 0);
    mkchain(B("fast/%s", name), depth, -1);
    rc = remove_bounded(dfd, name, 80);
    ok_e(rc == 0, "remove_tree: %d levels deep with 80 free descriptors", depth);
    ok(!exists(B("fast/%s", name)), "remove_tree: nothing left of %d levels", depth);
    is_int(count_fds(), fds, "remove_tree: no descriptor left open after %d levels", depth);
}

/* What a job did: several chains side by side, each deeper than the old limit. */
static void test_remove_chains(int dfd)
{
    int i, rc;

    mkd(B("fast/job"), 0700, 0, 0);
    mkd(B("fast/job/tmp"), 01777, 0, 0);
    for (i = 0; i < 8; i++) {
        mkd(B("fast/job/tmp/c%d", i), 0755, 0, 0);
        mkchain(B("fast/job/tmp/c%d", i), 16500, -1);
    }
    rc = remove_bounded(dfd, "job", 80);
    ok_e(rc == 0, "remove_tree: 8 chains of 16500 levels with 80 free descriptors");
    ok(!exists(B("fast/job")), "remove_tree: nothing left of the 8 chains");
}

/* Path components of the directory open on FD below the scratch tree "fast/". */
static int depth_below_fast(int fd)
{
    char link[64], path[PATH_MAX];
    const char *p;
    ssize_t n;
    int depth = 0;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    if ((n = readlink(link, path, sizeof(path) - 1)) < 0)
        return -1; /* longer than PATH_MAX: far too deep */
    path[n] = '\0';
    for (p = path + strlen(B("fast")); *p; p++)
        depth += *p == '/';
    return depth;
}

/* Deep down in a chain: a symlink to the outside and a mount point; neither is followed. */
static int deep_hostile_chain(void)
{
    int lvl, mp;
    char path[64];

    mkd(B("fast/dh"), 0755, 0, 0);
    lvl = mkchain(B("fast/dh"), 20000, 17000);
    if (symlinkat(B("out3"), lvl, "l") < 0 || symlinkat(B("out3/keep"), lvl, "lf") < 0 ||
        mkdirat(lvl, "m", 0755) < 0)
        bail("deep hostile chain");
    snprintf(path, sizeof(path), "/proc/self/fd/%d/m", lvl);
    bind_mount(B("out2"), path);
    if ((mp = openat(lvl, "m", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        bail("open the deep mount point");
    close(lvl);
    return mp;
}

static void test_remove_deep_hostile(int dfd)
{
    int mp = deep_hostile_chain(), rc, d;
    char path[64];

    rc = safe_remove_tree_at(dfd, "dh", &e);
    expect_err(rc, EBUSY, "/m: is a mount point; not entered",
               "remove_tree: 20000 levels, a mount inside");
    is_str(slurp(B("out2/keep")), "keep", "remove_tree: the deep mount is not entered");
    is_str(slurp(B("out3/keep")), "keep", "remove_tree: the deep symlink is not followed");
    is_int(entries(B("out3")), 1, "remove_tree: ... and nothing is removed behind it");
    d = depth_below_fast(mp);
    ok(d > 0 && d < 200, "remove_tree: what stays is short: the mount point is %d levels down", d);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", mp);
    unmount(path);
    close(mp);
    ok_e(safe_remove_tree_at(dfd, "dh", &e) == 0 && !exists(B("fast/dh")),
         "remove_tree: after umount the rest goes");
    is_str(slurp(B("out2/keep")), "keep", "remove_tree: ... and the mount's source is intact");
}

/* A chain made by a user, with directories the user closed (0500) and sticky ones like /tmp. */
static void user_chain(const char *dir, int depth)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY), i;

    /* opened first: the scratch base above it is closed to the user */
    if (fd < 0 || setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
        _exit(1);
    for (i = 1; i <= depth; i++) {
        int nfd;
        if (mkdirat(fd, "u", 0700) < 0 || (nfd = openat(fd, "u", O_RDONLY | O_DIRECTORY)) < 0)
            _exit(1);
        if (fchmod(fd, i % 3 ? 0500 : 01777) < 0)
            _exit(1);
        close(fd);
        fd = nfd;
    }
    _exit(0);
}

static void test_remove_deep_user(int dfd)
{
    int status;
    pid_t pid;

    mkd(B("fast/du"), 0700, NOBODY, NOBODY);
    fflush(stdout);
    if ((pid = fork()) < 0)
        bail("fork");
    if (pid == 0)
        user_chain(B("fast/du"), 20000);
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        bail("the user's chain");
    ok_e(remove_bounded(dfd, "du", 80) == 0 && !exists(B("fast/du")),
         "remove_tree: a user's 20000 levels (modes 0500 and 1777) are removed");
}

static void test_remove_wide(int dfd)
{
    int wfd, i, rc;
    char name[32];

    mkd(B("rm/wide"), 0755, 0, 0);
    wfd = dir_fd(B("rm/wide"));
    for (i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "file-%05d", i);
        int f = openat(wfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (f < 0)
            bail("wide file");
        close(f);
    }
    for (i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "dir-%03d", i);
        if (mkdirat(wfd, name, 0700) < 0)
            bail("wide dir");
    }
    close(wfd);
    rc = safe_remove_tree_at(dfd, "wide", &e);
    ok_e(rc == 0 && !exists(B("rm/wide")), "remove_tree: 10000 files and 300 directories");
}

/* ---- safe_set_aside_at
 * ------------------------------------------------------------------------------ */

static void test_set_aside(int dfd)
{
    char aside[NAME_MAX + 1];

    mkd(B("rm/left"), 0700, 0, 0);
    mkf(B("rm/left/f"), "stays");
    ok_e(safe_set_aside_at(dfd, "left", aside, sizeof(aside), &e) == 0,
         "set_aside: a directory is set aside");
    is_str(aside, ".left.left-0", "set_aside: ... under a dot-name");
    ok(!exists(B("rm/left")) && !strcmp(slurp(B("rm/.left.left-0/f")), "stays"),
       "set_aside: ... with its content");
    mkd(B("rm/left"), 0700, 0, 0);
    ok_e(safe_set_aside_at(dfd, "left", aside, sizeof(aside), &e) == 0 &&
             !strcmp(aside, ".left.left-1") && exists(B("rm/.left.left-0/f")),
         "set_aside: a second one gets a fresh name; nothing is replaced");
    expect_err(safe_set_aside_at(dfd, "left", aside, sizeof(aside), &e), ENOENT, "rm/left",
               "set_aside: a missing name");
    expect_err(safe_set_aside_at(dfd, "a/b", aside, sizeof(aside), &e), EINVAL, NULL,
               "set_aside: a name with a slash");
    mkd(B("rm/mleft"), 0700, 0, 0);
    bind_mount(B("out2"), B("rm/mleft"));
    expect_err(safe_set_aside_at(dfd, "mleft", aside, sizeof(aside), &e), EBUSY, "rm/mleft",
               "set_aside: a mount point stays where it is");
    unmount(B("rm/mleft"));
    ok(safe_remove_tree_at(dfd, ".left.left-0", &e) == 0 &&
           safe_remove_tree_at(dfd, ".left.left-1", &e) == 0 &&
           safe_remove_tree_at(dfd, "mleft", &e) == 0,
       "set_aside: what was set aside can be removed");
}

/* ---- safe_empty_dir
 * ----------------------------------------------------------------------------------- */

static void test_empty_dir(void)
{
    int fd, rc;

    mkd(B("rm/e"), 0700, 0, 0);
    mkf(B("rm/e/f"), "x");
    mkd(B("rm/e/d"), 0700, NOBODY, NOBODY);
    mkf(B("rm/e/d/f"), "x");
    mkl(B("out/dir"), B("rm/e/lnk"));
    fd = dir_fd(B("rm/e"));
    rc = safe_empty_dir(fd, &e);
    ok_e(rc == 0, "empty_dir: succeeds");
    is_int(entries(B("rm/e")), 0, "empty_dir: the directory is empty");
    is_int(st_of(B("rm/e")).st_mode, S_IFDIR | 0700, "empty_dir: the directory itself stays");
    is_str(slurp(B("out/dir/inner")), "inner", "empty_dir: symlink target untouched");
    ok(lseek(fd, 0, SEEK_CUR) == 0, "empty_dir: the caller's fd offset did not move");

    mkd(B("rm/e/m"), 0700, 0, 0);
    mkf(B("rm/e/z"), "x");
    bind_mount(B("out2"), B("rm/e/m"));
    expect_err(safe_empty_dir(fd, &e), EBUSY, "rm/e/m: is a mount point; not entered",
               "empty_dir: a mount point inside");
    ok(!exists(B("rm/e/z")) && exists(B("out2/keep")), "empty_dir: kept going, mount intact");
    unmount(B("rm/e/m"));
    close(fd);

    fd = open(B("outf"), O_RDONLY | O_CLOEXEC);
    expect_err(safe_empty_dir(fd, &e), ENOTDIR, "is a regular file", "empty_dir: on a file");
    close(fd);
}

/* ---- a race: a user swaps a directory and a symlink to the outside while we remove
 * ---------------------- */

/* Whatever the interleaving, nothing outside the tree may be touched. */
static void test_remove_race(int dfd)
{
    int round, refused = 0, i;

    mkd(B("out3"), 0755, 0, 0);
    mkf(B("out3/keep"), "keep");
    for (round = 0; round < 40; round++) {
        int sync[2];
        char c;
        pid_t pid;
        mkd(B("fast/race"), 0755, 0, 0);
        mkd(B("fast/race/a"), 0755, 0, 0);
        for (i = 0; i < 300; i++)
            mkf(B("fast/race/a/f%d", i), "x");
        mkl(B("out3"), B("fast/race/l"));
        fflush(stdout); /* or the child's copy of the buffer is printed twice */
        if (pipe(sync) < 0 || (pid = fork()) < 0)
            bail("fork");
        if (pid == 0) {
            int rfd = open(B("fast/race"), O_RDONLY | O_DIRECTORY);
            if (write(sync[1], "x", 1) != 1)
                _exit(1);
            while (renameat2(rfd, "a", rfd, "l", RENAME_EXCHANGE) == 0)
                ;
            _exit(0);
        }
        close(sync[1]);
        if (read(sync[0], &c, 1) != 1)
            bail("sync");
        close(sync[0]);
        if (safe_remove_tree_at(dfd, "race", &e) < 0 && refused++ == 0)
            diag("race: first refusal: %s", e.text);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        if (safe_remove_tree_at(dfd, "race", &e) < 0)
            bail("race cleanup: %s", e.text);
    }
    diag("race: %d of 40 rounds saw a swap and refused", refused);
    is_str(slurp(B("out3/keep")), "keep",
           "race: the directory behind the swapped symlink is intact");
    is_int(entries(B("out3")), 1, "race: ... with nothing removed from it");
}

/* The same ten levels down a 600-level chain, whose deeper parts the walk moves up meanwhile. */
static void test_remove_race_deep(int dfd)
{
    int round, refused = 0;

    for (round = 0; round < 10; round++) {
        int sync[2], lvl = dir_fd(B("fast"));
        char c;
        pid_t pid;
        mkd(B("fast/rdeep"), 0755, 0, 0);
        mkchain(B("fast/rdeep"), 600, -1);
        close(lvl);
        lvl = dir_fd(B("fast/rdeep/d/d/d/d/d/d/d/d/d/d"));
        fflush(stdout);
        if (symlinkat(B("out3"), lvl, "l") < 0 || pipe(sync) < 0 || (pid = fork()) < 0)
            bail("race setup");
        if (pid == 0) {
            if (write(sync[1], "x", 1) != 1)
                _exit(1);
            while (renameat2(lvl, "d", lvl, "l", RENAME_EXCHANGE) == 0)
                ;
            _exit(0);
        }
        close(sync[1]);
        if (read(sync[0], &c, 1) != 1)
            bail("sync");
        close(sync[0]);
        if (safe_remove_tree_at(dfd, "rdeep", &e) < 0 && refused++ == 0)
            diag("deep race: first refusal: %.100s...", e.text);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(lvl);
        if (safe_remove_tree_at(dfd, "rdeep", &e) < 0)
            bail("race cleanup: %s", e.text);
    }
    diag("deep race: %d of 10 rounds saw a swap and refused", refused);
    is_str(slurp(B("out3/keep")), "keep", "deep race: the directory behind the symlink is intact");
    is_int(entries(B("out3")), 1, "deep race: ... with nothing removed from it");
}

/* ---- main
 * ---------------------------------------------------------------------------------------------- */

/* The deep trees and the races run on a tmpfs: tens of thousands of directories made and
 * removed would only wear the shared disk and slow the test down. */
static int fast_fs(void)
{
    mkd(B("fast"), 0700, 0, 0);
    if (mount("tmpfs", B("fast"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0)
        bail("mount tmpfs on %s", B("fast"));
    return dir_fd(B("fast"));
}

/* Mounts made by the tests must not reach the host: a private mount namespace of our own. */
static void private_namespace(void)
{
    struct stat st;

    if (geteuid() != 0)
        skip_all("needs root: the functions under test check for root ownership");
    if (unshare(CLONE_NEWNS) < 0)
        skip_all("cannot unshare a mount namespace (needs CAP_SYS_ADMIN)");
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
        skip_all("cannot make / private in the new mount namespace");
    if (stat("/var/lib", &st) < 0 || st.st_uid != 0 || (st.st_mode & 022))
        skip_all("/var/lib is not root-owned and closed to writes by others here");
}

int main(void)
{
    int fds, dfd;

    private_namespace();
    if (!mkdtemp(base) || chmod(base, 0700) < 0)
        bail("mkdtemp %s", base);
    umask(022);
    fds = count_fds();
    build_root_fixtures();
    test_root_dir_paths();
    test_root_dir_types();
    test_root_dir_owners();
    test_root_dir_opens();
    test_names();
    test_mkdir_at();
    test_mkdir_acl();
    test_mkdir_unprivileged();
    test_local_and_mounts();
    test_resolve();
    test_remove_hostile();
    dfd = dir_fd(B("rm"));
    test_remove_bind_dir(dfd);
    test_remove_other_mounts(dfd);
    test_remove_wide(dfd);
    test_set_aside(dfd);
    test_empty_dir();
    close(dfd);
    dfd = fast_fs();
    test_remove_deep(dfd);
    test_remove_deeper(dfd, 20000);
    test_remove_deeper(dfd, 70000);
    test_remove_chains(dfd);
    test_remove_deep_user(dfd);
    test_remove_race(dfd);
    test_remove_race_deep(dfd);
    test_remove_deep_hostile(dfd);
    close(dfd);
    unmount(B("fast"));
    is_int(count_fds(), fds, "no descriptor leaked");

    dfd = open("/var/lib", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ok_e(safe_remove_tree_at(dfd, strrchr(base, '/') + 1, &e) == 0 && !exists(base),
         "the scratch tree is removed");
    close(dfd);
    return done_testing();
}
