/* Who a job runs as: a user's name and groups from NSS, as the planner needs them. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/job.h"

void identity_free(struct identity *b)
{
    for (size_t i = 0; i < b->nnames; i++)
        free(b->names[i]);
    free(b->names);
    b->names = NULL;
    b->nnames = 0;
}

gid_t *identity_gids(const char *user, gid_t gid, int *count)
{
    int n = 64;
    gid_t *gids = NULL;

    for (int tries = 0; tries < 16; tries++) {
        gid_t *grown = realloc(gids, n * sizeof(*grown));
        int want = n;
        if (!grown)
            break;
        gids = grown;
        if (getgrouplist(user, gid, gids, &want) >= 0) {
            *count = want;
            return gids;
        }
        n = want > n ? want : n * 2;
    }
    free(gids);
    return NULL;
}

/* Group filters decide what a job may see, so a group that cannot be named fails the job
 * rather than being dropped (a dropped group could make a "~group" filter match). */
static int add_group(struct identity *b, gid_t gid, struct err *e)
{
    struct group *gr;

    errno = 0;
    if (!(gr = getgrgid(gid)))
        return errprintf(e,
                         "group %lu of user %s cannot be looked up in NSS (%s); the job's group "
                         "filters cannot be decided",
                         (unsigned long)gid, b->user, errno ? strerror(errno) : "no such group");
    if (!(b->names[b->nnames] = strdup(gr->gr_name)))
        return errprintf(e, "out of memory");
    b->nnames++;
    return 0;
}

/* GID first, then the others once each, in NSS's order. */
static int add_groups(struct identity *b, gid_t gid, const gid_t *gids, int n, struct err *e)
{
    if (add_group(b, gid, e) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        bool seen = gids[i] == gid;
        for (int j = 0; j < i && !seen; j++)
            seen = gids[j] == gids[i];
        if (!seen && add_group(b, gids[i], e) < 0)
            return -1;
    }
    return 0;
}

int identity_lookup(struct identity *b, uid_t uid, gid_t gid, uint32_t job_id, struct err *e)
{
    struct passwd *pw = getpwuid(uid);
    gid_t *gids = NULL;
    int n = 0, rc = -1;

    memset(b, 0, sizeof(*b));
    if (!pw)
        return errprintf(e, "uid %lu is unknown to NSS on this node", (unsigned long)uid);
    snprintf(b->user, sizeof(b->user), "%s", pw->pw_name);
    if (!(gids = identity_gids(b->user, gid, &n)) || !(b->names = calloc(n + 1, sizeof(char *)))) {
        errprintf(e, "cannot get the groups of user %s from NSS", b->user);
        goto out;
    }
    if (add_groups(b, gid, gids, n, e) < 0)
        goto out;
    b->id.user = b->user;
    b->id.uid = uid;
    b->id.gid = gid;
    b->id.group = b->names[0];
    b->id.groups = (const char *const *)b->names;
    b->id.ngroups = b->nnames;
    b->id.job_id = job_id;
    b->id.node_mem_bytes = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    rc = 0;
out:
    free(gids);
    return rc;
}
