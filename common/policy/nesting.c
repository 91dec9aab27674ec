/* How one profile's effective paths nest (its own entries with what it inherits): an entry
 * shadowed by an earlier unfiltered one for the same target, a dir or symlink made outside a tmpfs
 * of the policy, mounts and hidden paths inside polydirs (which belong to the job's user), and
 * polydirs inside polydirs or listed twice. Lookups go through indexes of paths sorted as text. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

/* A sorted index of paths (mount targets or polydir paths) with their place in a list. */
struct tentry {
    const char *t;
    size_t len;
    size_t pos;
};

/* By path, then by place in the list, so that the first of equal paths is the one listed first. */
static int cmp_tentry(const void *a, const void *b)
{
    const struct tentry *x = a, *y = b;
    int r = memcmp(x->t, y->t, x->len < y->len ? x->len : y->len);

    if (r)
        return r;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static bool tentry_same(const struct tentry *a, const struct tentry *b)
{
    return a->len == b->len && memcmp(a->t, b->t, a->len) == 0;
}

/* The first entry whose path is KEY[0..KLEN), or N. */
static size_t tindex_find(const struct tentry *idx, size_t n, const char *key, size_t klen)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = memcmp(idx[mid].t, key, idx[mid].len < klen ? idx[mid].len : klen);
        if (r < 0 || (r == 0 && idx[mid].len < klen))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && idx[lo].len == klen && memcmp(idx[lo].t, key, klen) == 0 ? lo : n;
}

static bool unfiltered(const struct mount_entry *m)
{
    return !m->groups.present && !m->users.present;
}

struct mount_index {
    const struct profile_view *v;
    struct tentry *idx;
    size_t n;
    size_t *killer; /* per view position: the unfiltered entry that always wins, or SIZE_MAX */
};

/* For each target, entries after the first unfiltered one never apply. */
static int mount_index_build(struct mount_index *mi, const struct profile_view *v)
{
    mi->v = v;
    mi->n = 0;
    mi->idx = calloc(v->nmounts + 1, sizeof(*mi->idx));
    mi->killer = calloc(v->nmounts + 1, sizeof(*mi->killer));
    if (!mi->idx || !mi->killer)
        return -1;
    for (size_t i = 0; i < v->nmounts; i++) {
        mi->killer[i] = SIZE_MAX;
        if (v->mounts[i]->target)
            mi->idx[mi->n++] =
                (struct tentry){v->mounts[i]->target, strlen(v->mounts[i]->target), i};
    }
    qsort(mi->idx, mi->n, sizeof(*mi->idx), cmp_tentry);
    for (size_t i = 0; i < mi->n;) {
        size_t end = i + 1, win = SIZE_MAX;
        while (end < mi->n && tentry_same(&mi->idx[end], &mi->idx[i]))
            end++;
        for (size_t k = i; k < end; k++) {
            if (win != SIZE_MAX)
                mi->killer[mi->idx[k].pos] = win;
            else if (unfiltered(v->mounts[mi->idx[k].pos]))
                win = mi->idx[k].pos;
        }
        i = end;
    }
    return 0;
}

static void mount_index_free(struct mount_index *mi)
{
    free(mi->idx);
    free(mi->killer);
}

static bool live(const struct mount_index *mi, size_t pos)
{
    return mi->killer[pos] == SIZE_MAX;
}

/* The live entry, of a type in TYPES (a bit per enum mount_type), whose target is the deepest
 * proper ancestor of entry I's, wherever it stands in the list: mounts are made parents first,
 * so that is what I's target lands in. At one depth a non-tmpfs entry is preferred (the
 * strictest answer when filters pick different entries for different users). SIZE_MAX if none. */
static size_t ancestor_deepest(const struct mount_index *mi, size_t i, unsigned types)
{
    const char *t = mi->v->mounts[i]->target;
    size_t len = strlen(t);

    for (size_t j = len - 1; j >= 1; j--) {
        size_t best = SIZE_MAX;
        if (t[j] != '/')
            continue;
        for (size_t k = tindex_find(mi->idx, mi->n, t, j);
             k < mi->n && mi->idx[k].len == j && memcmp(mi->idx[k].t, t, j) == 0; k++) {
            size_t pos = mi->idx[k].pos;
            if (pos == i || !live(mi, pos) || !(types & (1u << mi->v->mounts[pos]->type)))
                continue;
            if (best == SIZE_MAX || mi->v->mounts[pos]->type != MOUNT_TMPFS)
                best = pos;
        }
        if (best != SIZE_MAX)
            return best;
    }
    return SIZE_MAX;
}

#define TYPE_BIT(t) (1u << (t))

/* A dir or symlink is made inside a tmpfs of the policy, never on the node's own file systems:
 * the deepest mount (or symlink) above its target must be a tmpfs. */
