/* isolationctl import: a version 1 policy from a site's pam_namespace configuration and CEA's
 * fstab_user (isolationctl(1)). pam_namespace reads namespace.conf, then namespace.d/NAME.conf by
 * file name; the polydirs and mounts come out in that order, and fstab_user's entries in theirs,
 * so that the first entry matching a job for a target is still the one used. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "import.h"
#include "util/util.h"

#define DEFAULT_NAMESPACE_CONF "/etc/security/namespace.conf"
#define DEFAULT_NAMESPACE_D "/etc/security/namespace.d"
#define DEFAULT_FSTAB_USER "/etc/fstab_user"
#define EXIT_UNCONVERTED 1
#define EXIT_USAGE 2
#define MAX_SOURCES 1024

struct import_args {
    const char *conf, *nsd, *fstab, *output;
    bool conf_named, nsd_named, fstab_named;
};

static void import_usage(FILE *out)
{
    fprintf(out, "Usage: isolationctl import [--namespace-conf FILE] [--namespace-d DIR]\n"
                 "                           [--fstab-user FILE] [-o FILE]\n"
                 "Defaults: " DEFAULT_NAMESPACE_CONF ", " DEFAULT_NAMESPACE_D
                 ", " DEFAULT_FSTAB_USER " (skipped when missing).\n"
                 "The policy goes to standard output (or FILE); what cannot be converted is said\n"
                 "on standard error. See isolationctl(1).\n");
}

static void vsay(const char *file, int line, const char *tag, const char *fmt, va_list ap)
{
    char msg[2048], shown[4096];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    fprintf(stderr, "%s:%d: %s%s\n", file, line, tag, esc_ctl(shown, sizeof(shown), msg));
}

void imp_say(struct imp *im, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsay(file, line, "", fmt, ap);
    va_end(ap);
    im->problems++;
}

void imp_note(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsay(file, line, "note: ", fmt, ap);
    va_end(ap);
}

void *imp_xalloc(void *p)
{
    if (!p) {
        fprintf(stderr, "isolationctl import: out of memory\n");
        exit(EXIT_USAGE);
    }
    return p;
}

char *imp_from(const char *file, int line)
{
    size_t n = strlen(file) + 16;
    char *s = imp_xalloc(malloc(n));

    snprintf(s, n, "%s:%d", file, line);
    return s;
}

static char *xstrdup(const char *s)
{
    return s ? imp_xalloc(strdup(s)) : NULL;
}

char *imp_normalise(const char *path)
{
    char *out, *o;
    const char *p = path;

    if (path[0] != '/')
        return NULL;
    out = o = imp_xalloc(malloc(strlen(path) + 1));
    while (*p) {
        size_t n;

        while (*p == '/')
            p++;
        n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            free(out);
            return NULL;
        }
        if (n && !(n == 1 && p[0] == '.')) {
            *o++ = '/';
            memcpy(o, p, n);
            o += n;
        }
        p += n;
    }
    *o = '\0';
    if (o == out) {
        free(out);
        return NULL;
    }
    return out;
}

bool imp_path_within(const char *path, const char *inside)
{
    size_t n = strlen(inside);

    return strncmp(path, inside, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

void imp_add_polydir(struct imp *im, const struct imp_polydir *pd)
{
    struct imp_polydir *v = realloc(im->polydirs, (im->npolydirs + 1) * sizeof(*v));

    im->polydirs = imp_xalloc(v);
    v[im->npolydirs] = *pd;
    v[im->npolydirs].path = xstrdup(pd->path);
    v[im->npolydirs].from = xstrdup(pd->from);
    im->npolydirs++;
}

void imp_add_mount(struct imp *im, const struct imp_mount *m)
{
    struct imp_mount *v = realloc(im->mounts, (im->nmounts + 1) * sizeof(*v));

    im->mounts = imp_xalloc(v);
    v[im->nmounts] = (struct imp_mount){m->type,
                                        xstrdup(m->source),
                                        xstrdup(m->target),
                                        xstrdup(m->options),
                                        xstrdup(m->groups),
                                        xstrdup(m->from)};
    im->nmounts++;
}

void imp_free(struct imp *im)
{
    for (size_t i = 0; i < im->npolydirs; i++) {
        free(im->polydirs[i].path);
        free(im->polydirs[i].from);
    }
    for (size_t i = 0; i < im->nmounts; i++) {
        free(im->mounts[i].source);
        free(im->mounts[i].target);
        free(im->mounts[i].options);
        free(im->mounts[i].groups);
        free(im->mounts[i].from);
    }
    free(im->polydirs);
    free(im->mounts);
    free(im->anchor);
    free(im->init_script);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* namespace.d's *.conf (as glob matches them: not the hidden ones), sorted by name with strcmp
 * as pam_namespace sorts them; NULL-terminated, or NULL (errno set) if DIR cannot be read. */
