/* Deep trees: what the epilog's removal costs when a job left CHAINS chains of DEPTH nested
 * directories in its /tmp (issue 7, item 5: 8 x 16,400 levels), timed around
 * safe_remove_tree_at() of the job's directory, against `rm -rf` of an identical tree made at
 * the same time. A second removal of the same name is timed too: it is what every later
 * prolog's sweep walks again while holding the store lock if the first one left anything.
 *
 * Each run makes both trees (untimed), then times A and B in turn, the first one alternating.
 * The trees live on a tmpfs of the program's own mount namespace (with --disk: under DIR).
 * Many short chains (--chains 3000 --depth 70) measure a wide directory above deep ones.
 *
 *   deep-trees [--runs N] [--chains N] [--depth N] [--disk] DIR */
#include "config.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "fs/fs.h"

extern char **environ;

static unsigned runs = 5, chains = 8, depth = 16400;
static bool on_disk;

/* ROOT/tmp/cN/d/d/.../d, DEPTH levels per chain, made through fds (the paths exceed PATH_MAX);
 * tmp is one level down, as a job's /tmp is in its directory. */
static void make_tree(int parent, const char *root)
{
    char name[32];

    must(mkdirat(parent, root, 0700));
    int job = openat(parent, root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    must(job);
    must(mkdirat(job, "tmp", 01777));
    int top = openat(job, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    must(top);
    close(job);
    for (unsigned c = 0; c < chains; c++) {
        snprintf(name, sizeof(name), "c%u", c);
        must(mkdirat(top, name, 0700));
        int fd = openat(top, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        must(fd);
        for (unsigned i = 0; i < depth; i++) {
            must(mkdirat(fd, "d", 0700));
            int nfd = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            must(nfd);
            close(fd);
            fd = nfd;
        }
        close(fd);
    }
    close(top);
}

/* The epilog's call; sets *LEFT when it could not remove everything. */
static uint64_t time_safefs(int parent, const char *root, bool *left)
{
    struct err e;
    uint64_t t0 = now_ns();
    int rc = safe_remove_tree_at(parent, root, &e);
    uint64_t t = now_ns() - t0;

    *left = rc < 0 || faccessat(parent, root, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
    if (rc < 0 && runs)
        printf("<!-- safe_remove_tree_at: %.200s -->\n", e.text);
    return t;
}

static uint64_t time_rm(const char *path)
{
    char *argv[] = {"rm", "-rf", "--one-file-system", (char *)path, NULL};
    uint64_t t0 = now_ns();
    pid_t pid;
    int status;

    if (posix_spawnp(&pid, "rm", NULL, NULL, argv, environ) != 0)
        die("cannot run rm");
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("rm -rf %s failed", path);
    return now_ns() - t0;
}

/* One run: both trees made, then removed in turn; a tree safefs left is removed with rm. */
static void one_run(const char *dir, int dfd, unsigned r, struct samples *s)
{
    char rmpath[4096];
    bool left = false, left2 = false;
    uint64_t a = 0, b = 0, again = 0;

    make_tree(dfd, "job");
    make_tree(dfd, "rm");
    snprintf(rmpath, sizeof(rmpath), "%s/rm", dir);
    if (r % 2)
        b = time_rm(rmpath);
    a = time_safefs(dfd, "job", &left);
    if (left)
        again = time_safefs(dfd, "job", &left2);
    if (!(r % 2))
        b = time_rm(rmpath);
    if (left2) {
        snprintf(rmpath, sizeof(rmpath), "%s/job", dir);
        time_rm(rmpath);
    }
    samples_add(&s[0], a);
    samples_add(&s[1], b);
    samples_add(&s[2], again);
    samples_add(&s[3], left);
}

static void report(struct samples *s)
{
    uint64_t a = samples_median(&s[0]), b = samples_median(&s[1]);
    uint64_t again = samples_median(&s[2]), left = samples_pct(&s[3], 100);

    printf("| %u chains x %u levels (%s) | safe_remove_tree_at | rm -rf | ratio | left behind | "
           "removal again (each later sweep) |\n",
           chains, depth, on_disk ? "disk" : "tmpfs");
    printf("|---|---|---|---|---|---|\n");
    printf("| median of %u | %s | %s | %.2fx | %s | %s |\n", runs, NS(a), NS(b), RATIO(a, b),
           left ? "yes" : "no", left ? NS(again) : "-");
}

static void parse(int argc, char **argv, const char **dir)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--chains") && i + 1 < argc)
            chains = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--depth") && i + 1 < argc)
            depth = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--disk"))
            on_disk = true;
        else if (argv[i][0] != '-' && !*dir)
            *dir = argv[i];
        else
            die("usage: deep-trees [--runs N] [--chains N] [--depth N] [--disk] DIR");
    }
    if (!*dir || !runs)
        die("usage: deep-trees [--runs N] [--chains N] [--depth N] [--disk] DIR");
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    struct samples s[4] = {0};

    parse(argc, argv, &dir);
    bench_private_ns();
    if (!on_disk && mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0)
        die("cannot mount a tmpfs on %s: %m", dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    must(dfd);
    for (unsigned r = 0; r < runs; r++)
        one_run(dir, dfd, r, s);
    report(s);
    close(dfd);
    for (int i = 0; i < 4; i++)
        samples_free(&s[i]);
    return 0;
}
