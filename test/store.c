/* The instance store: base checks, per-job and per-user instances, state, removal, the sweep. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "testfs.h"

static int trash_entries(void);

static char base[512], store[1024]; /* the base, and its records under the run directory */

/* Whether REL exists below the base. */
static bool exists(const char *rel)
{
    char p[4096];
    struct stat st;

    snprintf(p, sizeof(p), "%s/%s", base, rel);
    return lstat(p, &st) == 0;
}

/* Whether REL exists below the base's records. */
static bool rexists(const char *rel)
{
    char p[4096];
    struct stat st;

    snprintf(p, sizeof(p), "%s/%s", store, rel);
    return lstat(p, &st) == 0;
}

static void count_base(const char *b, void *arg)
{
    int *n = arg;

    *n += strcmp(b, base) == 0 ? 1 : 100;
}

/* The epilog finds every base a prolog used, once each, even when the policy has changed. */
static void test_recorded_bases(void)
{
    struct err e;
    char p[2048];
    struct instance_store *again;
    int n = 0;

    snprintf(p, sizeof(p), "%.*s/run/bases", (int)(strrchr(base, '/') - base), base);
    must(write_file(p, "/nonexistent-instance-base\n"));
    again = instance_store_open(base, true, &e);

    instance_store_close(again);
    instance_for_each_base(count_base, &n);
    is_int(n, 1, "the base is recorded once, and nothing else (gone bases are dropped)");
}

static void test_names(void)
{
    char buf[256];

    instance_name("/tmp", buf, sizeof(buf));
    is_str(buf, "tmp", "/tmp is named tmp");
    instance_name("/var/tmp", buf, sizeof(buf));
    is_str(buf, "var-tmp", "/var/tmp is named var-tmp");
    instance_name("/var-tmp", buf, sizeof(buf));
    is_str(buf, "var\\x2dtmp", "a '-' is escaped, so /var-tmp and /var/tmp differ");
    instance_name("/.hidden/x", buf, sizeof(buf));
    is_str(buf, "\\x2ehidden-x", "a leading dot is escaped");
}

static void test_base_checks(const char *dir)
{
    char p[512];
    struct err e;
    struct instance_store *s;

    snprintf(p, sizeof(p), "%s/open", dir);
    mkdir(p, 0777);
    chmod(p, 01777);
    snprintf(p, sizeof(p), "%s/open/base", dir);
    s = instance_store_open(p, true, &e);
    ok(s == NULL && strstr(e.text, "writable"), "a base below a world-writable directory is "
                                                "refused, even sticky");
    diag("%s", s ? "(opened)" : e.text);
    instance_store_close(s);

    snprintf(p, sizeof(p), "%s/loose", dir);
    mkdir(p, 0755);
    chmod(p, 0755);
    s = instance_store_open(p, false, &e);
    ok(s == NULL && strstr(e.text, "group and others"), "a base readable by others is refused");
    diag("%s", s ? "(opened)" : e.text);
    instance_store_close(s);

    snprintf(p, sizeof(p), "%s/link", dir);
    must(symlink(base, p));
    s = instance_store_open(p, false, &e);
    ok(s == NULL && strstr(e.text, "symlink"), "a base that is a symlink is refused");
    diag("%s", s ? "(opened)" : e.text);
    instance_store_close(s);
}

static int make(struct instance_store *s, struct instance_job *job, const char *path,
                enum backing b, enum scope sc, char *rel, size_t size)
{
    struct plan_polydir d = {
        .path = (char *)path,
        .backing = b,
        .scope = sc,
        .size_bytes = b == BACKING_TMPFS ? 1 << 20 : 0}; /* a disk size is tested in quota.c */
    struct err e;
    int rc = instance_make(s, job, &d, 1234, 1234, 01777, rel, size, &e);

    if (rc < 0)
        diag("instance_make %s: %s", path, e.text);
    return rc;
}