static void check_made_in_tmpfs(struct ctx *c, const struct mount_index *mi, size_t i)
{
    const struct mount_entry *m = mi->v->mounts[i], *in = NULL;
    const char *what = m->type == MOUNT_DIR ? "dir" : "symlink";
    size_t best = ancestor_deepest(
        mi, i, TYPE_BIT(MOUNT_TMPFS) | TYPE_BIT(MOUNT_BIND) | TYPE_BIT(MOUNT_SYMLINK));

    if (best != SIZE_MAX)
        in = mi->v->mounts[best];
    if (!in)
        error_at(c, m->loc,
                 "%s target \"%s\" is not inside a tmpfs entry; the plugin "
                 "creates nothing on the node's own file systems: add a tmpfs entry for a parent "
                 "directory",
                 what, esc(c, m->target));
    else if (in->type == MOUNT_BIND)
        error_at(c, m->loc,
                 "%s target \"%s\" lies inside the bind mount on \"%s\" (line %d), "
                 "which is the host's file system; put it under a tmpfs entry's target instead",
                 what, esc(c, m->target), esc(c, in->target), in->loc.line);
    else if (in->type == MOUNT_SYMLINK)
        error_at(c, m->loc,
                 "%s target \"%s\" lies under the symlink \"%s\" (line %d); a path "
                 "through a symlink is not followed",
                 what, esc(c, m->target), esc(c, in->target), in->loc.line);
}

/* ENTRY lies in the array V of N elements of SIZE bytes. */
static bool in_array(const void *entry, const void *v, size_t n, size_t size)
{
    const char *e = entry, *base = v;

    return n > 0 && e >= base && e < base + n * size;
}

/* The profile holding ENTRY (a mount, polydir or hidden path of P), or NULL. */
static const struct profile *owner_of(const struct policy *p, const void *entry)
{
    for (size_t i = 0; i < p->nprofiles; i++) {
        const struct profile *pr = &p->profiles[i];
        if (in_array(entry, pr->mounts, pr->nmounts, sizeof(*pr->mounts)) ||
            in_array(entry, pr->polydirs, pr->npolydirs, sizeof(*pr->polydirs)) ||
            in_array(entry, pr->hide, pr->nhide, sizeof(*pr->hide)))
            return pr;
    }
    return NULL;
}

/* The polydirs of a view by path. */
struct polydir_index {
    const struct profile_view *v;
    struct tentry *idx;
    size_t n;
};

static int polydir_index_build(struct polydir_index *pi, const struct profile_view *v)
{
    pi->v = v;
    pi->n = 0;
    if (!(pi->idx = calloc(v->npolydirs + 1, sizeof(*pi->idx))))
        return -1;
    for (size_t i = 0; i < v->npolydirs; i++)
        if (v->polydirs[i]->path)
            pi->idx[pi->n++] =
                (struct tentry){v->polydirs[i]->path, strlen(v->polydirs[i]->path), i};
    qsort(pi->idx, pi->n, sizeof(*pi->idx), cmp_tentry);
    return 0;
}

/* The polydir whose path is KEY[0..KLEN), or NULL. */
static const struct polydir *polydir_find(const struct polydir_index *pi, const char *key,
                                          size_t klen)
{
    size_t k = tindex_find(pi->idx, pi->n, key, klen);

    return k == pi->n ? NULL : pi->v->polydirs[pi->idx[k].pos];
}

/* A tmpfs or bind over a polydir, or a mount inside one, would be made in a directory the job's
 * user controls. ENTRY is reported if it is the profile's own, else the polydir. */
static void check_polydir_overlap(struct ctx *c, const struct profile *pr,
                                  const struct polydir_index *pi, const char *path,
                                  const void *entry, bool own, struct loc at, const char *what)
{
    size_t len = strlen(path);

    for (size_t j = 1; j <= len; j++) {
        if (j < len && path[j] != '/')
            continue;
        const struct polydir *d = polydir_find(pi, path, j);
        if (!d)
            continue;
        bool inside = j < len;
        if (own)
            error_at(c, at,
                     "%s \"%s\" %s polydir \"%s\" (line %d), which belongs to the job's "
                     "user; keep mounts and hidden paths outside polydirs",
                     what, esc(c, path), inside ? "lies inside" : "is also", esc(c, d->path),
                     d->loc.line);
        else if (owner_of(c->p, d) == pr)
            error_at(c, d->loc,
                     "polydir \"%s\" %s the inherited %s \"%s\" (profile \"%s\"); keep "
                     "mounts and hidden paths outside polydirs",
                     esc(c, d->path), inside ? "contains" : "is also", what, esc(c, path),
                     owner_of(c->p, entry) ? esc(c, owner_of(c->p, entry)->name) : "?");
        return;
    }
}