static char **conf_d_files(const char *dir)
{
    DIR *d = opendir(dir);
    char **v = NULL;
    size_t n = 0;
    struct dirent *e;

    if (!d)
        return NULL;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);

        if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".conf") != 0)
            continue;
        v = imp_xalloc(realloc(v, (n + 2) * sizeof(*v)));
        v[n] = imp_xalloc(malloc(strlen(dir) + len + 2));
        sprintf(v[n++], "%s/%s", dir, e->d_name);
    }
    closedir(d);
    v = imp_xalloc(realloc(v, (n + 1) * sizeof(*v)));
    v[n] = NULL;
    qsort(v, n, sizeof(*v), cmp_names);
    return v;
}

/* Whether PATH is to be read: a default that does not exist is skipped. */
static bool wanted(const char *path, bool named)
{
    struct stat st;

    return named || stat(path, &st) == 0 || errno != ENOENT;
}

static int cannot_read(const char *path)
{
    char shown[4096];

    fprintf(stderr, "isolationctl import: cannot read %s: %s\n",
            esc_ctl(shown, sizeof(shown), path), strerror(errno));
    return -1;
}

/* Read one namespace configuration file. A directory in namespace.d (glob lists those too) has
 * no line for pam_namespace; one named as namespace.conf is a mistake. */
static int read_conf(struct imp *im, const char *path, bool in_d, const char **src, size_t *nsrc)
{
    struct stat st;

    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        return in_d ? 0 : cannot_read(path);
    }
    if (imp_read_namespace_conf(im, path) < 0)
        return cannot_read(path);
    if (*nsrc < MAX_SOURCES)
        src[(*nsrc)++] = path;
    return 0;
}

/* namespace.d's files, in pam_namespace's order; their names are kept in *KEEP for the header. */
static int read_conf_d(struct imp *im, const struct import_args *a, const char **src, size_t *nsrc,
                       char ***keep)
{
    char **files;

    if (!wanted(a->nsd, a->nsd_named))
        return 0;
    if (!(files = conf_d_files(a->nsd)))
        return cannot_read(a->nsd);
    *keep = files;
    for (size_t i = 0; files[i]; i++)
        if (read_conf(im, files[i], true, src, nsrc) < 0)
            return -1;
    return 0;
}