static void test_instances(struct instance_store *s)
{
    struct instance_job j1, j2;
    char rel[512], p[2048];
    struct stat st;
    struct err e;

    ok(instance_store_lock(s, &e) == 0, "the store lock is taken");
    ok(instance_job_open(s, 41, true, &j1, &e) == 0 && instance_job_open(s, 42, true, &j2, &e) == 0,
       "two job directories are created");
    ok(make(s, &j1, "/tmp", BACKING_DISK, SCOPE_JOB, rel, sizeof(rel)) == 0,
       "job-scope disk instance");
    is_str(rel, "job/41/tmp", "...below the job's directory");
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    ok(stat(p, &st) == 0 && st.st_uid == 1234 && (st.st_mode & 07777) == 01777,
       "...owned by the user with the polydir's mode");
    ok(make(s, &j1, "/dev/shm", BACKING_TMPFS, SCOPE_JOB, rel, sizeof(rel)) == 0 && !rel[0],
       "a job-scope tmpfs has no host side");
    ok(make(s, &j1, "/var/tmp", BACKING_DISK, SCOPE_USER, rel, sizeof(rel)) == 0 &&
           strcmp(rel, "user/1234/var-tmp") == 0,
       "user-scope disk instance");
    ok(make(s, &j2, "/var/tmp", BACKING_DISK, SCOPE_USER, rel, sizeof(rel)) == 0,
       "the user's second job shares it");
    ok(make(s, &j1, "/scratch", BACKING_TMPFS, SCOPE_USER, rel, sizeof(rel)) == 0 &&
           make(s, &j2, "/scratch", BACKING_TMPFS, SCOPE_USER, rel, sizeof(rel)) == 0,
       "a user-scope tmpfs is mounted once and shared");
    snprintf(p, sizeof(p), "%s/user/1234/scratch", base);
    ok(stat(p, &st) == 0 && st.st_uid == 1234, "...owned by the user");
    snprintf(p, sizeof(p), "%s/user/1234/var-tmp/keep", base);
    write_file(p, "x");
    instance_job_close(&j1);
    instance_job_close(&j2);
    instance_store_unlock(s);

    ok(instance_job_remove(s, 41, &e) == 0, "the first job is removed");
    ok(!exists("job/41") && !rexists("job/41") && exists("user/1234/var-tmp/keep"),
       "its instances and record are gone; the user's instance stays for the other job");
    ok(rexists("user/1234/jobs/42") && !rexists("user/1234/jobs/41"),
       "the user's references are kept with the records, apart from the base");
    ok(instance_job_remove(s, 42, &e) == 0, "the last job is removed");
    if (!ok(!exists("user/1234") && !rexists("user/1234"),
            "the user's instances and record go with their last job"))
        diag("%s", e.text);
}

static void test_state(struct instance_store *s)
{
    char *env[] = {"TMPDIR=/tmp", "ODD=a\nb\\c", NULL};
    struct job_state st = {.profile = "strict", .uid = 5, .gid = 6, .isolated = true, .env = env};
    struct job_state back;
    struct instance_job job;
    struct err e;

    instance_store_lock(s, &e);
    instance_job_open(s, 50, true, &job, &e);
    ok(instance_state_write(&job, &st, &e) == 0, "state is written");
    instance_job_close(&job);
    instance_store_unlock(s);
    ok(instance_state_read(s, 50, &back, &e) == 0, "state is read back");
    is_str(back.profile, "strict", "profile round-trips");
    ok(back.uid == 5 && back.gid == 6 && back.isolated && !back.error[0],
       "ids and flags round-trip");
    ok(back.env && back.env[1] && strcmp(back.env[1], "ODD=a\nb\\c") == 0 && !back.env[2],
       "env with a newline and a backslash round-trips");
    job_state_clear(&back);
    ok(instance_state_read(s, 51, &back, &e) < 0 && errno == ENOENT, "no state: ENOENT");
    instance_job_remove(s, 50, &e);
}

/* A refusal and the resize list are recorded as well as the happy path. */
static void test_state_refused(struct instance_store *s)
{
    char *resize[] = {"50 /dev/shm", "25 user /scratch", NULL};
    struct job_state st = {.profile = "strict", .uid = 5, .gid = 6, .resize = resize};
    struct job_state back;
    struct instance_job job;
    struct err e;

    snprintf(st.error, sizeof(st.error), "isolation.yaml:3:5: bad\nsecond line");
    instance_store_lock(s, &e);
    instance_job_open(s, 52, true, &job, &e);
    ok(instance_state_write(&job, &st, &e) == 0, "a refusal is written");
    instance_job_close(&job);
    instance_store_unlock(s);
    ok(instance_state_read(s, 52, &back, &e) == 0 && !back.isolated && !back.env,
       "...read back as not isolated, with no env");
    is_str(back.error, "isolation.yaml:3:5: bad\nsecond line", "...its reason round-trips");
    ok(back.resize && back.resize[0] && back.resize[1] && !back.resize[2] &&
           strcmp(back.resize[0], "50 /dev/shm") == 0 &&
           strcmp(back.resize[1], "25 user /scratch") == 0,
       "...and so does the resize list, in order");
    ok(back.boot_id[0], "...with the boot id of this boot");
    job_state_clear(&back);
    instance_job_remove(s, 52, &e);
}

