/* isolationctl import: a site's pam_namespace configuration (namespace.conf, namespace.d/NAME.conf)
 * and CEA's fstab_user read into the pieces of a version 1 policy, which import_yaml.c writes.
 * What has no equivalent in the policy is said on stderr as FILE:LINE: message. */
#ifndef ISO_CMD_IMPORT_H
#define ISO_CMD_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "policy/policy.h"

/* One polydir of the policy, from one namespace.conf line (FROM is "FILE:LINE"). */
struct imp_polydir {
    char *path;
    enum backing backing;
    enum scope scope;
    char size[32]; /* "" when the kernel's default applies */
    char *from;
};

/* One mount of the policy: the fstab_user anchor's tmpfs or an fstab_user entry. */
struct imp_mount {
    enum mount_type type;
    char *source;  /* NULL for tmpfs */
    char *target;  /* absolute, normalised, '%' already written as "%%" */
    char *options; /* NULL for none */
    char *groups;  /* filter text ("~A,B"), NULL for everyone */
    char *from;
};

struct imp {
    struct imp_polydir *polydirs;
    size_t npolydirs;
    struct imp_mount *mounts;
    size_t nmounts;
    char *anchor;      /* the polydir whose iscript applies fstab_user (fstab_user's DEST base) */
    bool want_anchor;  /* an fstab_user file will be read */
    const char *nsd;   /* namespace.d, where a relative iscript= is looked for */
    char *init_script; /* namespace.init next to namespace.conf, when it exists */
    int problems;      /* what could not be converted: the exit status is 1 when > 0 */
};

/* FILE:LINE: message on stderr, counted as something not converted. */
void imp_say(struct imp *im, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* FILE:LINE: note: message on stderr: converted as pam_namespace behaves, but surprising. */
void imp_note(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "FILE:LINE", allocated (aborts on no memory: a command line tool). */
char *imp_from(const char *file, int line);
void *imp_xalloc(void *p);

/* PATH with empty and "." components removed and no trailing "/", into a new string; NULL for a
 * relative path, one with a ".." component, or "/". */
char *imp_normalise(const char *path);
/* Whether PATH is INSIDE or lies inside it. */
bool imp_path_within(const char *path, const char *inside);

/* Add a polydir or a mount; the strings are copied. */
void imp_add_polydir(struct imp *im, const struct imp_polydir *pd);
void imp_add_mount(struct imp *im, const struct imp_mount *m);

/* A tmpfs size= value (strtoull base 0, as the kernel's memparse, with K M G T P E suffixes)
 * as the policy writes it ("512M", "1048576"); -1 with the reason in WHY otherwise. */
int imp_tmpfs_size(const char *text, char *out, size_t size, const char **why);

/* S with each '%' written "%%", as the policy's source and target need (allocated). */
char *imp_percent(const char *s);

/* A tmpfs option list (pam_namespace's mntopts=, or fstab_user's OPTS), as a tmpfs MOUNT's
 * options ("size=1M,mode=1777", the kernel's default mode when none is given) or a polydir's
 * SIZE; what the policy cannot say is said (FILE:LINE) and dropped. */
void imp_tmpfs_options(struct imp *im, const char *file, int line, const char *text, bool mount,
                       char *size, size_t ssize, char *options, size_t osize);

/* Parse one pam_namespace configuration file (import_pamns.c); -1 if it cannot be read. */
/* Call FN for each line of PATH (numbered from 1); -1 if it cannot be read. */
int imp_read_lines(struct imp *im, const char *path,
                   void (*fn)(struct imp *im, const char *file, int lineno, char *text));

int imp_read_namespace_conf(struct imp *im, const char *path);
/* Parse an fstab_user file (import_fstab.c); -1 if it cannot be read. */
int imp_read_fstab_user(struct imp *im, const char *path);

/* Write IM as a version 1 policy (import_yaml.c); SOURCES name the files read. */
int imp_write_policy(const struct imp *im, const char *const *sources, size_t nsources, FILE *out);

void imp_free(struct imp *im);

#endif