/* Polydirs may not nest: the inner one would be made in the user's instance of the outer. */
static void check_polydir_nesting(struct ctx *c, const struct profile *pr,
                                  const struct polydir_index *pi)
{
    const struct profile_view *v = pi->v;

    for (size_t i = 0; i < v->npolydirs; i++) {
        const struct polydir *d = v->polydirs[i];
        size_t len = d->path ? strlen(d->path) : 0;
        for (size_t j = 1; j < len; j++) {
            if (d->path[j] != '/')
                continue;
            const struct polydir *outer = polydir_find(pi, d->path, j);
            if (!outer)
                continue;
            if (owner_of(c->p, d) == pr)
                error_at(c, d->loc,
                         "polydir \"%s\" lies inside polydir \"%s\" (line %d); "
                         "polydirs cannot nest",
                         esc(c, d->path), esc(c, outer->path), outer->loc.line);
            else if (owner_of(c->p, outer) == pr)
                error_at(c, outer->loc,
                         "polydir \"%s\" contains the inherited polydir \"%s\" "
                         "(line %d); polydirs cannot nest",
                         esc(c, outer->path), esc(c, d->path), d->loc.line);
            break;
        }
    }
}

/* Two entries for one polydir in a profile: the second would silently replace the first. */
static void check_polydir_twice(struct ctx *c, const struct profile *pr)
{
    struct tentry *idx = calloc(pr->npolydirs + 1, sizeof(*idx));
    size_t n = 0;

    if (!idx) {
        out_of_memory(c);
        return;
    }
    for (size_t i = 0; i < pr->npolydirs; i++)
        if (pr->polydirs[i].path)
            idx[n++] = (struct tentry){pr->polydirs[i].path, strlen(pr->polydirs[i].path), i};
    qsort(idx, n, sizeof(*idx), cmp_tentry);
    for (size_t i = 1; i < n; i++) {
        size_t first = i;
        while (first > 0 && tentry_same(&idx[first - 1], &idx[i]))
            first--;
        if (first != i)
            error_at(c, pr->polydirs[idx[i].pos].loc,
                     "polydir \"%s\" is listed twice in this "
                     "profile (first at line %d); keep one",
                     esc(c, idx[i].t), pr->polydirs[idx[first].pos].loc.line);
    }
    free(idx);
}

/* The profile's own mounts: shadowed entries, and where dirs and symlinks are made. */
static void check_own_mounts(struct ctx *c, const struct profile *pr, const struct mount_index *mi)
{
    const struct profile_view *v = mi->v;

    for (size_t i = 0; i < pr->nmounts; i++) {
        const struct mount_entry *m = v->mounts[i];
        if (!m->target)
            continue;
        if (!live(mi, i)) {
            warn_at(c, m->loc,
                    "this entry never applies: the entry at line %d for the same "
                    "target has no groups or users filter, so it always wins; remove one of them",
                    v->mounts[mi->killer[i]]->loc.line);
            continue;
        }
        if (m->type == MOUNT_DIR || m->type == MOUNT_SYMLINK)
            check_made_in_tmpfs(c, mi, i);
    }
}

/* Every mount target and hidden path of the view, against its polydirs. */
static void check_polydir_overlaps(struct ctx *c, const struct profile *pr,
                                   const struct polydir_index *pi)
{
    const struct profile_view *v = pi->v;

    for (size_t i = 0; i < v->nmounts; i++)
        if (v->mounts[i]->target)
            check_polydir_overlap(c, pr, pi, v->mounts[i]->target, v->mounts[i], i < pr->nmounts,
                                  v->mounts[i]->loc, "mount target");
    for (size_t i = 0; i < v->nhide; i++)
        if (v->hide[i]->path)
            check_polydir_overlap(c, pr, pi, v->hide[i]->path, v->hide[i],
                                  owner_of(c->p, v->hide[i]) == pr, v->hide[i]->loc, "hidden path");
}

/* What PR adds to its effective view V, checked against the whole view. */
static void check_profile_view(struct ctx *c, const struct profile *pr,
                               const struct profile_view *v)
{
    struct mount_index mi = {0};
    struct polydir_index pi = {0};

    if (polydir_index_build(&pi, v) < 0 || mount_index_build(&mi, v) < 0) {
        out_of_memory(c);
        goto out;
    }
    check_own_mounts(c, pr, &mi);
    check_polydir_overlaps(c, pr, &pi);
    check_polydir_nesting(c, pr, &pi);
out:
    mount_index_free(&mi);
    free(pi.idx);
}

void check_profiles(struct ctx *c)
{
    for (size_t i = 0; i < c->p->nprofiles; i++) {
        const struct profile *pr = &c->p->profiles[i];
        bool complete;
        struct profile_view *v;
        check_polydir_twice(c, pr);
        if (!(v = view_build(c->p, pr, c->sorted, &complete))) {
            out_of_memory(c);
            return;
        }
        /* A broken chain is reported already; check what the profile holds itself. */
        if (!c->chain_ok[i])
            v->nmounts = pr->nmounts;
        check_profile_view(c, pr, v);
        profile_view_free(v);
    }
}