static void test_markers(struct instance_store *s)
{
    struct instance_job job;
    struct err e;

    instance_store_lock(s, &e);
    instance_job_open(s, 53, true, &job, &e);
    instance_job_close(&job);
    instance_store_unlock(s);
    ok(!instance_job_marked(s, 53, "resized"), "a job is not marked at first");
    instance_job_mark(s, 53, "resized");
    ok(instance_job_marked(s, 53, "resized") && rexists("job/53/resized"),
       "once marked it is, in its record");
    ok(!instance_job_marked(s, 53, "other"), "...for that marker only");
    instance_job_mark(s, 54, "resized");
    ok(!instance_job_marked(s, 54, "resized") && !rexists("job/54"),
       "a job without a record is not marked, and gets no record");
    instance_job_remove(s, 53, &e);
}

static void count_job(uint32_t job_id, void *arg)
{
    uint32_t *seen = arg;

    seen[job_id == 55 ? 0 : job_id == 56 ? 1 : 2]++;
}

static void test_user_jobs(struct instance_store *s)
{
    struct instance_job j1, j2;
    uint32_t seen[3] = {0};
    char rel[512];
    struct err e;

    ok(instance_user_jobs(s, 1234, count_job, seen, &e) < 0 && errno == ENOENT,
       "a user without instances has no jobs");
    instance_store_lock(s, &e);
    instance_job_open(s, 55, true, &j1, &e);
    instance_job_open(s, 56, true, &j2, &e);
    make(s, &j1, "/var/tmp", BACKING_DISK, SCOPE_USER, rel, sizeof(rel));
    make(s, &j2, "/var/tmp", BACKING_DISK, SCOPE_USER, rel, sizeof(rel));
    instance_job_close(&j1);
    instance_job_close(&j2);
    instance_store_unlock(s);
    ok(instance_user_jobs(s, 1234, count_job, seen, &e) == 0 && seen[0] == 1 && seen[1] == 1 &&
           seen[2] == 0,
       "both jobs using the user's instances are listed, once each");
    instance_job_remove(s, 55, &e);
    memset(seen, 0, sizeof(seen));
    ok(instance_user_jobs(s, 1234, count_job, seen, &e) == 0 && seen[0] == 0 && seen[1] == 1,
       "a removed job is no longer listed");
    instance_job_remove(s, 56, &e);
}

static void plant_old_job(struct instance_store *s, uint32_t id, const char *boot)
{
    struct instance_job job;
    struct err e;
    char p[2048];

    instance_store_lock(s, &e);
    instance_job_open(s, id, true, &job, &e);
    if (boot) {
        struct job_state st = {.profile = "strict"};
        instance_state_write(&job, &st, &e);
        snprintf(p, sizeof(p), "%s/job/%u/state", store, id);
        char buf[4096];
        read_file(p, buf, sizeof(buf));
        char *nl = strchr(buf, '\n');
        char text[4200];
        snprintf(text, sizeof(text), "boot_id=%s%s", boot, nl ? nl : "\n");
        write_file(p, text);
    }
    instance_job_close(&job);
    instance_store_unlock(s);
}

/* A job whose builder is at work (its build lock held, no state or pin yet: job_setup builds
 * without the store lock) is neither swept nor dropped as stale; once the builder is gone, it
 * is. */
static void test_sweep_building(struct instance_store *s)
{
    struct instance_job job;
    struct err e;

    instance_store_lock(s, &e);
    instance_job_open(s, 63, true, &job, &e);
    instance_store_unlock(s);
    ok(instance_job_build_lock(&job, false) == 0, "a builder takes the job's build lock");
    is_int(instance_sweep(s, false, &e), 0, "the sweep leaves a job being built alone");
    ok(rexists("job/63"), "...and its record is there");
    is_int(instance_job_drop_stale(s, 63, 4242, &e), 0, "...and so does a step's stale check");
    {
        struct instance_job other;
        instance_job_open(s, 63, false, &other, &e);
        ok(instance_job_build_lock(&other, false) < 0 && errno == EWOULDBLOCK,
           "a second builder of the job finds the lock taken");
        instance_job_close(&other);
    }
    instance_job_close(&job);
    is_int(instance_sweep(s, false, &e), 1, "once the builder is gone, the sweep removes the job");
    ok(!rexists("job/63"), "...and its record");
}

static void test_sweep(struct instance_store *s)
{
    struct err e;

    plant_old_job(s, 60, "00000000-0000-0000-0000-000000000000");
    plant_old_job(s, 61, NULL);
    plant_old_job(s, 62, "");
    /* Job 62's boot id is rewritten to the current one by writing its state normally. */
    {
        struct instance_job job;
        struct job_state st = {.profile = "none"};
        instance_store_lock(s, &e);
        instance_job_open(s, 62, true, &job, &e);
        instance_state_write(&job, &st, &e);
        instance_job_close(&job);
        instance_store_unlock(s);
    }
    int n = instance_sweep(s, false, &e);
    is_int(n, 2, "the sweep removes two stale jobs");
    ok(!rexists("job/60"), "a job from an earlier boot is removed");
    ok(!rexists("job/61"), "a job with no state (a builder that died) is removed");
    ok(rexists("job/62"), "a job of this boot without a namespace is kept");
    instance_job_remove(s, 62, &e);
    test_sweep_building(s);
}

