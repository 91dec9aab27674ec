/* The planner: %-expansion of templates and the plan itself (plan_build), a pure function from
 * a profile and a job identity to the ordered operations that build its namespace. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "plan/plan.h"

/* --- %-expansion ------------------------------------------------------------------------- */

struct sbuf {
    char *s;
    size_t len;
    size_t cap;
};

static int sbuf_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *ns = realloc(b->s, cap);
        if (!ns)
            return -1;
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

static const char *expansion(char c, const struct job_identity *id, char *num, size_t size)
{
    switch (c) {
    case 'u':
        return id->user;
    case 'g':
        return id->group;
    case 'U':
        snprintf(num, size, "%lu", (unsigned long)id->uid);
        return num;
    case 'j':
        snprintf(num, size, "%lu", (unsigned long)id->job_id);
        return num;
    case '%':
        return "%";
    default:
        return NULL;
    }
}

char *plan_expand(const char *template, const struct job_identity *id, struct err *e)
{
    struct sbuf b = {0};
    const char *p = template;
    char num[32];

    if (sbuf_add(&b, "", 0) < 0)
        goto nomem;
    while (*p) {
        const char *pct = strchr(p, '%');
        size_t n = pct ? (size_t)(pct - p) : strlen(p);
        if (sbuf_add(&b, p, n) < 0)
            goto nomem;
        if (!pct)
            break;
        const char *v = expansion(pct[1], id, num, sizeof(num));
        if (!v || !*v) {
            free(b.s);
            if (!v)
                errprintf(e, "\"%s\": unknown expansion \"%%%.1s\"", template, pct + 1);
            else
                errprintf(e, "\"%s\": \"%%%c\" expands to nothing for this job", template, pct[1]);
            return NULL;
        }
        if (sbuf_add(&b, v, strlen(v)) < 0)
            goto nomem;
        p = pct + 2;
    }
    return b.s;
nomem:
    free(b.s);
    errprintf(e, "out of memory");
    return NULL;
}

/* An expanded path must still be absolute and normalised: a name like ".." must not climb. */
static bool path_is_clean(const char *path)
{
    const char *p = path;

    if (*p != '/')
        return false;
    if (strcmp(path, "/") == 0)
        return true;
    while (*p == '/') {
        const char *next = strchr(p + 1, '/');
        size_t n = next ? (size_t)(next - p - 1) : strlen(p + 1);
        if (n == 0 || (n == 1 && p[1] == '.') || (n == 2 && p[1] == '.' && p[2] == '.'))
            return false;
        if (!next)
            break;
        p = next;
    }
    return true;
}

