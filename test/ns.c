/* The namespace builder, end to end: job_setup() builds and pins a real mount namespace from a
 * plan; a child enters it with setns() and reports what a task would see. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "job/job.h"
#include "ns/ns.h"
#include "testfs.h"

#define UID 1234
static char D[256], base[512], records[1024];

/* --- running checks inside the namespace ------------------------------------------------- */

static FILE *report; /* the child's end of the pipe */

static void check(int cond, const char *what)
{
    fprintf(report, "%d %s\n", cond ? 1 : 0, what);
}

static void in_namespace(int nsfd, void (*fn)(void))
{
    int fds[2];
    char line[512];
    pid_t pid;
    FILE *in;

    if (pipe(fds) < 0)
        return;
    if ((pid = fork()) == 0) {
        close(fds[0]);
        report = fdopen(fds[1], "w");
        struct err e;
        if (nsjob_enter(nsfd, &e) < 0)
            check(0, e.text);
        else
            fn();
        fclose(report);
        _exit(0);
    }
    close(fds[1]);
    in = fdopen(fds[0], "r");
    while (fgets(line, sizeof(line), in)) {
        line[strcspn(line, "\n")] = '\0';
        ok(line[0] == '1', "inside: %s", line + 2);
    }
    fclose(in);
    waitpid(pid, NULL, 0);
}

static int path_at(char *buf, size_t size, const char *rel)
{
    return snprintf(buf, size, "%s/%s", D, rel);
}

/* How many entries P holds (-1 if it cannot be read); *FOUND: whether NAME is one of them. */
static int count_entries(const char *p, const char *name, bool *found)
{
    DIR *d = opendir(p);
    struct dirent *de;
    int n = 0;

    *found = false;
    if (!d)
        return -1;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            n++;
            *found |= name && strcmp(de->d_name, name) == 0;
        }
    closedir(d);
    return n;
}

static bool is_empty_dir(const char *p)
{
    bool found;

    return count_entries(p, NULL, &found) == 0;
}

/* P holds exactly one entry, NAME. */
static bool only_entry(const char *p, const char *name)
{
    bool found;

    return count_entries(p, name, &found) == 1 && found;
}