/* The first dot-name in BASE/trash, in NAME; false if there is none. */
static bool trash_dot_name(char *name, size_t size)
{
    char p[1024];
    DIR *d;
    struct dirent *de;
    bool found = false;

    snprintf(p, sizeof(p), "%s/trash", base);
    if (!(d = opendir(p)))
        return false;
    while (!found && (de = readdir(d)))
        if ((found = de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, "..")))
            snprintf(name, size, "%s", de->d_name);
    closedir(d);
    return found;
}

/* What the sweep cannot remove twice is set aside once, and no later sweep walks it again. */
static void test_sweep_sets_aside(struct instance_store *s, const char *dir)
{
    char p[2048], outside[600], aside[256];
    struct err e;

    plant_old_job(s, 78, NULL);
    snprintf(outside, sizeof(outside), "%s/outside78", dir);
    mkdir(outside, 0755);
    snprintf(p, sizeof(p), "%s/job/78", base);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/job/78/mnt", base);
    mkdir(p, 0755);
    must(mount(outside, p, NULL, MS_BIND, NULL));
    int mnt = open(p, O_PATH | O_CLOEXEC);
    ok(instance_sweep(s, false, &e) < 0 && strstr(e.text, "/mnt: is a mount point"),
       "the sweep reports a job it cannot remove");
    ok(!exists("job/78") && !rexists("job/78") && trash_entries() == 1,
       "...and leaves it in the trash (its record is gone)");
    ok(instance_sweep(s, false, &e) < 0 && trash_dot_name(aside, sizeof(aside)),
       "when the next sweep fails too, it sets the entry aside under a dot-name");
    is_int(instance_sweep(s, false, &e), 0, "the sweep after that leaves it alone");
    snprintf(p, sizeof(p), "/proc/self/fd/%d", mnt);
    umount2(p, MNT_DETACH);
    close(mnt);
    snprintf(p, sizeof(p), "%s/trash/%s/mnt", base, aside);
    rmdir(p);
    snprintf(p, sizeof(p), "%s/trash/%s", base, aside);
    ok(rmdir(p) == 0, "...where the admin finds and removes it");
}

/* The epilog never follows a user's symlink and never enters a mount inside an instance. */
static void test_hostile_removal(struct instance_store *s, const char *dir)
{
    struct instance_job job;
    char rel[512], p[2048], victim[600], outside[600], buf[64];
    struct err e;

    snprintf(victim, sizeof(victim), "%s/victim", dir);
    write_file(victim, "precious");
    snprintf(outside, sizeof(outside), "%s/outside", dir);
    mkdir(outside, 0755);
    snprintf(p, sizeof(p), "%s/keep", outside);
    write_file(p, "kept");

    instance_store_lock(s, &e);
    instance_job_open(s, 70, true, &job, &e);
    make(s, &job, "/tmp", BACKING_DISK, SCOPE_JOB, rel, sizeof(rel));
    instance_job_close(&job);
    instance_store_unlock(s);
    snprintf(p, sizeof(p), "%s/%s/link-to-file", base, rel);
    must(symlink(victim, p));
    snprintf(p, sizeof(p), "%s/%s/link-to-dir", base, rel);
    must(symlink(outside, p));
    snprintf(p, sizeof(p), "%s/%s/loop", base, rel);
    must(symlink(p, p));
    snprintf(p, sizeof(p), "%s/%s/mnt", base, rel);
    mkdir(p, 0755);
    must(mount(outside, p, NULL, MS_BIND, NULL));
    int mnt = open(p, O_PATH | O_CLOEXEC);

    ok(instance_job_remove(s, 70, &e) < 0 && strstr(e.text, "mount"),
       "a mount inside an instance is reported, not entered");
    diag("%s", e.text);
    is_str(read_file(victim, buf, sizeof(buf)), "precious", "a symlinked file outside is intact");
    snprintf(p, sizeof(p), "%s/keep", outside);
    is_str(read_file(p, buf, sizeof(buf)), "kept", "a symlinked or mounted directory is intact");
    ok(!exists("job/70") && !rexists("job/70"),
       "the job itself is gone from job/ (what stays is in the trash)");
    snprintf(p, sizeof(p), "/proc/self/fd/%d", mnt);
    must(umount2(p, MNT_DETACH));
    close(mnt);
    ok(instance_sweep(s, false, &e) == 0 && trash_entries() == 0,
       "once unmounted, the sweep removes it");
}