static void free_list(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* namespace.init next to namespace.conf runs for every instance without noinit or iscript=. */
static void find_init_script(struct imp *im, const char *conf)
{
    const char *slash = strrchr(conf, '/');
    size_t dirlen = slash ? (size_t)(slash - conf) + 1 : 0;
    char *path = imp_xalloc(malloc(dirlen + sizeof("namespace.init")));

    memcpy(path, conf, dirlen);
    strcpy(path + dirlen, "namespace.init");
    if (access(path, F_OK) == 0)
        im->init_script = path;
    else
        free(path);
}

/* Write the policy to A->output (or stdout); -1 (said) on failure. */
static int write_out(const struct imp *im, const struct import_args *a, const char **src,
                     size_t nsrc)
{
    FILE *out = a->output ? fopen(a->output, "we") : stdout;
    int rc;

    if (!out) {
        char shown[4096];
        fprintf(stderr, "isolationctl import: cannot write %s: %s\n",
                esc_ctl(shown, sizeof(shown), a->output), strerror(errno));
        return -1;
    }
    rc = imp_write_policy(im, src, nsrc, out);
    if (fflush(out) != 0 || ferror(out))
        rc = -1;
    if (a->output && fclose(out) != 0)
        rc = -1;
    if (rc < 0)
        fprintf(stderr, "isolationctl import: cannot write the policy: %s\n", strerror(errno));
    return rc;
}

static int run_import(const struct import_args *a)
{
    struct imp im = {.nsd = a->nsd};
    const char *src[MAX_SOURCES];
    size_t nsrc = 0;
    char **d_files = NULL;
    int rc = EXIT_USAGE;

    /* A file named on the command line that cannot be read stops everything before any line. */
    if ((a->conf_named && access(a->conf, R_OK) != 0 && cannot_read(a->conf)) ||
        (a->nsd_named && access(a->nsd, R_OK | X_OK) != 0 && cannot_read(a->nsd)) ||
        (a->fstab_named && access(a->fstab, R_OK) != 0 && cannot_read(a->fstab)))
        goto out;
    im.want_anchor = wanted(a->fstab, a->fstab_named);
    if (wanted(a->conf, a->conf_named)) {
        find_init_script(&im, a->conf);
        if (read_conf(&im, a->conf, false, src, &nsrc) < 0)
            goto out;
    }
    if (read_conf_d(&im, a, src, &nsrc, &d_files) < 0)
        goto out;
    if (im.want_anchor) {
        if (imp_read_fstab_user(&im, a->fstab) < 0) {
            cannot_read(a->fstab);
            goto out;
        }
        if (nsrc < MAX_SOURCES)
            src[nsrc++] = a->fstab;
    }
    if (nsrc == 0) {
        fprintf(stderr,
                "isolationctl import: none of " DEFAULT_NAMESPACE_CONF ", " DEFAULT_NAMESPACE_D
                "/*.conf, " DEFAULT_FSTAB_USER " exists here; name the files to import\n");
        goto out;
    }
    if (write_out(&im, a, src, nsrc) == 0)
        rc = im.problems ? EXIT_UNCONVERTED : 0;
out:
    free_list(d_files);
    imp_free(&im);
    return rc;
}

static int bad_option(const char *arg)
{
    char shown[1024];

    fprintf(stderr, "isolationctl import: unknown option or missing value: \"%s\"\n",
            esc_ctl(shown, sizeof(shown), arg));
    import_usage(stderr);
    return EXIT_USAGE;
}

/* Fill A from the options; returns -1 to go on, else the exit code. */
static int parse_import(int argc, char **argv, struct import_args *a)
{
    static const struct option opts[] = {{"namespace-conf", required_argument, NULL, 'c'},
                                         {"namespace-d", required_argument, NULL, 'd'},
                                         {"fstab-user", required_argument, NULL, 'f'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        if (c == 'c')
            a->conf = optarg, a->conf_named = true;
        else if (c == 'd')
            a->nsd = optarg, a->nsd_named = true;
        else if (c == 'f')
            a->fstab = optarg, a->fstab_named = true;
        else if (c == 'o')
            a->output = optarg;
        else if (c == 'h')
            return import_usage(stdout), 0;
        else
            return bad_option(argv[optind - 1]);
    }
    if (optind != argc) {
        char shown[1024];
        fprintf(stderr, "isolationctl import: unexpected argument \"%s\"\n",
                esc_ctl(shown, sizeof(shown), argv[optind]));
        import_usage(stderr);
        return EXIT_USAGE;
    }
    return -1;
}

int cmd_import(int argc, char **argv)
{
    struct import_args a = {
        .conf = DEFAULT_NAMESPACE_CONF, .nsd = DEFAULT_NAMESPACE_D, .fstab = DEFAULT_FSTAB_USER};
    int rc = parse_import(argc, argv, &a);

    return rc >= 0 ? rc : run_import(&a);
}

int imp_read_lines(struct imp *im, const char *path,
                   void (*fn)(struct imp *im, const char *file, int lineno, char *text))
{
    FILE *f = fopen(path, "re");
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0;

    if (!f)
        return -1;
    while (getline(&line, &cap, f) > 0)
        fn(im, path, ++lineno, line);
    if (ferror(f))
        rc = -1;
    free(line);
    fclose(f);
    return rc;
}
