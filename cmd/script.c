/* isolationctl prolog|epilog: the plugin's job prolog and epilog, run as the node's Prolog and
 * Epilog scripts, for PrologFlags=RunInJob (Slurm 24.05+). There the prolog runs from the job's
 * extern slurmstepd, and Slurm calls no plugin's job_prolog or job_epilog at all.
 *
 * The environment is Slurm's for a Prolog script, built by slurmd or slurmstepd from the job's
 * signed credential (SLURM_JOB_PARTITION among them); what a user sets there reaches it only
 * under a SPANK_ prefix, such as the --isolation option. Run by slurmd (no RunInJob), the
 * plugin's own job_prolog and job_epilog have done the work already: nothing is done twice. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "cmd.h"
#include "job/job.h"
#include "policy/policy.h"
#include "util/util.h"

#define OPTION_ENV "SPANK__SLURM_SPANK_OPTION_isolation_isolation"

/* Messages go to syslog (slurmd keeps no Prolog output) and to stderr. */
static void script_sink(enum log_level level, const char *msg, void *arg)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

    (void)arg;
    if (level == LOG_LEVEL_DEBUG)
        return;
    syslog(prio[level], "%s", msg);
    fprintf(stderr, "isolation: %s\n", msg);
}

/* A decimal id from the environment, or -1. */
static int env_u32(const char *name, uint32_t *out)
{
    const char *v = getenv(name);
    char *end;
    unsigned long n;

    if (!v || !isdigit((unsigned char)*v))
        return -1;
    errno = 0;
    n = strtoul(v, &end, 10);
    if (errno || *end || n > UINT32_MAX)
        return -1;
    *out = (uint32_t)n;
    return 0;
}

/* Process PID's name (comm) into COMM and its parent into *PPID; -1 if it cannot be read. */
static int proc_comm(pid_t pid, char *comm, size_t size, pid_t *ppid)
{
    char path[64], line[512], *open, *close;
    long parent = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if (!(f = fopen(path, "re")))
        return -1;
    open = fgets(line, sizeof(line), f);
    fclose(f);
    if (!open || !(open = strchr(line, '(')) || !(close = strrchr(line, ')')) ||
        sscanf(close + 1, " %*c %ld", &parent) != 1)
        return -1;
    snprintf(comm, size, "%.*s", (int)(close - open - 1), open + 1);
    *ppid = (pid_t)parent;
    return 0;
}

/* The process that runs this script for Slurm, from our ancestors' names (only root's processes
 * are ancestors of a Prolog): slurmd, or the job's extern slurmstepd (RunInJob; *STEPD set), the
 * topmost of the slurmstepd processes above us, which lives as long as the job; 0 for neither. */
static pid_t slurm_runner(bool *stepd)
{
    char comm[64];
    pid_t pid = getppid(), ppid, found = 0;

    for (int depth = 0; pid > 1 && depth < 16; depth++, pid = ppid) {
        if (proc_comm(pid, comm, sizeof(comm), &ppid) < 0)
            return found;
        if (strcmp(comm, "slurmstepd") == 0)
            *stepd = true, found = pid;
        else if (found)
            return found;
        else if (strcmp(comm, "slurmd") == 0)
            return pid;
    }
    return found;
}

static int script_usage(const char *what)
{
    fprintf(stderr,
            "Usage: isolationctl %s [--policy FILE]\n"
            "Run as the node's %s script (slurm.conf) with PrologFlags=RunInJob; see "
            "spank-isolation(8).\n",
            what, strcmp(what, "prolog") == 0 ? "Prolog" : "Epilog");
    return 2;
}

/* The job's identity from Slurm's environment into R; -1 (said) when it is not Slurm's. */
static int script_job(struct job_request *r)
{
    uint32_t uid, gid;

    if (env_u32("SLURM_JOB_ID", &r->job_id) < 0 || env_u32("SLURM_JOB_UID", &uid) < 0) {
        log_error("isolationctl: SLURM_JOB_ID and SLURM_JOB_UID are not set: run it as Slurm's "
                  "Prolog or Epilog");
        return -1;
    }
    r->uid = (uid_t)uid;
    if (env_u32("SLURM_JOB_GID", &gid) == 0) {
        r->gid = (gid_t)gid;
    } else {
        struct passwd *pw = getpwuid(r->uid);

        if (!pw) {
            log_error("job %" PRIu32 ": no SLURM_JOB_GID, and uid %" PRIu32 " has no user",
                      r->job_id, uid);
            return -1;
        }
        r->gid = pw->pw_gid;
    }
    r->node = getenv("SLURMD_NODENAME");
    return 0;
}

/* [--policy FILE | --policy=FILE], the only argument after the command ARGV[0], into *PATH; -1 for
 * anything else. */
