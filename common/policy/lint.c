/* Checks of a valid policy against the host it is checked on: names the name service does not
 * know, paths missing here, profiles nothing can select, and an instance base on a read-only or
 * noexec mount are warnings, since a policy may be written for nodes that differ from the host
 * running isolationctl. A hidden path or bind source
 * under a directory others may write is an error: the prolog refuses it on such a node. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "policy_int.h"
#include "fs/fs.h"

/* One use of a group or user name in a filter. */
struct use {
    const char *name;
    struct loc loc;
};

static int cmp_use(const void *a, const void *b)
{
    const struct use *x = a, *y = b;
    int r = strcmp(x->name, y->name);

    if (r)
        return r;
    if (x->loc.line != y->loc.line)
        return x->loc.line < y->loc.line ? -1 : 1;
    return x->loc.col < y->loc.col ? -1 : x->loc.col > y->loc.col;
}

static bool name_known(const char *name, bool group)
{
    return group ? getgrnam(name) != NULL : getpwnam(name) != NULL;
}

/* Warn once per name the name service does not know, at its first use. */
static void lint_names(const struct policy *p, struct diag_list *d, bool group)
{
    size_t n = 0, k = 0;
    struct use *v;

    for (size_t i = 0; i < p->nprofiles; i++)
        for (size_t j = 0; j < p->profiles[i].nmounts; j++) {
            const struct mount_entry *m = &p->profiles[i].mounts[j];
            n += group ? m->groups.count : m->users.count;
        }
    if (n == 0 || !(v = calloc(n, sizeof(*v))))
        return;
    for (size_t i = 0; i < p->nprofiles; i++)
        for (size_t j = 0; j < p->profiles[i].nmounts; j++) {
            const struct filter *f =
                group ? &p->profiles[i].mounts[j].groups : &p->profiles[i].mounts[j].users;
            for (size_t x = 0; x < f->count; x++)
                v[k++] = (struct use){f->names[x], f->loc};
        }
    qsort(v, k, sizeof(*v), cmp_use);
    for (size_t i = 0; i < k;) {
        size_t end = i + 1;
        while (end < k && strcmp(v[end].name, v[i].name) == 0)
            end++;
        if (!name_known(v[i].name, group)) {
            char more[64] = "";
            if (end - i > 1)
                snprintf(more, sizeof(more), " (used %zu times; this is the first)", end - i);
            diag_add(d, DIAG_WARNING, v[i].loc.line, v[i].loc.col,
                     "%s \"%s\" is not known on this host%s; check the name, or ignore this on "
                     "hosts that do not see the cluster's %s",
                     group ? "group" : "user", v[i].name, more, group ? "groups" : "users");
        }
        i = end;
    }
    free(v);
}

/* The profile of login sessions, on some host (login: or one of its host_groups). */
static bool login_profile(const struct policy *p, const char *name)
{
    if (p->login.profile && !strcmp(p->login.profile, name))
        return true;
    for (size_t i = 0; i < p->login.nhost_groups; i++)
        if (p->login.host_groups[i].profile && !strcmp(p->login.host_groups[i].profile, name))
            return true;
    return false;
}

/* Allowed by the global list (the default alone when absent) or by a partition, or given to
 * login sessions. */
static bool allowed_somewhere(const struct policy *p, const char *name)
{
    if (name_list_has(&p->allowed, name) ||
        (p->default_profile && !strcmp(p->default_profile, name)) || login_profile(p, name))
        return true;
    for (size_t i = 0; i < p->npartitions; i++)
        if (name_list_has(&p->partitions[i].allowed, name) ||
            (p->partitions[i].default_profile && !strcmp(p->partitions[i].default_profile, name)))
            return true;
    return false;
}

