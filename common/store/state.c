/* The decision a prolog records for its job (RECORDS/job/JOBID/state), read by each step: one
 * KEY=VALUE a line, written whole to state.new and renamed over state. The boot id it carries
 * tells the sweep a job of an earlier boot. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "store_int.h"
#include "util/util.h"

void store_read_boot_id(char *buf, size_t size)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

    buf[0] = '\0';
    if (f) {
        if (fgets(buf, size, f))
            buf[strcspn(buf, "\n")] = '\0';
        fclose(f);
    }
}

/* Values are written with \n and \\ escaped, so one line is one key. */
static void put_escaped(FILE *f, const char *key, const char *v)
{
    fprintf(f, "%s=", key);
    for (; *v; v++) {
        if (*v == '\n')
            fputs("\\n", f);
        else if (*v == '\\')
            fputs("\\\\", f);
        else
            fputc(*v, f);
    }
    fputc('\n', f);
}

static void unescape(char *s)
{
    char *w = s;

    for (char *r = s; *r; r++) {
        if (*r == '\\' && r[1] == 'n') {
            *w++ = '\n';
            r++;
        } else if (*r == '\\' && r[1] == '\\') {
            *w++ = '\\';
            r++;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

static void put_state(FILE *f, const char *boot, const struct job_state *st)
{
    fprintf(f, "boot_id=%s\nuid=%lu\ngid=%lu\nisolated=%d\n", boot, (unsigned long)st->uid,
            (unsigned long)st->gid, st->isolated ? 1 : 0);
    put_escaped(f, "profile", st->profile);
    put_escaped(f, "host_ns", st->host_ns);
    put_escaped(f, "error", st->error);
    for (char **v = st->env; v && *v; v++)
        put_escaped(f, "env", *v);
    for (char **v = st->resize; v && *v; v++)
        put_escaped(f, "resize", *v);
}

char *job_state_format(const struct job_state *st)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);

    if (!f)
        return NULL;
    put_state(f, st->boot_id, st);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

int instance_state_write(struct instance_job *job, const struct job_state *st, struct err *e)
{
    char boot[40];
    int fd;
    FILE *f;

    store_read_boot_id(boot, sizeof(boot));
    unlinkat(job->dirfd, "state.new", 0);
    fd =
        openat(job->dirfd, "state.new", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        if (fd >= 0)
            close(fd);
        return errprintf_errno(e, errno, "job %" PRIu32 ": cannot write its state", job->job_id);
    }
    put_state(f, boot, st);
    /* No fsync: the rename makes the record appear whole to readers, and a record never has to
     * survive a crash (one of an earlier boot is the sweep's, whatever it holds). */
    if (fflush(f) != 0) {
        fclose(f);
        return errprintf_errno(e, errno, "job %" PRIu32 ": cannot write its state", job->job_id);
    }
    fclose(f);
    if (renameat(job->dirfd, "state.new", job->dirfd, "state") < 0)
        return errprintf_errno(e, errno, "job %" PRIu32 ": cannot write its state", job->job_id);
    return 0;
}

static void strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

void job_state_clear(struct job_state *st)
{
    strv_free(st->env);
    strv_free(st->resize);
    memset(st, 0, sizeof(*st));
}

/* Append a copy of S to the NULL-terminated vector *V. */
static int strv_add(char ***v, const char *s)
{
    size_t n = 0;
    char **nv;

    while (*v && (*v)[n])
        n++;
    if (!(nv = realloc(*v, (n + 2) * sizeof(*nv))))
        return -1;
    *v = nv;
    if (!(nv[n] = strdup(s)))
        return -1;
    nv[n + 1] = NULL;
    return 0;
}

#define MALFORMED (-2)

/* An id as the record writes it (decimal digits only) into *OUT; false if it is not one. */
static bool parse_id(const char *val, unsigned long *out)
{
    char *end;

    if (!isdigit((unsigned char)val[0]))
        return false;
    errno = 0;
    *out = strtoul(val, &end, 10);
    return !errno && !*end && *out <= UINT32_MAX - 1;
}

static int state_set(struct job_state *st, char *key, char *val)
{
    unsigned long id;

    unescape(val);
    if (strcmp(key, "boot_id") == 0)
        snprintf(st->boot_id, sizeof(st->boot_id), "%s", val);
    else if (strcmp(key, "uid") == 0 || strcmp(key, "gid") == 0) {
        if (!parse_id(val, &id))
            return MALFORMED;
        if (key[0] == 'u')
            st->uid = (uid_t)id;
        else
            st->gid = (gid_t)id;
    } else if (strcmp(key, "isolated") == 0) {
        if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
            return MALFORMED;
        st->isolated = val[0] == '1';
    } else if (strcmp(key, "profile") == 0)
        snprintf(st->profile, sizeof(st->profile), "%s", val);
    else if (strcmp(key, "host_ns") == 0)
        snprintf(st->host_ns, sizeof(st->host_ns), "%s", val);
    else if (strcmp(key, "error") == 0)
        snprintf(st->error, sizeof(st->error), "%s", val);
    else if (strcmp(key, "env") == 0)
        return strv_add(&st->env, val);
    else if (strcmp(key, "resize") == 0)
        return strv_add(&st->resize, val);
    return 0;
}

/* Read a state from F (closed here). */
static int get_state(FILE *f, struct job_state *st, struct err *e)
{
    char line[8192];
    int rc = 0;
    bool uid = false;

    while (rc == 0 && fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '=');
        line[strcspn(line, "\n")] = '\0';
        if (!eq)
            continue;
        *eq = '\0';
        uid = uid || strcmp(line, "uid") == 0;
        rc = state_set(st, line, eq + 1);
    }
    fclose(f);
    if (rc == 0 && !uid)
        rc = MALFORMED;
    if (rc < 0) {
        job_state_clear(st);
        errprintf(e, "%s", rc == MALFORMED ? "malformed record" : "out of memory");
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int job_state_parse(const char *text, struct job_state *st, struct err *e)
{
    FILE *f;

    memset(st, 0, sizeof(*st));
    if (!*text)
        return errprintf(e, "the job's record is empty");
    if (!(f = fmemopen((void *)text, strlen(text), "r")))
        return errprintf_errno(e, errno, "cannot read the job's record");
    return get_state(f, st, e);
}

int store_read_state_at(int jobfd, struct job_state *st, struct err *e)
{
    int fd = openat(jobfd, "state", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    FILE *f;

    memset(st, 0, sizeof(*st));
    if (fd < 0)
        return errprintf_errno(e, errno, "no state");
    if (!(f = fdopen(fd, "r"))) {
        close(fd);
        return errprintf_errno(e, errno, "cannot read state");
    }
    return get_state(f, st, e);
}

int instance_state_read(struct instance_store *s, uint32_t job_id, struct job_state *st,
                        struct err *e)
{
    struct instance_job job;
    int rc;

    memset(st, 0, sizeof(*st));
    if (instance_job_open(s, job_id, false, &job, e) < 0)
        return -1;
    rc = store_read_state_at(job.dirfd, st, e);
    instance_job_close(&job);
    return rc;
}