static int try_create(const char *p)
{
    int fd = open(p, O_WRONLY | O_CREAT, 0644);

    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static void inside_checks(void)
{
    char p[600], buf[64];
    struct statfs sf;
    struct statvfs sv;
    struct stat st;

    check(write_file("/tmp/hello", "from the job") == 0, "/tmp is writable");
    check(statfs("/dev/shm", &sf) == 0 && sf.f_type == 0x01021994 &&
              (uint64_t)sf.f_blocks * sf.f_bsize == 1 << 20,
          "/dev/shm is a private 1M tmpfs");
    check(stat("/dev/shm", &st) == 0 && st.st_uid == UID && (st.st_mode & 07777) == 01777,
          "/dev/shm is the user's, with the host's mode");
    path_at(p, sizeof(p), "proj/A/a");
    check(read_file(p, buf, sizeof(buf)) && strcmp(buf, "data") == 0,
          "a read-only bind is readable");
    path_at(p, sizeof(p), "proj/A/new");
    check(try_create(p) == EROFS, "a read-only bind refuses writes with EROFS");
    path_at(p, sizeof(p), "proj/Arw/new");
    check(try_create(p) == 0, "a read-write bind takes writes");
    path_at(p, sizeof(p), "proj/Arw");
    check(statvfs(p, &sv) == 0 && (sv.f_flag & ST_NOSUID) && (sv.f_flag & ST_NODEV),
          "binds are nosuid,nodev");
    path_at(p, sizeof(p), "proj/C");
    ssize_t n = readlink(p, buf, sizeof(buf) - 1);
    check(n == 1 && buf[0] == 'A', "the symlink points to A");
    path_at(p, sizeof(p), "proj/x/y/d");
    check(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700,
          "a dir entry is made, with its mode, below missing parents in the tmpfs");
    path_at(p, sizeof(p), "proj/y");
    check(stat(p, &st) < 0, "...each parent in its place");
    path_at(p, sizeof(p), "proj/late/a");
    check(read_file(p, buf, sizeof(buf)) && strcmp(buf, "data") == 0,
          "a source under a covered path resolves in the host's view");
    path_at(p, sizeof(p), "src");
    check(is_empty_dir(p), "the covering tmpfs hides the source tree");
    path_at(p, sizeof(p), "hideme");
    check(is_empty_dir(p), "a hidden path is empty");
    path_at(p, sizeof(p), "hideme/x");
    check(try_create(p) == EROFS, "a hidden path is read-only");
    snprintf(p, sizeof(p), "%s/job", base);
    check(only_entry(base, "job") && only_entry(p, "7"),
          "the instance base is covered: no other job is reachable");
    snprintf(p, sizeof(p), "%s/job/7", base);
    check(only_entry(p, INSTANCE_SHARE_NAME), "...but for the job's shared directory");
    snprintf(p, sizeof(p), "%s/new", base);
    check(try_create(p) == EROFS, "the base's cover is read-only");
    snprintf(p, sizeof(p), "%s/job/7/%s/from-host", base, INSTANCE_SHARE_NAME);
    check(read_file(p, buf, sizeof(buf)) && strcmp(buf, "slurmstepd") == 0,
          "the shared directory is the host's, at the same path");
    snprintf(p, sizeof(p), "%s/job/7/%s/from-job", base, INSTANCE_SHARE_NAME);
    check(write_file(p, "task") == 0, "...and takes writes");
    check(is_empty_dir(records), "its records are covered: no other job's pin is held here");
    path_at(p, sizeof(p), "shared/late/file");
    check(read_file(p, buf, sizeof(buf)) != NULL,
          "a host mount made after the job started propagates in (slave)");
}

/* --- the plan ------------------------------------------------------------------------------ */

static char t_proj[300], t_a[300], t_arw[300], t_c[300], t_d[300], t_late[300], t_src[300],
    s_a[300], t_hide[300];

static struct plan *make_plan(void)
{
    static struct plan_polydir pd[2];
    static struct plan_mount m[7];
    static struct plan_path hide[1];
    static struct plan plan;

    path_at(t_proj, sizeof(t_proj), "proj");
    path_at(t_a, sizeof(t_a), "proj/A");
    path_at(t_arw, sizeof(t_arw), "proj/Arw");
    path_at(t_c, sizeof(t_c), "proj/C");
    path_at(t_d, sizeof(t_d), "proj/x/y/d");
    path_at(t_late, sizeof(t_late), "proj/late");
    path_at(t_src, sizeof(t_src), "src");
    path_at(s_a, sizeof(s_a), "src/A");
    path_at(t_hide, sizeof(t_hide), "hideme");
    pd[0] = (struct plan_polydir){.path = "/tmp", .backing = BACKING_DISK, .line = 1};
    pd[1] = (struct plan_polydir){
        .path = "/dev/shm", .backing = BACKING_TMPFS, .size_bytes = 1 << 20, .line = 2};
    m[0] = (struct plan_mount){
        .type = MOUNT_TMPFS, .target = t_proj, .size_bytes = 1 << 20, .mode = 0755};
    m[1] = (struct plan_mount){
        .type = MOUNT_BIND, .source = s_a, .target = t_a, .readonly = true, .in_tmpfs = true};
    m[2] =
        (struct plan_mount){.type = MOUNT_BIND, .source = s_a, .target = t_arw, .in_tmpfs = true};
    m[3] =
        (struct plan_mount){.type = MOUNT_SYMLINK, .source = "A", .target = t_c, .in_tmpfs = true};
    m[4] = (struct plan_mount){.type = MOUNT_DIR, .target = t_d, .mode = 0700, .in_tmpfs = true};
    m[5] = (struct plan_mount){.type = MOUNT_TMPFS, .target = t_src, .mode = 0755};
    m[6] = (struct plan_mount){
        .type = MOUNT_BIND, .source = s_a, .target = t_late, .readonly = true, .in_tmpfs = true};
    hide[0] = (struct plan_path){t_hide, 3};
    plan = (struct plan){.profile = "strict",
                         .isolate = true,
                         .polydirs = pd,
                         .npolydirs = 2,
                         .mounts = m,
                         .nmounts = 7,
                         .hide = hide,
                         .nhide = 1};
    return &plan;
}

static void make_host_tree(void)
{
    char p[600];

    const char *dirs[] = {"proj", "src", "src/A", "hideme", "shared", "home", "home/u"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
        path_at(p, sizeof(p), dirs[i]);
        mkdir(p, 0755);
    }
    path_at(p, sizeof(p), "src/A/a");
    write_file(p, "data");
    path_at(p, sizeof(p), "hideme/secret");
    write_file(p, "secret");
    path_at(p, sizeof(p), "home/u");
    must(chown(p, UID, UID));
    /* A user's symlink pointing at a root-only tree. */
    path_at(p, sizeof(p), "home/u/link");
    must(symlink("/etc", p));
    must(lchown(p, UID, UID));
    /* A shared mount: what is mounted under it later must reach running jobs. */
    path_at(p, sizeof(p), "shared");
    mount(p, p, NULL, MS_BIND, NULL);
    mount(NULL, p, NULL, MS_SHARED, NULL);
}

static void test_build(struct instance_store *s)
{
    struct plan *plan = make_plan();
    struct err e;
    char p[600], buf[64];
    struct stat host_tmp, st;
    int nsfd;

    stat("/tmp", &host_tmp);
    if (!ok(job_setup(s, 7, plan, UID, UID, &e) == 0, "job_setup builds and pins the namespace")) {
        diag("%s", e.text);
        return;
    }
    ok(job_setup(s, 7, plan, UID, UID, &e) == 0, "a second call finds the pin and does nothing");
    nsfd = instance_pin_open(s, 7, &e);
    if (!ok(nsfd >= 0, "the pin is a live mount namespace"))
        return;
    /* Made after the namespace: still visible inside, through slave propagation. */
    path_at(p, sizeof(p), "shared/late");
    mkdir(p, 0755);
    mount("tmpfs", p, "tmpfs", 0, NULL);
    path_at(p, sizeof(p), "shared/late/file");
    write_file(p, "x");

    snprintf(p, sizeof(p), "%s/job/7/%s/from-host", base, INSTANCE_SHARE_NAME);
    write_file(p, "slurmstepd");
    in_namespace(nsfd, inside_checks);
    close(nsfd);
    snprintf(p, sizeof(p), "%s/job/7/%s/from-job", base, INSTANCE_SHARE_NAME);
    is_str(read_file(p, buf, sizeof(buf)), "task", "what the job writes there is the host's too");
    ok(instance_job_share_path(s, 7, p, sizeof(p)) == 0 && strstr(p, "/job/7/slurm-pmix"),
       "the store names the shared directory");

    snprintf(p, sizeof(p), "%s/job/7/tmp/hello", base);
    is_str(read_file(p, buf, sizeof(buf)), "from the job", "the job's /tmp is its instance");
    ok(stat("/tmp", &st) == 0 && st.st_ino == host_tmp.st_ino && st.st_dev == host_tmp.st_dev,
       "the caller's /tmp is untouched");
    path_at(p, sizeof(p), "proj/A");
    ok(stat(p, &st) < 0, "the job's mounts do not leak out");
    path_at(p, sizeof(p), "hideme/secret");
    ok(stat(p, &st) == 0, "the hidden tree is still there outside");
    ok(instance_job_remove(s, 7, &e) == 0, "the job is removed");
    snprintf(p, sizeof(p), "%s/job/7", base);
    ok(stat(p, &st) < 0, "nothing of it is left");
}

static void test_refusals(struct instance_store *s)
{
    struct plan_mount m = {.type = MOUNT_BIND, .target = "/mnt"};
    struct plan plan = {.profile = "p", .isolate = true, .mounts = &m, .nmounts = 1};
    char src[600];
    struct err e;

    path_at(src, sizeof(src), "home/u/link/passwd");
    m.source = src;
    ok(job_setup(s, 8, &plan, UID, UID, &e) < 0 && strstr(e.text, "owned by uid 1234"),
       "a bind source through a user's symlink is refused");
    diag("%s", e.text);
    instance_job_remove(s, 8, NULL);

    /* Root's own link, but in a directory anyone may write (like /tmp): a user could swap it. */
    char sticky[600], lnk[600], ok_src[600];
    path_at(sticky, sizeof(sticky), "sticky");
    must(mkdir(sticky, 01777));
    must(chmod(sticky, 01777));
    path_at(lnk, sizeof(lnk), "sticky/link");
    must(symlink("/etc", lnk));
    path_at(src, sizeof(src), "sticky/link/passwd");
    ok(job_setup(s, 10, &plan, UID, UID, &e) < 0 && strstr(e.text, "could have made or changed"),
       "root's symlink in a directory others may write is not followed");
    diag("%s", e.text);
    instance_job_remove(s, 10, NULL);
    /* Root's link in a root-only directory (an admin's "current -> v3") is followed. */
    path_at(lnk, sizeof(lnk), "rootonly");
    must(mkdir(lnk, 0755));
    path_at(lnk, sizeof(lnk), "rootonly/current");
    path_at(ok_src, sizeof(ok_src), "src/A");
    must(symlink(ok_src, lnk));
    path_at(src, sizeof(src), "rootonly/current");
    path_at(sticky, sizeof(sticky), "proj");
    m.target = sticky;
    if (!ok(job_setup(s, 11, &plan, UID, UID, &e) == 0,
            "root's symlink in a root-only directory is followed"))
        diag("%s", e.text);
    instance_job_remove(s, 11, NULL);

    /* A bind of the run directory would carry every job's pin into this one. */
    char run[600];
    path_at(run, sizeof(run), "run");
    m.source = run;
    ok(job_setup(s, 12, &plan, UID, UID, &e) < 0 && strstr(e.text, "contains the instance records"),
       "a bind source holding the base's records is refused");
    diag("%s", e.text);
    instance_job_remove(s, 12, NULL);

    struct plan_mount d = {.type = MOUNT_DIR,
                           .target = "/etc/isolation-must-not-exist",
                           .mode = 0755,
                           .in_tmpfs = true};
    plan.mounts = &d;
    ok(job_setup(s, 9, &plan, UID, UID, &e) < 0 && access(d.target, F_OK) < 0,
       "nothing is created on the node's real file systems");
    diag("%s", e.text);
    instance_job_remove(s, 9, NULL);
}

/* Hidden paths and bind sources must be reached through directories only root may write: anyone
 * else could rename them (mv hidden h2) or put their own tree in their place. */
static void test_parents(struct instance_store *s)
{
    struct plan_path h = {.line = 4};
    struct plan plan = {.profile = "p", .isolate = true, .hide = &h, .nhide = 1};
    struct plan_mount m = {.type = MOUNT_BIND, .target = t_proj, .line = 5};
    char p[600], q[600];
    struct err e;

    path_at(p, sizeof(p), "sticky/secret");
    must(mkdir(p, 0700));
    h.path = p;
    ok(job_setup(s, 20, &plan, UID, UID, &e) < 0 && strstr(e.text, "hide (policy line 4)") &&
           strstr(e.text,
                  "sticky (owner uid 0, mode 1777) may be written by users other than root"),
       "a hide under a sticky world-writable directory is refused, naming it");
    diag("%s", e.text);
    instance_job_remove(s, 20, NULL);
    path_at(p, sizeof(p), "home/u/not-yet");
    ok(job_setup(s, 21, &plan, UID, UID, &e) < 0 && strstr(e.text, "chown root and chmod go-w"),
       "a missing hide path in a user's directory is refused too (the user could make it)");
    diag("%s", e.text);
    instance_job_remove(s, 21, NULL);
    path_at(p, sizeof(p), "src/A");
    ok(job_setup(s, 22, &plan, UID, UID, &e) == 0, "a hide under root-only directories is made");
    instance_job_remove(s, 22, NULL);

    path_at(q, sizeof(q), "open");
    must(mkdir(q, 0777));
    must(chmod(q, 0777));
    path_at(q, sizeof(q), "open/data");
    must(mkdir(q, 0755));
    plan.nhide = 0;
    plan.mounts = &m;
    plan.nmounts = 1;
    m.source = q;
    ok(job_setup(s, 23, &plan, UID, UID, &e) < 0 && strstr(e.text, "bind source (policy line 5)") &&
           strstr(e.text, "open (owner uid 0, mode 0777)"),
       "a bind source in a directory anyone may write is refused");
    diag("%s", e.text);
    instance_job_remove(s, 23, NULL);
}

/* The size of the tmpfs at PATH as a job of the namespace open on NSFD sees it. */
/* --- other bases' pins ------------------------------------------------------------------- */

static char store_dir[1024];

/* mountinfo writes a space, tab, newline and backslash in a path as \ooo. */
static bool unescape(char *s)
{
    char *w = s;

    for (char *r = s; *r; w++)
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w = *r++;
        }
    *w = '\0';
    return true;
}