/* A profile nobody can select is dead weight, unless an allowed profile inherits from it. */
static void lint_unused_profiles(const struct policy *p, struct diag_list *d)
{
    bool *used = calloc(p->nprofiles + 1, sizeof(*used));

    if (!used)
        return;
    for (size_t i = 0; i < p->nprofiles; i++) {
        const struct profile *pr = &p->profiles[i];
        if (!allowed_somewhere(p, pr->name))
            continue;
        /* A validated policy has no cycles; the bound is a guard all the same. */
        for (size_t steps = 0; pr && steps <= p->nprofiles; steps++) {
            used[pr - p->profiles] = true;
            pr = pr->inherits ? policy_profile(p, pr->inherits) : NULL;
        }
    }
    for (size_t i = 0; i < p->nprofiles; i++)
        if (!used[i])
            diag_add(d, DIAG_WARNING, p->profiles[i].loc.line, p->profiles[i].loc.col,
                     "profile \"%s\" is not allowed anywhere: no allowed_profiles lists it, "
                     "login: does not give it, and no allowed profile inherits from it; allow it "
                     "or remove it",
                     p->profiles[i].name);
    free(used);
}

/* T lies strictly inside the target of a tmpfs entry of the profile's effective list (its own
 * or inherited, anywhere: mounts are made parents first). */
static bool in_some_tmpfs(const struct profile_view *v, const char *t)
{
    for (size_t j = 0; v && j < v->nmounts; j++) {
        const struct mount_entry *m = v->mounts[j];
        size_t n = m->target ? strlen(m->target) : 0;
        if (m->type == MOUNT_TMPFS && n && strncmp(t, m->target, n) == 0 && t[n] == '/')
            return true;
    }
    return false;
}

/* WHAT PATH must be reached only through directories root alone may write (as the prolog
 * checks). Expansions differ per job: the check stops at the first component holding one. */
static void lint_parents(const char *what, const char *path, struct loc loc, struct diag_list *d)
{
    const char *pct = strchr(path, '%');
    size_t n = pct ? strcspn(pct, "/") + (size_t)(pct - path) : strlen(path);
    char cut[4096];
    struct err e;

    snprintf(cut, sizeof(cut), "%.*s", (int)n, path);
    if (safe_check_parents(cut, &e) < 0 && errno == EPERM) {
        /* The message starts with the path walked; name the policy's own text instead. */
        const char *why =
            strncmp(e.text, cut, n) == 0 && e.text[n] == ':' ? e.text + n + 2 : e.text;
        diag_add(d, DIAG_ERROR, loc.line, loc.col, "%s \"%s\": %s", what, path, why);
    }
}

static void lint_mount(const struct profile *pr, const struct profile_view *v, size_t i,
                       struct diag_list *d)
{
    const struct mount_entry *m = &pr->mounts[i];
    struct stat st;

    if (m->type == MOUNT_BIND && m->source)
        lint_parents("bind source", m->source, m->loc, d);

    if (m->type == MOUNT_BIND && m->source && !strchr(m->source, '%') && stat(m->source, &st) < 0)
        diag_add(d, DIAG_WARNING, m->loc.line, m->loc.col,
                 errno == ENOENT || errno == ENOTDIR
                     ? "bind source \"%s\" does not exist on this host%s; create it on every node "
                       "or correct the path"
                     : "bind source \"%s\" cannot be checked on this host: %s",
                 m->source, errno == ENOENT || errno == ENOTDIR ? "" : strerror(errno));
    if ((m->type != MOUNT_BIND && m->type != MOUNT_TMPFS) || !m->target)
        return;
    if (in_some_tmpfs(v, m->target) || strchr(m->target, '%'))
        return;
    if (stat(m->target, &st) < 0 && (errno == ENOENT || errno == ENOTDIR))
        diag_add(d, DIAG_WARNING, m->loc.line, m->loc.col,
                 "mount target \"%s\" does not exist on this host and is not inside a tmpfs "
                 "entry; create it on every node, or add a tmpfs entry for a parent directory "
                 "(the plugin creates nothing on the host)",
                 m->target);
}

/* A disk size is a quota of the instance base's file system: say when this host's cannot enforce
 * it, since a job asking for it then fails here. Probed once, reported at each such size. */