static int policy_option(int argc, char **argv, const char **path)
{
    if (argc == 3 && strcmp(argv[1], "--policy") == 0)
        *path = argv[2];
    else if (argc == 2 && strncmp(argv[1], "--policy=", 9) == 0)
        *path = argv[1] + 9;
    else if (argc != 1)
        return -1;
    return 0;
}

/* Not root. Slurm 24.05 to 25.11 run a job's extern step's X11 shutdown at its end whether or not
 * the job asked for X11, and that shutdown hands the whole slurmstepd to the job's user for a
 * moment (seteuid, for every thread); a Prolog or Epilog started then runs as the job's user
 * (slurmstepd sets the child's real uid to its effective one before exec), and nothing gets root
 * back. Fixed in 26.05 (SchedMD ticket 24439). A failed Epilog would drain the node: the epilog of
 * a job whose slurmstepd ran it as the job's user (STEPD_EPILOG) succeeds without doing
 * anything, and the job's instances are removed by the sweep (the next prologs', or
 * "isolationctl sweep"). Anything else run by anyone but root fails. */
static int not_root(const char *what, bool stepd_epilog, const struct job_request *r)
{
    if (stepd_epilog && getuid() == r->uid) {
        log_warn("job %" PRIu32 ": Slurm ran the Epilog as the job's user (uid %lu), not root (its "
                 "extern step's X11 shutdown, Slurm 24.05 to 25.11): nothing is removed now; the "
                 "next prolog's sweep, or \"isolationctl sweep\", removes the job's instances",
                 r->job_id, (unsigned long)r->uid);
        return 0;
    }
    log_error("isolationctl %s: must run as root, as Slurm's %s (real uid %lu, effective uid %lu)",
              what, strcmp(what, "epilog") == 0 ? "Epilog" : "Prolog", (unsigned long)getuid(),
              (unsigned long)geteuid());
    return 1;
}

/* isolationctl sweep: what every prolog does once a minute, now: the instances of jobs that have
 * ended (no process in their namespace, their extern step gone) are removed. */
int cmd_sweep(int argc, char **argv)
{
    const char *policy_path = POLICY_DEFAULT_PATH;
    struct instance_store *s;
    struct policy *p;
    struct err e;
    int rc = 1;

    if (policy_option(argc, argv, &policy_path) < 0) {
        fprintf(stderr, "Usage: isolationctl sweep [--policy FILE]\n");
        return 2;
    }
    if (geteuid() != 0) {
        fprintf(stderr, "isolationctl sweep: must run as root\n");
        return 1;
    }
    if (!(p = job_policy_load_node(policy_path, getenv("SLURMD_NODENAME"), &e)))
        fprintf(stderr, "isolationctl sweep: %s\n", e.text);
    else if (!(s = instance_store_open(p->instance_base, true, &e)))
        fprintf(stderr, "isolationctl sweep: %s\n", e.text);
    else {
        if (instance_sweep(s, false, &e) < 0)
            fprintf(stderr, "isolationctl sweep: %s\n", e.text);
        else
            rc = 0;
        instance_store_close(s);
    }
    policy_free(p);
    return rc;
}

/* Exit status: 0 whatever a job's policy says (a failed Prolog drains the node; a policy error is
 * recorded for the job's tasks to report instead), 1 when this node cannot isolate jobs. */
int cmd_script(int argc, char **argv)
{
    const char *what = argv[0], *policy_path = POLICY_DEFAULT_PATH;
    bool epilog = strcmp(what, "epilog") == 0, stepd = false;
    struct job_request r = {0};
    struct policy *p;
    struct err e;
    pid_t runner;
    int rc = 0;

    if (policy_option(argc, argv, &policy_path) < 0)
        return script_usage(what);
    openlog("isolation", LOG_PID, LOG_DAEMON);
    log_set_sink(script_sink, NULL);
    if (script_job(&r) < 0)
        return 1;
    runner = slurm_runner(&stepd);
    if (geteuid() != 0)
        return not_root(what, epilog && stepd, &r);
    if (runner && !stepd)
        return 0; /* slurmd's: the plugin's own job_prolog or job_epilog did it */
    r.holder = stepd ? runner : 0;
    p = job_policy_load_node(policy_path, r.node, &e);
    if (epilog) {
        if (!p)
            log_error("job %" PRIu32 ": %s; cleaning up under the recorded instance bases",
                      r.job_id, e.text);
        job_cleanup(p, r.job_id);
    } else if (!p) {
        log_error("job %" PRIu32 ": %s", r.job_id, e.text);
    } else {
        const char *part = getenv("SLURM_JOB_PARTITION");

        r.partition = part ? part : "";
        r.profile = getenv(OPTION_ENV);
        rc = job_begin(p, &r) < 0;
    }
    policy_free(p);
    return rc;
}
