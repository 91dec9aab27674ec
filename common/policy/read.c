/* Loading a policy: the file, what must hold of its bytes before libyaml sees them (the size
 * limit, UTF-8), and the three passes: bytes to node tree (tree.c), tree to model
 * (build.c), checks on the model (check.c). Every problem is reported, not just
 * the first, and a policy with any error is not returned. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy_int.h"

static const struct loc whole_file = {0, 0};

/* Offset of the first byte that is not part of well-formed UTF-8, or LEN. */
static size_t utf8_bad_offset(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char b = s[i];
        size_t need;
        uint32_t cp, min;
        if (b < 0x80) {
            i++;
            continue;
        }
        if ((b & 0xe0) == 0xc0) {
            need = 1, cp = b & 0x1f, min = 0x80;
        } else if ((b & 0xf0) == 0xe0) {
            need = 2, cp = b & 0x0f, min = 0x800;
        } else if ((b & 0xf8) == 0xf0) {
            need = 3, cp = b & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (len - i <= need)
            return i;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += need + 1;
    }
    return len;
}

/* The line and column (in characters, as libyaml counts) of byte OFF. */
struct loc loc_of_offset(const char *buf, size_t len, size_t off)
{
    struct loc at = {1, 1};

    for (size_t i = 0; i < off && i < len; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch == '\n' || (ch == '\r' && (i + 1 >= len || buf[i + 1] != '\n'))) {
            at.line++;
            at.col = 1;
        } else if ((ch & 0xc0) != 0x80 && ch != '\r') {
            at.col++;
        }
    }
    return at;
}

/* What must hold of the bytes before they are parsed: the size limit, and UTF-8. */
static bool text_ok(struct ctx *c)
{
    size_t bad;

    if (c->len > POLICY_MAX_BYTES) {
        error_at(c, whole_file,
                 "the policy is %zu bytes, more than the 1 MiB limit (%d bytes); is this the "
                 "right file?",
                 c->len, POLICY_MAX_BYTES);
        return false;
    }
    if ((bad = utf8_bad_offset((const unsigned char *)c->buf, c->len)) < c->len) {
        error_at(c, loc_of_offset(c->buf, c->len, bad),
                 "not valid UTF-8 (byte 0x%02x); save the policy as UTF-8 text",
                 (unsigned char)c->buf[bad]);
        return false;
    }
    return true;
}

struct policy *policy_parse(const char *buf, size_t len, const char *name, struct diag_list *diags)
{
    struct ctx c = {.d = diags, .buf = buf, .len = len};
    struct node *root = NULL;

    if (!(c.p = zalloc(&c, 1, sizeof(*c.p))))
        return NULL;
    c.p->file = dup_str(&c, name ? name : "<policy>");
    c.p->instance_base = dup_str(&c, POLICY_DEFAULT_INSTANCE_BASE);
    c.p->on_error = ON_ERROR_DENY;
    c.p->ssh = SSH_DENY;
    if (text_ok(&c))
        root = tree_load(&c);
    /* No document at all (and no other reason given), or a document holding nothing. */
    if ((!root && !c.shown[0] && !c.oom) || (root && is_null(root))) {
        error_at(&c, whole_file,
                 "empty policy: expected a mapping with at least `version` and "
                 "`default_profile`");
    } else if (root) {
        build_model(&c, root);
        if (!c.oom)
            check_model(&c);
    }
    node_free(root);
    free(c.sorted);
    free(c.chain_ok);
    if (c.shown[0] || c.capped[0] || c.oom) {
        policy_free(c.p);
        return NULL;
    }
    return c.p;
}

/* The policy file must be a regular file within the size limit; else reported. */
static bool file_ok(int fd, struct diag_list *diags)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        diag_add(diags, DIAG_ERROR, 0, 0, "cannot stat the policy: %s", strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        diag_add(diags, DIAG_ERROR, 0, 0, "the policy is not a regular file");
        return false;
    }
    if (st.st_size > POLICY_MAX_BYTES) {
        diag_add(diags, DIAG_ERROR, 0, 0,
                 "the policy is %lld bytes, more than the 1 MiB limit "
                 "(%d bytes); is this the right file?",
                 (long long)st.st_size, POLICY_MAX_BYTES);
        return false;
    }
    return true;
}

/* Read FD to its end or to MAX bytes, whichever comes first; -1 with errno on failure. */
static ssize_t read_upto(int fd, char *buf, size_t max)
{
    size_t len = 0;

    while (len < max) {
        ssize_t n = read(fd, buf + len, max - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    return (ssize_t)len;
}

struct policy *policy_load(const char *path, struct diag_list *diags)
{
    struct policy *p = NULL;
    char *buf = NULL;
    ssize_t len;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        diag_add(diags, DIAG_ERROR, 0, 0, "cannot open the policy: %s", strerror(errno));
        return NULL;
    }
    if (!file_ok(fd, diags))
        goto out;
    /* Read one byte more than allowed, in case the file grew since fstat. */
    if (!(buf = malloc(POLICY_MAX_BYTES + 1))) {
        diag_add(diags, DIAG_ERROR, 0, 0, "out of memory while reading the policy");
        goto out;
    }
    if ((len = read_upto(fd, buf, POLICY_MAX_BYTES + 1)) < 0) {
        diag_add(diags, DIAG_ERROR, 0, 0, "cannot read the policy: %s", strerror(errno));
        goto out;
    }
    p = policy_parse(buf, (size_t)len, path, diags);
out:
    free(buf);
    close(fd);
    return p;
}
