/* Disk quotas for instances, for real: btrfs qgroups on a loop-mounted btrfs, ext4 and XFS
 * project quotas where this kernel has them (skipped with the reason where it has not), the
 * isolationctl check warning, and hostile instance names. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/btrfs.h>

#include "store/store.h"
#include "policy/policy.h"
#include "fs/fs.h"
#include "testfs.h"

#define USER 4321
#define MIB (1024 * 1024)
#define LIMIT (10 * MIB)

static const char *scratch;

/* Run a shell command quietly; its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd) - 32, fmt, ap);
    va_end(ap);
    strcat(cmd, " >/dev/null 2>&1");
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void unmount_fs(const char *mnt)
{
    char img[600];

    umount2(mnt, MNT_DETACH);
    snprintf(img, sizeof(img), "%s.img", mnt);
    unlink(img);
}

/* A TYPE file system on an image in the scratch dir, mounted on scratch/TYPE with OPTS; false
 * with the reason in WHY when this host cannot. */
static bool mount_fs(const char *type, const char *mkfs, const char *opts, char *mnt, size_t size,
                     char *why, size_t wsize)
{
    snprintf(mnt, size, "%s/%s", scratch, type);
    mkdir(mnt, 0755);
    if (sh("command -v %s", mkfs) != 0) {
        snprintf(why, wsize, "%s is not installed (scripts/deps installs it)", mkfs);
        return false;
    }
    if (sh("truncate -s 320M %s.img && %s %s.img", mnt, mkfs, mnt) != 0) {
        snprintf(why, wsize, "%s failed", mkfs);
        return false;
    }
    if (sh("mount -o loop%s%s %s.img %s", opts ? "," : "", opts ? opts : "", mnt, mnt) != 0) {
        snprintf(why, wsize, "this kernel cannot mount %s with loop%s%s", type, opts ? "," : "",
                 opts ? opts : "");
        unmount_fs(mnt);
        return false;
    }
    return true;
}

struct fill {
    long long bytes;
    int err;
    long files;
};

/* As USER in a child: write DIR/fill by MiB until a write fails (or 64 MiB), or with FILES,
 * create empty files until one fails (or 100000). */
static struct fill fill_as_user(const char *dir, bool files)
{
    struct fill r = {0, 0, 0};
    int p[2];
    pid_t pid;

