#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"

/* Messages carry paths users named: escape control bytes once, here, for every front end. */
static void err_fill(struct err *e, const int *errnum, const char *fmt, va_list ap)
{
    char raw[sizeof(e->text)];
    int n = vsnprintf(raw, sizeof(raw), fmt, ap);

    if (errnum && n >= 0 && (size_t)n < sizeof(raw))
        snprintf(raw + n, sizeof(raw) - n, ": %s", strerror(*errnum));
    esc_ctl(e->text, sizeof(e->text), raw);
}

int errprintf(struct err *e, const char *fmt, ...)
{
    int saved = errno;

    if (e) {
        va_list ap;
        va_start(ap, fmt);
        err_fill(e, NULL, fmt, ap);
        va_end(ap);
    }
    errno = saved;
    return -1;
}

int errprintf_errno(struct err *e, int errnum, const char *fmt, ...)
{
    int saved = errno;

    if (e) {
        va_list ap;
        va_start(ap, fmt);
        err_fill(e, &errnum, fmt, ap);
        va_end(ap);
    }
    errno = saved;
    return -1;
}
