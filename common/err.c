#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

int errprintf(struct err *e, const char *fmt, ...)
{
    int saved = errno;

    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->text, sizeof(e->text), fmt, ap);
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
        int n = vsnprintf(e->text, sizeof(e->text), fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof(e->text))
            snprintf(e->text + n, sizeof(e->text) - n, ": %s", strerror(errnum));
    }
    errno = saved;
    return -1;
}