static void no_other_records(void)
{
    char line[4096];
    FILE *f = fopen("/proc/self/mountinfo", "r");
    size_t n = strlen(store_dir);
    int others = 0;

    while (f && fgets(line, sizeof(line), f)) {
        char target[2048];
        if (sscanf(line, "%*s %*s %*s %*s %2047s", target) == 1 &&
            unescape(target) && strncmp(target, store_dir, n) == 0 && target[n] == '/' &&
            strcmp(target, records) != 0) {
            check(0, target);
            others++;
        }
    }
    if (f)
        fclose(f);
    check(f && others == 0, "no record of another base is mounted here (no other job's pin)");
}

/* A base an earlier policy used keeps its records (and their pins) beside the current one's:
 * a new job's namespace must not hold a copy of them, or those namespaces never go. */
static void test_other_base(struct instance_store *s, struct plan *plan)
{
    char base2[600];
    struct instance_store *s2;
    struct err e;
    int nsfd;

    snprintf(base2, sizeof(base2), "%s/base2", D);
    if (!ok((s2 = instance_store_open(base2, true, &e)) != NULL, "a second base opens")) {
        diag("%s", e.text);
        return;
    }
    ok(job_setup(s2, 21, plan, UID, UID, &e) == 0, "a job is set up in the second base");
    snprintf(store_dir, sizeof(store_dir), "%.*s", (int)(strrchr(records, '/') - records),
             records);
    if (ok(job_setup(s, 22, plan, UID, UID, &e) == 0, "a job is set up in the first base") &&
        (nsfd = instance_pin_open(s, 22, &e)) >= 0) {
        in_namespace(nsfd, no_other_records);
        close(nsfd);
    }
    ok(instance_job_remove(s, 22, &e) == 0 && instance_job_remove(s2, 21, &e) == 0,
       "both jobs are removed");
    instance_store_close(s2);
}

