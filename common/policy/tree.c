/* libyaml's events become a small tree of nodes, each with its position, refusing what the
 * format never uses: aliases, anchors, tags, several documents, deep nesting, NUL and control
 * characters. The readers of build.c then walk the tree, not the event stream. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "policy_int.h"

/* A policy needs 7 levels (top, profiles, profile, mounts, entry, groups list, name). */
#define MAX_DEPTH 32

/* Where the tree stands while events arrive: the open collections, innermost last. */
struct builder {
    struct node *stack[MAX_DEPTH];
    size_t depth;
    struct node *root;
    int docs;
};

void node_free(struct node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkid; i++)
        node_free(n->kid[i]);
    free(n->kid);
    free(n->text);
    free(n);
}

bool is_null(const struct node *n)
{
    if (n->kind != NODE_SCALAR || !n->plain)
        return false;
    return n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
           strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0;
}

static struct node *node_new(struct ctx *c, enum node_kind kind, struct loc at)
{
    struct node *n = zalloc(c, 1, sizeof(*n));

    if (n) {
        n->kind = kind;
        n->loc = at;
    }
    return n;
}

static int node_add(struct ctx *c, struct node *parent, struct node *kid)
{
    if (parent->nkid == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 4;
        struct node **v = realloc(parent->kid, cap * sizeof(*v));
        if (!v) {
            out_of_memory(c);
            return -1;
        }
        parent->kid = v;
        parent->cap = cap;
    }
    parent->kid[parent->nkid++] = kid;
    return 0;
}

/* The format has no use for anchors and tags; refusing them also rules out alias bombs. */
static void check_props(struct ctx *c, const yaml_char_t *anchor, const yaml_char_t *tag,
                        struct loc at)
{
    if (anchor)
        error_at(c, at, "anchors (&%s) are not supported; write the value out in full",
                 esc(c, (const char *)anchor));
    if (tag) {
        const char *t = (const char *)tag, *std = "tag:yaml.org,2002:";
        bool short_form = strncmp(t, std, strlen(std)) == 0;
        error_at(c, at, "tags (%s%s) are not supported; remove it", short_form ? "!!" : "",
                 esc(c, short_form ? t + strlen(std) : t));
    }
}

/* Take the scalar out of EV (it is ours to free), refusing NUL and control characters. */
static struct node *scalar_node(struct ctx *c, yaml_event_t *ev, struct loc at)
{
    struct node *n = node_new(c, NODE_SCALAR, at);

    if (!n)
        return NULL;
    n->text = (char *)ev->data.scalar.value;
    n->len = ev->data.scalar.length;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    ev->data.scalar.value = NULL;
    check_props(c, ev->data.scalar.anchor, ev->data.scalar.tag, at);
    if (strlen(n->text) != n->len) {
        error_at(c, at, "a NUL character (\\0) is not allowed in a value; remove it");
        return n;
    }
    for (size_t i = 0; i < n->len; i++) {
        unsigned char ch = (unsigned char)n->text[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            error_at(c, at, "control character \\x%02x in \"%s\"; remove it", ch, esc(c, n->text));
            break;
        }
    }
    return n;
}

/* An alias is refused; "nothing" stands in for it so that keys and values stay paired. */
static struct node *alias_node(struct ctx *c, const yaml_event_t *ev, struct loc at)
{
    struct node *n;

    error_at(c, at, "aliases (*%s) are not supported; write the value out in full",
             esc(c, (const char *)ev->data.alias.anchor));
    if ((n = node_new(c, NODE_SCALAR, at)) && !(n->text = dup_str(c, ""))) {
        node_free(n);
        n = NULL;
    }
    if (n)
        n->plain = n->reported = true;
    return n;
}

/* A mapping or a list opens; an anchor or tag on it is refused. */
static struct node *collection_node(struct ctx *c, const yaml_event_t *ev, struct loc at)
{
    struct node *n;

    if (ev->type == YAML_MAPPING_START_EVENT) {
        n = node_new(c, NODE_MAP, at);
        check_props(c, ev->data.mapping_start.anchor, ev->data.mapping_start.tag, at);
    } else {
        n = node_new(c, NODE_SEQ, at);
        check_props(c, ev->data.sequence_start.anchor, ev->data.sequence_start.tag, at);
    }
    return n;
}

/* Place N in the tree: as the root, or as the next child of the innermost open collection; a
 * collection then becomes the innermost. Returns -1 to abandon the tree. */
static int attach(struct ctx *c, struct builder *b, struct node *n)
{
    if (b->depth == 0) {
        b->root = n;
    } else if (node_add(c, b->stack[b->depth - 1], n) < 0) {
        node_free(n);
        return -1;
    }
    if (n->kind == NODE_SCALAR)
        return 0;
    if (b->depth == MAX_DEPTH) {
        error_at(c, n->loc, "nested more than %d levels deep; a policy needs at most 7", MAX_DEPTH);
        return -1;
    }
    b->stack[b->depth++] = n;
    return 0;
}

/* Turn one event into tree nodes. Returns 1 at the end, 0 to go on, -1 to abandon the tree. */
static int on_event(struct ctx *c, yaml_event_t *ev, struct builder *b)
{
    struct loc at = {(int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1};
    struct node *n;

    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        return 1;
    case YAML_DOCUMENT_START_EVENT:
        if (++b->docs == 1)
            return 0;
        error_at(c, at,
                 "a second YAML document starts here; a policy is one document: "
                 "remove this \"---\" and what follows it");
        return 1;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        if (b->depth > 0)
            b->depth--;
        return 0;
    case YAML_SCALAR_EVENT:
        n = scalar_node(c, ev, at);
        break;
    case YAML_ALIAS_EVENT:
        n = alias_node(c, ev, at);
        break;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        n = collection_node(c, ev, at);
        break;
    default:
        return 0;
    }
    return n ? attach(c, b, n) : -1;
}

struct node *tree_load(struct ctx *c)
{
    const struct libyaml *ly;
    yaml_parser_t y;
    yaml_event_t ev;
    struct builder b = {.depth = 0};
    struct err e;
    int r = 0;

    if (!(ly = libyaml_get(&e))) {
        diag_add(c->d, DIAG_ERROR, 0, 0, "the policy cannot be read: %s", e.text);
        return NULL;
    }
    if (!ly->yaml_parser_initialize(&y)) {
        out_of_memory(c);
        return NULL;
    }
    ly->yaml_parser_set_input_string(&y, (const unsigned char *)c->buf, c->len);
    ly->yaml_parser_set_encoding(&y, YAML_UTF8_ENCODING);
    while (r == 0) {
        if (!ly->yaml_parser_parse(&y, &ev)) {
            report_syntax(c, &y);
            r = -1;
            break;
        }
        r = on_event(c, &ev, &b);
        ly->yaml_event_delete(&ev);
    }
    ly->yaml_parser_delete(&y);
    if (r < 0) {
        node_free(b.root);
        return NULL;
    }
    return b.root;
}