    if (pipe(p) < 0)
        return r;
    if ((pid = fork()) == 0) {
        static char buf[MIB];
        char f[1024];
        int fd = -1;
        /* Opened as root: the user reaches it through the job's namespace, not the base. */
        if (chdir(dir) < 0 || setgroups(0, NULL) < 0 || setresgid(USER, USER, USER) < 0 ||
            setresuid(USER, USER, USER) < 0)
            _exit(1);
        snprintf(f, sizeof(f), "fill");
        if (!files && (fd = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
            r.err = errno;
        while (!files && fd >= 0 && !r.err && r.bytes < 64LL * MIB) {
            ssize_t n = write(fd, buf, sizeof(buf));
            if (n < 0)
                r.err = errno;
            else
                r.bytes += n;
        }
        if (fd >= 0 && !r.err && fsync(fd) < 0)
            r.err = errno;
        while (files && !r.err && r.files < 100000) {
            snprintf(f, sizeof(f), "f%ld", r.files);
            if ((fd = open(f, O_WRONLY | O_CREAT, 0600)) < 0)
                r.err = errno;
            else
                r.files++, close(fd);
        }
        if (write(p[1], &r, sizeof(r)) != sizeof(r))
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    if (pid < 0 || read(p[0], &r, sizeof(r)) != sizeof(r))
        r.err = -1;
    close(p[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return r;
}

/* Lines of `btrfs CMD MNT` naming a subvolume or a qgroup other than the top level's 0/5. */
static int btrfs_count(const char *cmd, const char *mnt)
{
    char line[512], c[1024];
    int n = 0;
    FILE *f;

    snprintf(c, sizeof(c), "btrfs %s %s 2>/dev/null", cmd, mnt);
    if (!(f = popen(c, "r")))
        return -1;
    while (fgets(line, sizeof(line), f))
        if ((strncmp(line, "0/", 2) == 0 && strncmp(line, "0/5 ", 4) != 0) ||
            strncmp(line, "ID ", 3) == 0)
            n++;
    pclose(f);
    return n;
}

/* The cleaner drops deleted subvolumes in the background: wait for it, bounded (10 s). */
static int qgroups_left(const char *mnt)
{
    int n = -1;

    sh("btrfs subvolume sync %s", mnt);
    for (int i = 0; i < 100 && (n = btrfs_count("qgroup show --raw", mnt)) != 0; i++)
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    return n;
}

/* Warnings from isolationctl check's host checks for a policy with a disk size on BASE. */
static int lint_warnings(const char *base, const char *want)
{
    char text[1024], line[1200];
    struct diag_list d;
    struct policy *p;
    int n = 0;

    snprintf(text, sizeof(text),
             "version: 1\ninstance_base: %s\ndefault_profile: a\nprofiles:\n  a:\n"
             "    polydirs:\n      - {path: /tmp, backing: disk, size: 10M}\n",
             base);
    diag_list_init(&d, "q.yaml");
    if ((p = policy_parse(text, strlen(text), "q.yaml", &d)))
        policy_lint(p, &d);
    for (size_t i = 0; i < d.count; i++) {
        diag_format(&d, i, line, sizeof(line));
        diag("%s", line);
        n += d.v[i].severity == DIAG_WARNING && strstr(line, want) && strstr(line, "q.yaml:7:");
    }
    policy_free(p);
    diag_list_free(&d);
    return n;
}

static int make(struct instance_store *s, struct instance_job *job, enum scope sc, char *rel)
{
    struct plan_polydir d = {
        .path = "/tmp", .backing = BACKING_DISK, .scope = sc, .size_bytes = LIMIT};
    struct err e;
    int rc = instance_make(s, job, &d, USER, USER, 01777, rel, 512, &e);

    if (rc < 0)
        diag("instance_make: %s", e.text);
    return rc;
}

/* Open (creating) the store and job JOB_ID's directory; the store lock is held. */
static struct instance_store *open_job(const char *base, uint32_t job_id, struct instance_job *j)
{
    struct err e;
    struct instance_store *s = instance_store_open(base, true, &e);

    if (!s || instance_store_lock(s, &e) < 0 || instance_job_open(s, job_id, true, j, &e) < 0) {
        diag("store: %s", e.text);
        instance_store_close(s);
        return NULL;
    }
    return s;
}

static void test_quotas_off(const char *mnt, const char *base)
{
    struct err e;
    int fd = open(mnt, O_RDONLY | O_DIRECTORY);

    ok(quota_probe(fd, mnt, &e) == QUOTA_NONE && strstr(e.text, "btrfs quota enable"),
       "btrfs with quotas off: the probe says so and names the fix");
    diag("%s", e.text);
    ok(quota_mkdir_at(fd, "x", LIMIT, 0700, USER, USER, &e) < 0 &&
           strstr(e.text, "btrfs quota enable"),
       "an instance cannot be made without quotas: it fails closed with the fix");
    diag("%s", e.text);
    ok(faccessat(fd, "x", F_OK, AT_SYMLINK_NOFOLLOW) < 0 && btrfs_count("subvolume list", mnt) == 0,
       "...and leaves no subvolume behind");
    is_int(lint_warnings(base, "btrfs quota enable"), 1,
           "isolationctl check warns at the size, naming btrfs quota enable");
    close(fd);
}

static void test_job_instances(const char *mnt, const char *base)
{
    struct instance_job j1, j2;
    struct instance_store *s;
    char rel[512], p[1024];
    struct stat st;
    struct fill f;
    struct err e;

    if (!(s = open_job(base, 71, &j1)) || instance_job_open(s, 72, true, &j2, &e) < 0) {
        ok(0, "the store and two jobs are set up");
        return;
    }
    ok(make(s, &j1, SCOPE_JOB, rel) == 0 && make(s, &j2, SCOPE_JOB, rel) == 0,
       "two jobs get a /tmp instance sized 10M");
    snprintf(p, sizeof(p), "%s/job/71/tmp", base);
    ok(stat(p, &st) == 0 && st.st_ino == 256 && st.st_uid == USER && (st.st_mode & 07777) == 01777,
       "...a btrfs subvolume, owned by the user, with the polydir's mode");
    instance_job_close(&j1);
    instance_job_close(&j2);
    instance_store_unlock(s);
    f = fill_as_user(p, false);
    ok(f.err == EDQUOT && f.bytes >= 8 * MIB && f.bytes <= LIMIT + MIB,
       "the user cannot write past 10 MiB: EDQUOT after %lld bytes", f.bytes);
    snprintf(p, sizeof(p), "%s/job/72/tmp", base);
    f = fill_as_user(p, false);
    ok(f.err == EDQUOT && f.bytes >= 8 * MIB,
       "while the first is full, the other job still writes its own /tmp (%lld bytes)", f.bytes);
    ok(instance_job_remove(s, 71, &e) == 0 && instance_job_remove(s, 72, &e) == 0,
       "both jobs are removed");
    ok(btrfs_count("subvolume list", mnt) == 0, "no subvolume is left");
    is_int(qgroups_left(mnt), 0, "no qgroup is left");
    instance_store_close(s);
}

static void test_user_instances(const char *mnt, const char *base)
{
    struct instance_job j1, j2;
    struct instance_store *s;
    char rel[512], p[2048];
    struct err e;

    if (!(s = open_job(base, 81, &j1)) || instance_job_open(s, 82, true, &j2, &e) < 0) {
        ok(0, "the store and two jobs are set up");
        return;
    }
    ok(make(s, &j1, SCOPE_USER, rel) == 0 && make(s, &j2, SCOPE_USER, rel) == 0,
       "a scope: user instance sized 10M is shared by the user's two jobs");
    instance_job_close(&j1);
    instance_job_close(&j2);
    instance_store_unlock(s);
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    ok(fill_as_user(p, false).err == EDQUOT, "...and limited");
    ok(instance_job_remove(s, 81, &e) == 0 && btrfs_count("subvolume list", mnt) == 1,
       "it stays while a job of the user remains");
    ok(instance_job_remove(s, 82, &e) == 0 && btrfs_count("subvolume list", mnt) == 0,
       "it goes with the user's last job");
    is_int(qgroups_left(mnt), 0, "...and so does its qgroup");
    instance_store_close(s);
}

/* The instance name taken by a symlink pointing out, or by a plain directory of the user. */
static void test_hostile(const char *mnt)
{
    char p[1024], out[1024];
    struct stat st;
    struct err e;
    int fd;

    snprintf(p, sizeof(p), "%s/hostile", mnt);
    snprintf(out, sizeof(out), "%s/outside", mnt);
    must(mkdir(p, 0700));
    must(mkdir(out, 0755));
    must(fd = open(p, O_RDONLY | O_DIRECTORY));
    must(symlinkat(out, fd, "tmp"));
    ok(quota_mkdir_at(fd, "tmp", LIMIT, 01777, USER, USER, &e) < 0,
       "a symlink in the instance's place is refused");
    diag("%s", e.text);
    ok(fstatat(fd, "tmp", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) &&
           stat(out, &st) == 0 && st.st_uid == 0 && (st.st_mode & 07777) == 0755 &&
           btrfs_count("subvolume list", mnt) == 0,
       "...left alone, and its target untouched");
    must(mkdirat(fd, "var-tmp", 01777));
    must(fchownat(fd, "var-tmp", USER, USER, 0));
    must(fchmodat(fd, "var-tmp", 01777, 0));
    ok(quota_mkdir_at(fd, "var-tmp", LIMIT, 01777, USER, USER, &e) < 0 &&
           strstr(e.text, "no quota"),
       "a plain directory of the user in the instance's place is refused (it has no quota)");
    diag("%s", e.text);
    ok(fstatat(fd, "var-tmp", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino != 256 &&
           st.st_uid == USER && btrfs_count("subvolume list", mnt) == 0,
       "...and left as it was");
    close(fd);
    must(fd = open(mnt, O_RDONLY | O_DIRECTORY));
    ok(quota_remove_instances_in(fd, "hostile", &e) == 0 && stat(strcat(p, "/var-tmp"), &st) == 0,
       "removing sized instances leaves what is not one alone");
    close(fd);
}

static void test_btrfs(void)
{
    char mnt[512], base[600], why[1024];
    struct btrfs_ioctl_quota_ctl_args q = {.cmd = BTRFS_QUOTA_CTL_ENABLE};
    struct err e;
    int fd;

    if (!mount_fs("btrfs", "mkfs.btrfs -q -f", NULL, mnt, sizeof(mnt), why, sizeof(why))) {
        skip(why);
        return;
    }
    snprintf(base, sizeof(base), "%s/base", mnt);
    test_quotas_off(mnt, base);
    must(fd = open(mnt, O_RDONLY | O_DIRECTORY));
    must(ioctl(fd, BTRFS_IOC_QUOTA_CTL, &q));
    ok(quota_probe(fd, mnt, &e) == QUOTA_BTRFS, "btrfs with quotas on: the probe finds qgroups");
    close(fd);
    is_int(lint_warnings(base, "enforced"), 0, "...and isolationctl check has nothing to say");
    test_job_instances(mnt, base);
    test_user_instances(mnt, base);
    test_hostile(mnt);
    unmount_fs(mnt);
}

/* ext4 (features project,quota) and XFS with prjquota, where this kernel has the quota code. */
static void test_project(const char *type, const char *mkfs)
{
    char mnt[512], why[2048], p[600];
    struct fill f;
    struct err e;
    int fd, ifd;

    if (!mount_fs(type, mkfs, "prjquota", mnt, sizeof(mnt), why, sizeof(why))) {
        skip(why);
        return;
    }
    must(fd = open(mnt, O_RDONLY | O_DIRECTORY));
    if (quota_probe(fd, mnt, &e) != QUOTA_PROJECT) {
        snprintf(why, sizeof(why), "%s mounts, but project quotas are not on: %s", type, e.text);
        skip(why);
    } else if ((ifd = quota_mkdir_at(fd, "tmp", LIMIT, 01777, USER, USER, &e)) < 0) {
        ok(0, "%s: an instance with a 10M project quota is made: %s", type, e.text);
    } else {
        close(ifd);
        snprintf(p, sizeof(p), "%s/tmp", mnt);
        f = fill_as_user(p, false);
        ok(f.err == EDQUOT && f.bytes <= LIMIT + MIB, "%s: blocks stop at 10 MiB (%lld)", type,
           f.bytes);
        unlink(strcat(p, "/fill"));
        p[strlen(p) - 5] = '\0';
        f = fill_as_user(p, true);
        ok(f.err == EDQUOT && f.files <= LIMIT / QUOTA_BYTES_PER_INODE,
           "%s: inodes stop at one per %d bytes of size (%ld files)", type, QUOTA_BYTES_PER_INODE,
           f.files);
        ok(quota_remove_at(fd, "tmp", &e) == 0 && faccessat(fd, "tmp", F_OK, 0) < 0,
           "%s: the instance is removed with its limit", type);
    }
    close(fd);
    unmount_fs(mnt);
}

static void test_other_fs(void)
{
    struct err e;
    int fd = open(scratch, O_RDONLY | O_DIRECTORY);

    ok(quota_probe(fd, scratch, &e) == QUOTA_NONE && strstr(e.text, "tmpfs") &&
           strstr(e.text, "prjquota"),
       "a tmpfs base cannot enforce a size; the message names the ways that can");
    diag("%s", e.text);
    ok(quota_mkdir_at(fd, "x", LIMIT, 0700, USER, USER, &e) < 0 && faccessat(fd, "x", F_OK, 0) < 0,
       "...and no instance is made there");
    close(fd);
}

int main(void)
{
    char run[600];

    scratch = testfs_setup();
    snprintf(run, sizeof(run), "%s/run", scratch);
    instance_set_rundir(run);
    test_other_fs();
    test_btrfs();
    test_project("ext4", "mkfs.ext4 -q -F -O quota,project");
    test_project("xfs", "mkfs.xfs -q -f");
    testfs_cleanup(scratch);
    return done_testing();
}