static uint64_t size_inside(int nsfd, const char *path)
{
    int fds[2];
    uint64_t size = 0;
    pid_t pid;

    if (pipe(fds) < 0)
        return 0;
    if ((pid = fork()) == 0) {
        struct statfs sf;
        struct err e;
        close(fds[0]);
        if (nsjob_enter(nsfd, &e) == 0 && statfs(path, &sf) == 0)
            size = (uint64_t)sf.f_blocks * sf.f_bsize;
        _exit(write(fds[1], &size, sizeof(size)) == sizeof(size) ? 0 : 1);
    }
    close(fds[1]);
    if (read(fds[0], &size, sizeof(size)) != sizeof(size))
        size = 0;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    return size;
}

/* A scope: user "50%" tmpfs is shared by the user's jobs on the node: it is sized from their
 * memory (the largest of their shares), never left at the node's. */
static void test_user_tmpfs_size(struct instance_store *s)
{
    struct plan_polydir pd = {.path = "/dev/shm",
                              .backing = BACKING_TMPFS,
                              .scope = SCOPE_USER,
                              .size_bytes = 1 << 30, /* as planned from the node's memory */
                              .percent = 50,
                              .line = 1};
    struct plan plan = {.profile = "p", .isolate = true, .polydirs = &pd, .npolydirs = 1};
    char *resize[] = {"50 user /dev/shm", NULL};
    struct job_state st;
    struct err e;
    int ns1 = -1, ns2 = -1;

    if (!ok(job_setup(s, 30, &plan, UID, UID, &e) == 0 &&
                job_setup(s, 31, &plan, UID, UID, &e) == 0,
            "two jobs of one user share a scope: user tmpfs")) {
        diag("%s", e.text);
        goto out;
    }
    ok(instance_state_read(s, 30, &st, &e) == 0 && st.resize && st.resize[0] &&
           strcmp(st.resize[0], "50 user /dev/shm") == 0,
       "the job's state lists the shared instance for its steps to size");
    job_state_clear(&st);
    ns1 = instance_pin_open(s, 30, &e);
    ns2 = instance_pin_open(s, 31, &e);
    is_int(size_inside(ns1, "/dev/shm"), 1 << 30, "before any step: the node-based size");
    ok(job_resize_tmpfs(s, 30, UID, ns1, resize, 100 << 20, &e) == 0, "job 30 (100M) resizes");
    is_int(size_inside(ns1, "/dev/shm"), 50 << 20, "...to 50%% of its memory, not the node's");
    ok(job_resize_tmpfs(s, 31, UID, ns2, resize, 40 << 20, &e) == 0, "job 31 (40M) resizes");
    is_int(size_inside(ns2, "/dev/shm"), 50 << 20,
           "...but the shared instance keeps the largest live job's size");
    instance_job_remove(s, 30, NULL);
    ok(job_setup(s, 32, &plan, UID, UID, &e) == 0, "job 30 ends, job 32 starts");
    close(ns1);
    ns1 = instance_pin_open(s, 32, &e);
    ok(job_resize_tmpfs(s, 32, UID, ns1, resize, 20 << 20, &e) == 0, "job 32 (20M) resizes");
    is_int(size_inside(ns1, "/dev/shm"), 20 << 20,
           "...to the largest of the live jobs (31: 20M, 32: 10M): an ended job no longer counts");
out:
    if (ns1 >= 0)
        close(ns1);
    if (ns2 >= 0)
        close(ns2);
    instance_job_remove(s, 30, NULL);
    instance_job_remove(s, 31, NULL);
    instance_job_remove(s, 32, NULL);
}

