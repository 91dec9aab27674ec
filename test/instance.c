/* The instance store: base checks, per-job and per-user instances, state, removal, the sweep. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "instance.h"
#include "testfs.h"

static char base[512];

/* Whether REL exists below the base. */
static bool exists(const char *rel)
{
    char p[2048];
    struct stat st;

    snprintf(p, sizeof(p), "%s/%s", base, rel);
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
    ok(!exists("job/41") && exists("user/1234/var-tmp/keep"),
       "its directory is gone; the user's instance stays for the other job");
    ok(instance_job_remove(s, 42, &e) == 0, "the last job is removed");
    if (!ok(!exists("user/1234"), "the user's instances go with their last job"))
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
        snprintf(p, sizeof(p), "%s/job/%u/state", base, id);
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
    int n = instance_sweep(s, &e);
    is_int(n, 2, "the sweep removes two stale jobs");
    ok(!exists("job/60"), "a job from an earlier boot is removed");
    ok(!exists("job/61"), "a job with no state (a builder that died) is removed");
    ok(exists("job/62"), "a job of this boot without a namespace is kept");
    instance_job_remove(s, 62, &e);
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

    ok(instance_job_remove(s, 70, &e) < 0 && strstr(e.text, "mount"),
       "a mount inside an instance is reported, not entered");
    diag("%s", e.text);
    is_str(read_file(victim, buf, sizeof(buf)), "precious", "a symlinked file outside is intact");
    snprintf(p, sizeof(p), "%s/keep", outside);
    is_str(read_file(p, buf, sizeof(buf)), "kept", "a symlinked or mounted directory is intact");
    snprintf(p, sizeof(p), "%s/%s/mnt", base, rel);
    umount2(p, MNT_DETACH);
    ok(instance_job_remove(s, 70, &e) == 0 && !exists("job/70"), "once unmounted, the rest goes");
}

int main(void)
{
    const char *dir = testfs_setup();
    struct instance_store *s;
    struct err e;

    test_names();
    snprintf(base, sizeof(base), "%s/base", dir);
    {
        char run[512];
        snprintf(run, sizeof(run), "%s/run", dir);
        instance_set_rundir(run);
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
        test_instances(s);
        test_state(s);
        test_sweep(s);
        test_hostile_removal(s, dir);
        instance_store_close(s);
    }
    test_base_checks(dir);
    testfs_cleanup(dir);
    return done_testing();
}