/* Entries of BASE/trash. */
static int trash_entries(void)
{
    char p[1024];
    DIR *d;
    struct dirent *de;
    int n = 0;

    snprintf(p, sizeof(p), "%s/trash", base);
    if (!(d = opendir(p)))
        return -1;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

/* What a remover that died leaves in the trash is removed by the next sweep; an entry another
 * remover holds, and a dot-name the walk gave up on, are left alone. */
static void test_trash(struct instance_store *s)
{
    char p[1024];
    struct err e;

    snprintf(p, sizeof(p), "%s/trash/job-90.1.2.3", base);
    must(mkdir(p, 0700));
    snprintf(p, sizeof(p), "%s/trash/job-90.1.2.3/tmp", base);
    must(mkdir(p, 01777));
    snprintf(p, sizeof(p), "%s/trash/job-90.1.2.3/tmp/file", base);
    write_file(p, "x");
    snprintf(p, sizeof(p), "%s/trash/job-91.1.2.3", base);
    must(mkdir(p, 0700));
    int held = open(p, O_RDONLY | O_DIRECTORY);
    must(flock(held, LOCK_EX));
    snprintf(p, sizeof(p), "%s/trash/.job-92.kept", base);
    must(mkdir(p, 0700));

    ok(instance_sweep(s, false, &e) == 0, "the sweep empties the trash");
    ok(!exists("trash/job-90.1.2.3"), "...of what a remover that died left");
    ok(exists("trash/job-91.1.2.3"), "...but not what another remover is removing");
    ok(exists("trash/.job-92.kept"), "...nor what the walk gave up on");
    close(held);
    instance_sweep(s, false, &e);
    ok(!exists("trash/job-91.1.2.3"), "an entry is taken once its remover has let it go");
    snprintf(p, sizeof(p), "%s/trash/.job-92.kept", base);
    rmdir(p);
}

/* A job record with state for UID, as a prolog leaves it. */
static void plant_job(struct instance_store *s, uint32_t id, uid_t uid)
{
    struct instance_job job;
    struct job_state st = {.profile = "strict", .uid = uid, .isolated = true};
    struct err e;

    instance_store_lock(s, &e);
    instance_job_open(s, id, true, &job, &e);
    instance_state_write(&job, &st, &e);
    instance_job_close(&job);
    instance_store_unlock(s);
}

/* Job ID's holder: a process that records itself and exits. */
static void hold_by_dead_process(struct instance_store *s, uint32_t id)
{
    struct err e;
    pid_t pid = fork();

    if (pid == 0)
        _exit(instance_job_hold(s, id, getpid(), &e) < 0);
    waitpid(pid, NULL, 0);
}

/* Wait (bounded, 10 s) until PID's state in /proc is STATE. */
static void wait_for_state(pid_t pid, char state)
{
    for (int i = 0; i < 1000; i++) {
        char path[64], buf[512] = "";
        snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
        read_file(path, buf, sizeof(buf));
        char *p = strrchr(buf, ')');
        if (p && p[1] == ' ' && p[2] == state)
            return;
        usleep(10000);
    }
    diag("process %ld never reached state %c", (long)pid, state);
}

static void *sleeper(void *arg)
{
    (void)arg;
    pause();
    return NULL;
}

/* Job ID's holder: a process whose first thread records it, starts another and exits, as a
 * program may; /proc shows it as a zombie, with 2 threads, but it lives. Returns its pid. */
static pid_t hold_by_threaded_leader(struct instance_store *s, uint32_t id)
{
    struct err e;
    pid_t pid = fork();

    if (pid == 0) {
        pthread_t t;
        if (instance_job_hold(s, id, getpid(), &e) < 0 ||
            pthread_create(&t, NULL, sleeper, NULL) != 0)
            _exit(1);
        pthread_exit(NULL);
    }
    wait_for_state(pid, 'Z');
    return pid;
}

/* Job ID's holder: a process that records itself and exits, and is not reaped (as under a pid 1
 * that reaps no orphan): a zombie. Returns its pid, for waitpid after. */
static pid_t hold_by_zombie(struct instance_store *s, uint32_t id)
{
    struct err e;
    int done[2];
    char c;
    pid_t pid;

    must(pipe(done));
    if ((pid = fork()) == 0) {
        close(done[0]);
        int rc = instance_job_hold(s, id, getpid(), &e) < 0;
        _exit(write(done[1], "", 1) == 1 ? rc : 1);
    }
    close(done[1]);
    if (read(done[0], &c, 1) != 1)
        diag("the holder did not record itself");
    close(done[0]);
    wait_for_state(pid, 'Z');
    return pid;
}

/* A process in a new mount namespace made on CPU (-1: any); its pid. */
static pid_t spawn_in_namespace(int cpu)
{
    int ready[2];
    char c;
    pid_t pid;

    must(pipe(ready));
    if ((pid = fork()) == 0) {
        cpu_set_t one;
        close(ready[0]);
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        if ((cpu >= 0 && sched_setaffinity(0, sizeof(one), &one) < 0) || unshare(CLONE_NEWNS) < 0 ||
            write(ready[1], "", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    if (read(ready[0], &c, 1) != 1)
        diag("the namespace holder did not start");
    close(ready[0]);
    return pid;
}

/* A process in a new mount namespace pinned as job ID's; returns its pid (kill it to empty
 * the namespace). Namespace ids come from per-CPU batches on recent kernels, and a pin of one
 * that looks older than the pin's own is refused as a loop: try again on each CPU. */
static pid_t pin_live_namespace(uint32_t id)
{
    char ns[64], pin[2048];
    long ncpus = sysconf(_SC_NPROCESSORS_ONLN);

    snprintf(pin, sizeof(pin), "%s/job/%u/ns", store, id);
    write_file(pin, "");
    for (int cpu = -1; cpu < ncpus; cpu++) {
        pid_t pid = spawn_in_namespace(cpu);
        snprintf(ns, sizeof(ns), "/proc/%ld/ns/mnt", (long)pid);
        if (mount(ns, pin, NULL, MS_BIND, NULL) == 0)
            return pid;
        int errnum = errno;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        if (errnum != EINVAL)
            break;
    }
    printf("Bail out! cannot pin a namespace at %s\n", pin);
    exit(1);
}

static void test_reused_ids(struct instance_store *s)
{
    struct err e;

    plant_job(s, 80, 1000);
    ok(instance_job_drop_stale(s, 80, 1000, &e) == 0 && rexists("job/80"),
       "a record of the same user with no extern step is this job's");
    is_int(instance_job_drop_stale(s, 80, 1001, &e), 1, "a record of another user is not");
    ok(!rexists("job/80") && trash_entries() == 0, "...and is removed, trash included");

    plant_job(s, 81, 1000);
    ok(instance_job_hold(s, 81, getpid(), &e) == 0, "a live process records itself as the holder");
    ok(instance_job_drop_stale(s, 81, 1000, &e) == 0 && rexists("job/81"),
       "a record whose holder lives is this job's");
    ok(instance_sweep(s, false, &e) == 0 && rexists("job/81"), "...and the sweep keeps it");
    hold_by_dead_process(s, 81);
    pid_t inside = pin_live_namespace(81);
    ok(instance_job_drop_stale(s, 81, 1000, &e) == 0 && rexists("job/81"),
       "a holder gone while a process is in the namespace: the job still runs");
    ok(instance_sweep(s, false, &e) == 0 && rexists("job/81"), "...and the sweep keeps it");
    kill(inside, SIGKILL);
    waitpid(inside, NULL, 0);
    is_int(instance_job_drop_stale(s, 81, 1000, &e), 1,
           "holder gone and namespace empty: the job has ended, its record is removed");
    ok(!rexists("job/81"), "...pin and all");

    plant_job(s, 84, 1000);
    pid_t zombie = hold_by_zombie(s, 84);
    is_int(instance_job_drop_stale(s, 84, 1000, &e), 1,
           "a holder that died but was never reaped (a zombie) is gone too");
    waitpid(zombie, NULL, 0);
    plant_job(s, 85, 1000);
    pid_t threaded = hold_by_threaded_leader(s, 85);
    ok(instance_job_drop_stale(s, 85, 1000, &e) == 0 && rexists("job/85"),
       "a holder whose first thread exited while another runs (shown as Z) still lives");
    kill(threaded, SIGKILL);
    waitpid(threaded, NULL, 0);
    is_int(instance_job_drop_stale(s, 85, 1000, &e), 1, "...and is gone once all its threads are");

    plant_job(s, 82, 1000);
    hold_by_dead_process(s, 82);
    plant_job(s, 83, 1000);
    is_int(instance_sweep(s, false, &e), 1, "the sweep removes a job that ended without an epilog");
    ok(!rexists("job/82"), "...the one whose holder is gone");
    ok(rexists("job/83"), "...not one without a holder (no PrologFlags=Contain), of this boot");
    instance_job_remove(s, 83, &e);
}

/* Whether the open directory FD has an entry left. */
static bool has_entries(int fd)
{
    int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
    struct dirent *de;
    bool any = false;

    while (d && !any && (de = readdir(d)))
        any = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    if (d)
        closedir(d);
    return any;
}

/* Whether the removal of the FILES files f0, f1... in the open directory FD has begun: one of
 * a spread of them is gone. */
static bool removal_begun(int fd, int files)
{
    char name[32];
    struct stat st;

    for (int i = 0; i < files; i += files / 64) {
        snprintf(name, sizeof(name), "f%d", i);
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return true;
    }
    return false;
}

/* While a big job is removed, another process can take the store lock: the lock covers the
 * move into the trash, not the removal. The remover runs in a child; the parent watches the
 * instance through an fd it opened before, and tries the lock while files are being deleted. */
static void test_removal_unlocked(struct instance_store *s)
{
    enum { FILES = 100000 };
    struct instance_job job;
    char rel[512], p[2048];
    struct err e;
    int lock, tmp, seen = 0, free_seen = 0;

    instance_store_lock(s, &e);
    instance_job_open(s, 95, true, &job, &e);
    make(s, &job, "/tmp", BACKING_DISK, SCOPE_JOB, rel, sizeof(rel));
    instance_job_close(&job);
    instance_store_unlock(s);
    for (int i = 0; i < FILES; i++) {
        snprintf(p, sizeof(p), "%s/%s/f%d", base, rel, i);
        close(open(p, O_WRONLY | O_CREAT, 0600));
    }
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    tmp = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    snprintf(p, sizeof(p), "%s/.lock", store);
    lock = open(p, O_RDWR | O_CLOEXEC);
    pid_t pid = fork();
    if (pid == 0)
        _exit(instance_job_remove(s, 95, &e) < 0);
    while (waitpid(pid, NULL, WNOHANG) == 0) {
        usleep(2000);
        if (!removal_begun(tmp, FILES) || !has_entries(tmp))
            continue;
        seen++;
        /* Held by us while files remain: the remover works without it. */
        if (flock(lock, LOCK_EX | LOCK_NB) == 0) {
            free_seen += has_entries(tmp);
            flock(lock, LOCK_UN);
        }
    }
    close(lock);
    close(tmp);
    if (seen)
        ok(free_seen > 0, "the store lock is free while a removed job's files are deleted (%d/%d)",
           free_seen, seen);
    else
        skip("the removal of 100,000 files ended before it could be watched");
    ok(!exists("job/95") && !rexists("job/95") && trash_entries() == 0,
       "...and the job is removed completely");
}

/* The records live under the run directory, root-only and a mount of their own (for pins);
 * the base holds nothing but instances and the trash. */
static void test_layout(struct instance_store *s)
{
    struct statx stx;
    struct err e;

    ok(statx(AT_FDCWD, store, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) == 0 &&
           stx.stx_uid == 0 && (stx.stx_mode & 07777) == 0700,
       "the records are root 0700 under the run directory");
    ok((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
           (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT),
       "...on a mount of their own, so pins can live there");
    ok(instance_store_lock(s, &e) == 0 && rexists(".lock") && !exists(".lock"),
       "the store lock is in the records, not in the base");
    instance_store_unlock(s);
}

/* Instances no record names are from an earlier boot (/run was emptied) or a builder that died
 * holding the lock: the sweep removes them, and a prolog reusing the id drops them. */
static void test_orphans(struct instance_store *s)
{
    char p[2048];
    struct err e;

    snprintf(p, sizeof(p), "%s/job/300", base);
    must(mkdir(p, 0700));
    snprintf(p, sizeof(p), "%s/job/300/tmp", base);
    must(mkdir(p, 01777));
    snprintf(p, sizeof(p), "%s/job/300/tmp/file", base);
    must(write_file(p, "x"));
    snprintf(p, sizeof(p), "%s/job/0300", base);
    must(mkdir(p, 0700));
    snprintf(p, sizeof(p), "%s/user/4321", base);
    must(mkdir(p, 0700));
    snprintf(p, sizeof(p), "%s/user/4321/var-tmp", base);
    must(mkdir(p, 01777));
    ok(instance_job_exists(s, 300), "instances without a record count as a job's leftovers");
    is_int(instance_sweep(s, false, &e), 1, "the sweep removes job instances that have no record");
    ok(!exists("job/300") && !exists("user/4321") && trash_entries() == 0,
       "...and user instances no record references, trash included");
    ok(exists("job/0300"), "...but not what it did not name");
    snprintf(p, sizeof(p), "%s/job/0300", base);
    rmdir(p);

    snprintf(p, sizeof(p), "%s/job/301", base);
    must(mkdir(p, 0700));
    is_int(instance_job_drop_stale(s, 301, 1000, &e), 1,
           "a step finding instances without a record drops them");
    ok(!exists("job/301") && trash_entries() == 0, "...completely");
}

/* A prolog's sweep hands what it removes to a detached process: the trash empties after the
 * sweep has returned, and no child of the caller is left to reap. */
static void test_sweep_detached(struct instance_store *s)
{
    char p[1024];
    struct err e;
    int polls = 0;

    snprintf(p, sizeof(p), "%s/trash/job-96.1.2.3", base);
    must(mkdir(p, 0700));
    for (int i = 0; i < 1000; i++) {
        snprintf(p, sizeof(p), "%s/trash/job-96.1.2.3/f%d", base, i);
        write_file(p, "x");
    }
    ok(instance_sweep(s, true, &e) >= 0, "a detached sweep returns");
    ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "...leaving no child to reap");
    while (exists("trash/job-96.1.2.3") && polls++ < 3000)
        usleep(10000);
    ok(!exists("trash/job-96.1.2.3"), "...and the detached remover empties the trash");
}

static void test_sweep_due(struct instance_store *s)
{
    char p[1100];
    struct timespec old[2] = {{1, 0}, {1, 0}};

    snprintf(p, sizeof(p), "%s/.swept", store);
    unlink(p);
    ok(instance_sweep_due(s, 60), "the first sweep is due");
    ok(!instance_sweep_due(s, 60), "the next one not within the minute");
    must(utimensat(AT_FDCWD, p, old, AT_SYMLINK_NOFOLLOW));
    ok(instance_sweep_due(s, 60), "and again once it has passed");
}

/* A record handed over as text (the companion to a joined slurmstepd) comes back whole; a
 * malformed one is refused, never read as root's or as not isolated. */
static void test_state_text(void)
{
    char *env[] = {"TMPDIR=/tmp", "A=b\nc", NULL};
    struct job_state st = {.uid = 1001, .gid = 1002, .isolated = true, .env = env}, back;
    char *text;
    struct err e;

    snprintf(st.profile, sizeof(st.profile), "strict");
    text = job_state_format(&st);
    ok(text && job_state_parse(text, &back, &e) == 0, "a record's text parses back");
    is_int(back.uid, 1001, "...its uid");
    ok(back.isolated && strcmp(back.profile, "strict") == 0, "...its decision and profile");
    ok(back.env && back.env[1] && strcmp(back.env[1], "A=b\nc") == 0 && !back.env[2],
       "...and its environment, a newline included");
    job_state_clear(&back);
    free(text);
    ok(job_state_parse("uid=x\nisolated=1\n", &back, &e) < 0,
       "a uid that is not a number: refused");
    ok(job_state_parse("uid=-1\nisolated=1\n", &back, &e) < 0, "a negative uid: refused");
    ok(job_state_parse("uid= 7\nisolated=1\n", &back, &e) < 0, "a uid with a space: refused");
    ok(job_state_parse("isolated=1\n", &back, &e) < 0, "a record without a uid: refused");
    ok(job_state_parse("uid=7\nisolated=yes\n", &back, &e) < 0,
       "an isolated value other than 0 or 1: refused");
    is_str(e.text, "malformed record", "...as a malformed record");
    ok(job_state_parse("", &back, &e) < 0, "an empty record: refused");
}

int main(void)
{
    const char *dir = testfs_setup();
    struct instance_store *s;
    struct err e;

    test_names();
    test_state_text();
    snprintf(base, sizeof(base), "%s/base", dir);
    {
        char run[512];
        char name[480];
        snprintf(run, sizeof(run), "%s/run", dir);
        instance_set_rundir(run);
        instance_name(base, name, sizeof(name));
        snprintf(store, sizeof(store), "%s/store/%s", run, name);
    }
    s = instance_store_open(base, true, &e);
    if (!ok(s != NULL, "a new base is created and checked"))
        diag("%s", e.text);
    if (s) {
        int fd = open(base, O_RDONLY | O_DIRECTORY);
        struct stat st;
        ok(fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == 0 && (st.st_mode & 07777) == 0700,
           "the base is root 0700");
        close(fd);
        test_recorded_bases();
        test_layout(s);
        test_instances(s);
        test_state(s);
        test_state_refused(s);
        test_markers(s);
        test_user_jobs(s);
        test_sweep(s);
        test_sweep_sets_aside(s, dir);
        test_hostile_removal(s, dir);
        test_trash(s);
        test_reused_ids(s);
        test_orphans(s);
        test_sweep_due(s);
        test_sweep_detached(s);
        test_removal_unlocked(s);
        instance_store_close(s);
    }
    test_base_checks(dir);
    testfs_cleanup(dir);
    return done_testing();
}
