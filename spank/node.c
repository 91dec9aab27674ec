/* The node's name, for an instance_base that names the node (%n): several slurmds on one host
 * (`slurmd -N NAME`) each have their own. Each context learns it from what root controls there:
 *   job prolog and epilog  SLURMD_NODENAME, which slurmd puts in their environment;
 *   slurmd's start         slurmd's command line (-N NAME), when it was given one;
 *   slurmstepd             the step's socket: slurmstepd binds NODE_JOBID.STEP in the node's
 *                          spool directory before any hook runs. The job's environment is no
 *                          source: until the tasks start, its SLURMD_NODENAME is the user's.
 * Otherwise the short host name is the node's (job_node_name). */
#include "config.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolation.h"

#define MAX_SOCKETS 64

const char *plugin_slurmd_node(char *buf, size_t size)
{
    FILE *f = fopen("/proc/self/cmdline", "r");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    const char *found = NULL;

    if (f)
        fclose(f);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
        const char *arg = buf + i;
        if (strcmp(arg, "--") == 0)
            break;
        if (strncmp(arg, "-N", 2) == 0)
            found = arg[2] ? arg + 2 : (i + 3 <= n ? arg + 3 : NULL);
    }
    return found && *found ? found : NULL;
}

/* The inodes of this process's sockets; their count. */
static size_t own_sockets(unsigned long *inodes, size_t max)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    size_t n = 0;

    while (d && n < max && (de = readdir(d))) {
        char path[300], link[64];
        ssize_t len;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
        len = readlink(path, link, sizeof(link) - 1);
        if (len <= 0)
            continue;
        link[len] = '\0';
        if (sscanf(link, "socket:[%lu]", &inodes[n]) == 1)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* NODE out of the socket path PATH if it is NODE_JOBID.STEP... for job JOB_ID. */
static bool node_of_socket(const char *path, uint32_t job_id, char *buf, size_t size)
{
    const char *name = strrchr(path, '/');
    char suffix[32];
    const char *at = NULL;
    int n = snprintf(suffix, sizeof(suffix), "_%" PRIu32 ".", job_id);

    name = name ? name + 1 : path;
    for (const char *p = strstr(name, suffix); p; p = strstr(p + 1, suffix))
        at = p;
    if (!at || at == name || (size_t)(at - name) >= size)
        return false;
    for (const char *p = at + n; *p; p++)
        if (!strchr("0123456789.", *p))
            return false;
    snprintf(buf, size, "%.*s", (int)(at - name), name);
    return true;
}

const char *plugin_stepd_node(uint32_t job_id, char *buf, size_t size)
{
    unsigned long inodes[MAX_SOCKETS], inode;
    size_t count = own_sockets(inodes, MAX_SOCKETS);
    FILE *f = count ? fopen("/proc/net/unix", "r") : NULL;
    char line[4400], path[4200];
    bool found = false;

    while (f && !found && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu %4199s", &inode, path) != 2)
            continue;
        for (size_t i = 0; i < count && !found; i++)
            found = inodes[i] == inode && node_of_socket(path, job_id, buf, size);
    }
    if (f)
        fclose(f);
    return found ? buf : NULL;
}