static void lint_disk_sizes(const struct policy *p, struct diag_list *d)
{
    bool probed = false, can = true;
    struct err e;

    for (size_t i = 0; i < p->nprofiles; i++)
        for (size_t j = 0; j < p->profiles[i].npolydirs; j++) {
            const struct polydir *pd = &p->profiles[i].polydirs[j];
            if (pd->backing != BACKING_DISK || pd->size.kind != SIZE_BYTES)
                continue;
            if (!probed) {
                can = quota_probe_path(p->instance_base, &e) != QUOTA_NONE;
                probed = true;
            }
            if (!can)
                diag_add(d, DIAG_WARNING, pd->size_loc.line, pd->size_loc.col,
                         "the size of %s cannot be enforced on this host, and its jobs will fail "
                         "here: %s",
                         pd->path, e.text);
        }
}

/* A disk polydir with the path of polydir J of profile I comes earlier in the policy. */
static bool seen_disk_polydir(const struct policy *p, size_t i, size_t j)
{
    const char *path = p->profiles[i].polydirs[j].path;

    for (size_t k = 0; k <= i; k++)
        for (size_t l = 0; l < (k == i ? j : p->profiles[k].npolydirs); l++)
            if (p->profiles[k].polydirs[l].backing == BACKING_DISK &&
                strcmp(p->profiles[k].polydirs[l].path, path) == 0)
                return true;
    return false;
}

/* A disk polydir's instances are directories in the instance base, bound into the job: a bind
 * keeps the flags of the mount it comes from, so on a noexec base nothing in them can run. Said
 * once per path, at its first entry. */
static void lint_noexec_polydirs(const struct policy *p, const struct mount_info *mi,
                                 struct diag_list *d)
{
    for (size_t i = 0; i < p->nprofiles; i++)
        for (size_t j = 0; j < p->profiles[i].npolydirs; j++) {
            const struct polydir *pd = &p->profiles[i].polydirs[j];
            if (pd->backing != BACKING_DISK || seen_disk_polydir(p, i, j))
                continue;
            diag_add(d, DIAG_WARNING, pd->loc.line, pd->loc.col,
                     "programs and scripts in %s cannot run in jobs on this host: its instances "
                     "live in instance_base \"%s\", on a noexec mount (the %s on %s); if that "
                     "is not intended, remount it without noexec or choose an instance_base on a "
                     "file system mounted without it",
                     pd->path, p->instance_base, mi->fstype, mi->target);
        }
}

/* How this host mounts the instance base. A mount table that cannot be read here (a parent
 * others may not search, when check is not run as root) says nothing. */
static void lint_base_mount(const struct policy *p, struct diag_list *d)
{
    struct mount_info mi;
    struct err e;

    if (!p->instance_base || mount_find(p->instance_base, &mi, &e) < 0)
        return;
    if (mi.flags & MS_RDONLY)
        diag_add(d, DIAG_WARNING, p->base_loc.line, p->base_loc.col,
                 "instance_base \"%s\" is on a read-only mount on this host (the %s on %s): "
                 "the prolog cannot make the jobs' instances there and this node cannot isolate "
                 "jobs; mount it read-write, or choose an instance_base on a writable local file "
                 "system",
                 p->instance_base, mi.fstype, mi.target);
    else if (mi.flags & MS_NOEXEC)
        lint_noexec_polydirs(p, &mi, d);
    mount_info_clear(&mi);
}

void policy_lint(const struct policy *p, struct diag_list *d)
{
    if (!p)
        return;
    lint_names(p, d, true);
    lint_names(p, d, false);
    lint_unused_profiles(p, d);
    lint_disk_sizes(p, d);
    lint_base_mount(p, d);
    for (size_t i = 0; i < p->nprofiles; i++) {
        struct profile_view *v = profile_view_get(p, p->profiles[i].name);
        for (size_t j = 0; j < p->profiles[i].nmounts; j++)
            lint_mount(&p->profiles[i], v, j, d);
        for (size_t j = 0; j < p->profiles[i].nhide; j++)
            lint_parents("hidden path", p->profiles[i].hide[j].path, p->profiles[i].hide[j].loc, d);
        profile_view_free(v);
    }
}