/* Use up DIR's file system as a user would: inodes with empty files, then blocks. */
static void fill_up(const char *dir)
{
    char p[1024];
    static char block[65536];
    int fd, n = 0;

    do
        snprintf(p, sizeof(p), "%.900s/f%d", dir, n++);
    while ((fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) >= 0 && close(fd) == 0);
    snprintf(p, sizeof(p), "%.900s/f0", dir);
    if ((fd = open(p, O_WRONLY | O_CLOEXEC)) >= 0) {
        while (write(fd, block, sizeof(block)) > 0)
            ;
        close(fd);
    }
}

/* A user who fills the instance base (blocks and inodes) fails only jobs that need a disk
 * instance there, and not as a node fault: records, pins and state live elsewhere. */
static void test_full_base(void)
{
    struct plan_polydir disk = {.path = "/tmp", .backing = BACKING_DISK, .scope = SCOPE_JOB};
    struct plan_polydir shm = {
        .path = "/dev/shm", .backing = BACKING_TMPFS, .scope = SCOPE_JOB, .size_bytes = 1 << 20};
    struct plan with_disk = {.profile = "p", .isolate = true, .polydirs = &disk, .npolydirs = 1};
    struct plan tmpfs_only = {.profile = "p", .isolate = true, .polydirs = &shm, .npolydirs = 1};
    char full[600], p[1024];
    struct instance_store *s;
    struct job_state st;
    struct err e;
    int nsfd;

    snprintf(full, sizeof(full), "%s/fullbase", D);
    must(mkdir(full, 0700));
    must(mount("tmpfs", full, "tmpfs", 0, "size=256k,nr_inodes=16,mode=0700"));
    if (!ok((s = instance_store_open(full, true, &e)) != NULL, "a small base opens"))
        goto out;
    snprintf(p, sizeof(p), "%s/user/%d", full, UID);
    must(mkdir(p, 0700));
    fill_up(p);
    snprintf(p, sizeof(p), "%s/user/%d/more", full, UID);
    ok(mkdir(p, 0700) < 0 && errno == ENOSPC, "a user's files fill the base");
    instance_store_close(s);
    if (!ok((s = instance_store_open(full, true, &e)) != NULL,
            "the full base opens, as at a prolog"))
        goto out;

    ok(job_setup(s, 40, &with_disk, UID, UID, &e) < 0 && errno == ENOSPC &&
           !job_is_node_fault(errno),
       "a job needing a disk instance fails with ENOSPC: that job, not the node");
    diag("%s", e.text);
    instance_job_remove(s, 40, NULL);
    job_record(s, 40, UID, UID, "p", "cannot isolate the job: no space", NULL);
    ok(instance_state_read(s, 40, &st, &e) == 0 && strstr(st.error, "no space"),
       "...and its record still says why, for its tasks");
    job_state_clear(&st);

    if (!ok(job_setup(s, 41, &tmpfs_only, UID, UID, &e) == 0,
            "a job with only tmpfs polydirs still starts"))
        diag("%s", e.text);
    nsfd = instance_pin_open(s, 41, &e);
    ok(nsfd >= 0, "...its namespace is pinned");
    if (nsfd >= 0)
        close(nsfd);
    ok(instance_state_read(s, 41, &st, &e) == 0 && st.isolated && !st.error[0],
       "...and its state is written");
    job_state_clear(&st);
    ok(instance_job_remove(s, 40, &e) == 0 && instance_job_remove(s, 41, &e) == 0,
       "both jobs are removed");
    instance_store_close(s);
out:
    umount2(full, MNT_DETACH);
}

