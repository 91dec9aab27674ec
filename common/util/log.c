#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "util/util.h"

static void stderr_sink(enum log_level level, const char *msg, void *arg)
{
    static const char *prefix[] = {"error: ", "warning: ", "", "debug: "};

    if (level == LOG_LEVEL_DEBUG)
        return;
    fprintf(stderr, "isolation: %s%s\n", prefix[level], msg);
}

static log_sink_f sink = stderr_sink;
static void *sink_arg;

void log_set_sink(log_sink_f f, void *arg)
{
    sink = f ? f : stderr_sink;
    sink_arg = f ? arg : NULL;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char buf[2048], out[2048];
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* One message, one line: a file name with a newline must not forge a second one. */
    sink(level, esc_ctl(out, sizeof(out), buf), sink_arg);
    errno = saved;
}