/* True if PATH lies strictly below DIR. */
static bool path_inside(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    if (strcmp(dir, "/") == 0)
        return path[0] == '/' && path[1] != '\0';
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* --- the set of targets already decided (first match wins) -------------------------------- */

struct strset {
    const char **slot;
    size_t cap;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

static int strset_init(struct strset *s, size_t n)
{
    s->cap = 16;
    while (s->cap < n * 2)
        s->cap *= 2;
    s->slot = calloc(s->cap, sizeof(*s->slot));
    return s->slot ? 0 : -1;
}

/* Returns true if S was already present; otherwise adds it (S must outlive the set). */
static bool strset_test_and_add(struct strset *set, const char *s)
{
    size_t i = hash_str(s) & (set->cap - 1);

    while (set->slot[i]) {
        if (strcmp(set->slot[i], s) == 0)
            return true;
        i = (i + 1) & (set->cap - 1);
    }
    set->slot[i] = s;
    return false;
}

/* --- building the plan -------------------------------------------------------------------- */

static uint64_t size_bytes(const struct size_spec *s, const struct job_identity *id)
{
    uint64_t mem = id->mem_bytes ? id->mem_bytes : id->node_mem_bytes;

    switch (s->kind) {
    case SIZE_BYTES:
        return s->value;
    case SIZE_PERCENT:
        /* Round down to a page; at least one page so a tiny job still gets a usable tmpfs. */
        if (!mem)
            return 0;
        uint64_t b = mem / 100 * s->value + (mem % 100) * s->value / 100;
        b &= ~(uint64_t)4095;
        return b ? b : 4096;
    default:
        return 0;
    }
}

static bool filters_match(const struct mount_entry *m, const struct job_identity *id)
{
    const char *user[1] = {id->user};

    return filter_match(&m->groups, id->groups, id->ngroups) && filter_match(&m->users, user, 1);
}

static int add_polydirs(struct plan *plan, const struct profile_view *v,
                        const struct job_identity *id, struct err *e)
{
    plan->polydirs = calloc(v->npolydirs ? v->npolydirs : 1, sizeof(*plan->polydirs));
    if (!plan->polydirs)
        return errprintf(e, "out of memory");
    for (size_t i = 0; i < v->npolydirs; i++) {
        const struct polydir *d = v->polydirs[i];
        struct plan_polydir *o = &plan->polydirs[plan->npolydirs];
        if (!(o->path = strdup(d->path)))
            return errprintf(e, "out of memory");
        o->backing = d->backing;
        o->scope = d->scope;
        o->size_bytes = size_bytes(&d->size, id);
        if (d->backing == BACKING_TMPFS && d->size.kind == SIZE_PERCENT)
            o->percent = (unsigned)d->size.value;
        o->line = d->loc.line;
        plan->npolydirs++;
    }
    return 0;
}

static int fill_mount(struct plan_mount *o, const struct mount_entry *m, char *target,
                      const struct job_identity *id, struct err *e)
{
    o->type = m->type;
    o->target = target;
    o->readonly = m->flags & MOUNT_OPT_RO;
    o->noexec = m->flags & MOUNT_OPT_NOEXEC;
    o->size_bytes = m->type == MOUNT_TMPFS ? size_bytes(&m->size, id) : 0;
    o->mode = m->mode;
    o->line = m->loc.line;
    if (m->source) {
        if (!(o->source = plan_expand(m->source, id, e)))
            return -1;
        if (m->type == MOUNT_BIND && !path_is_clean(o->source))
            return errprintf(e,
                             "line %d: source \"%s\" is not a clean absolute path after "
                             "expansion",
                             m->loc.line, o->source);
    }
    return 0;
}

static size_t depth(const char *path)
{
    size_t n = 0;

    for (; *path; path++)
        n += *path == '/';
    return n;
}

static int by_depth(const void *a, const void *b)
{
    const struct plan_mount *x = a, *y = b;
    size_t dx = depth(x->target), dy = depth(y->target);

    if (dx != dy)
        return dx < dy ? -1 : 1;
    /* Same depth: keep the policy's order (line numbers grow along the merged list). */
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Mount a parent before what lies inside it, whatever the list order, so that a child profile's
 * bind inside its parent's tmpfs is not covered by that tmpfs; then mark what lies inside a
 * tmpfs of this plan (there, mount points and links are created). */
static void order_parents_first(struct plan *plan)
{
    for (size_t i = 0; i < plan->nmounts; i++)
        plan->mounts[i].seq = i;
    qsort(plan->mounts, plan->nmounts, sizeof(*plan->mounts), by_depth);
    for (size_t i = 0; i < plan->nmounts; i++)
        for (size_t j = 0; j < i && !plan->mounts[i].in_tmpfs; j++)
            plan->mounts[i].in_tmpfs = plan->mounts[j].type == MOUNT_TMPFS &&
                                       path_inside(plan->mounts[i].target, plan->mounts[j].target);
}

static int add_mounts(struct plan *plan, const struct profile_view *v,
                      const struct job_identity *id, struct err *e)
{
    struct strset seen;

    if (strset_init(&seen, v->nmounts) < 0)
        return errprintf(e, "out of memory");
    plan->mounts = calloc(v->nmounts ? v->nmounts : 1, sizeof(*plan->mounts));
    if (!plan->mounts)
        goto nomem;
    for (size_t i = 0; i < v->nmounts; i++) {
        const struct mount_entry *m = v->mounts[i];
        if (!filters_match(m, id))
            continue;
        char *target = plan_expand(m->target, id, e);
        if (!target)
            goto fail;
        if (!path_is_clean(target)) {
            errprintf(e, "line %d: target \"%s\" is not a clean absolute path after expansion",
                      m->loc.line, target);
            free(target);
            goto fail;
        }
        if (strset_test_and_add(&seen, target)) {
            free(target);
            continue;
        }
        struct plan_mount *o = &plan->mounts[plan->nmounts++];
        if (fill_mount(o, m, target, id, e) < 0)
            goto fail;
    }
    free(seen.slot);
    order_parents_first(plan);
    return 0;
nomem:
    errprintf(e, "out of memory");
fail:
    free(seen.slot);
    return -1;
}

static int add_hide_env(struct plan *plan, const struct profile_view *v, struct err *e)
{
    plan->hide = calloc(v->nhide ? v->nhide : 1, sizeof(*plan->hide));
    plan->env = calloc(v->nenv ? v->nenv : 1, sizeof(*plan->env));
    if (!plan->hide || !plan->env)
        return errprintf(e, "out of memory");
    for (size_t i = 0; i < v->nhide; i++, plan->nhide++) {
        if (!(plan->hide[i].path = strdup(v->hide[i]->path)))
            return errprintf(e, "out of memory");
        plan->hide[i].line = v->hide[i]->loc.line;
    }
    for (size_t i = 0; i < v->nenv; i++, plan->nenv++) {
        plan->env[i].name = strdup(v->env[i]->name);
        plan->env[i].value = strdup(v->env[i]->value);
        plan->env[i].line = v->env[i]->loc.line;
        if (!plan->env[i].name || !plan->env[i].value) {
            plan->nenv++;
            return errprintf(e, "out of memory");
        }
    }
    return 0;
}

int plan_build(const struct policy *p, const char *profile, const struct job_identity *id,
               struct plan **out, struct err *e)
{
    struct plan *plan = calloc(1, sizeof(*plan));
    struct profile_view *v = NULL;

    if (!plan || !(plan->profile = strdup(profile))) {
        errprintf(e, "out of memory");
        goto fail;
    }
    if (strcmp(profile, PROFILE_NONE) == 0) {
        *out = plan;
        return 0;
    }
    if (!(v = profile_view_get(p, profile))) {
        errprintf(e, "unknown isolation profile \"%s\"", profile);
        goto fail;
    }
    plan->isolate = true;
    if (add_polydirs(plan, v, id, e) < 0 || add_mounts(plan, v, id, e) < 0 ||
        add_hide_env(plan, v, e) < 0)
        goto fail;
    profile_view_free(v);
    *out = plan;
    return 0;
fail:
    profile_view_free(v);
    plan_free(plan);
    return -1;
}

void plan_free(struct plan *plan)
{
    if (!plan)
        return;
    for (size_t i = 0; i < plan->npolydirs; i++)
        free(plan->polydirs[i].path);
    for (size_t i = 0; i < plan->nmounts; i++) {
        free(plan->mounts[i].source);
        free(plan->mounts[i].target);
    }
    for (size_t i = 0; i < plan->nhide; i++)
        free(plan->hide[i].path);
    for (size_t i = 0; i < plan->nenv; i++) {
        free(plan->env[i].name);
        free(plan->env[i].value);
    }
    free(plan->polydirs);
    free(plan->mounts);
    free(plan->hide);
    free(plan->env);
    free(plan->profile);
    free(plan);
}