static void run_on(long cpu)
{
    cpu_set_t one;

    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    sched_setaffinity(0, sizeof(one), &one);
}

int main(void)
{
    long ncpus = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t all;
    const char *dir;

    /* Make this test's namespace on the last CPU and build from the first: on kernels that number
     * namespaces per CPU, the first pin then meets the loop check and nsjob_build must retry. */
    sched_getaffinity(0, sizeof(all), &all);
    if (ncpus > 1)
        run_on(ncpus - 1);
    dir = testfs_setup();
    if (ncpus > 1)
        run_on(0);
    struct instance_store *s;
    struct err e;

    snprintf(D, sizeof(D), "%s", dir);
    snprintf(base, sizeof(base), "%s/base", dir);
    {
        char run[512];
        snprintf(run, sizeof(run), "%s/run", dir);
        instance_set_rundir(run);
    }
    make_host_tree();
    if (!(s = instance_store_open(base, true, &e))) {
        ok(0, "the instance store opens: %s", e.text);
        return done_testing();
    }
    snprintf(records, sizeof(records), "%s", instance_store_records(s));
    test_build(s);
    sched_setaffinity(0, sizeof(all), &all);
    {
        struct plan *plan = make_plan();
        test_other_base(s, plan);
    }
    test_refusals(s);
    test_parents(s);
    test_user_tmpfs_size(s);
    instance_store_close(s);
    test_full_base();
    testfs_cleanup(dir);
    return done_testing();
}
