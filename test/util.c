/* Control bytes in names (a newline in a file name, a terminal escape) never reach a log or a
 * terminal raw: errors, log messages and diagnostics stay one line each. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "tap.h"

static char logged[4096];
static int nlogged;

static void capture(enum log_level level, const char *msg, void *arg)
{
    (void)level;
    (void)arg;
    snprintf(logged, sizeof(logged), "%s", msg);
    nlogged++;
}

static void test_esc_ctl(void)
{
    char buf[64];

    is_str(esc_ctl(buf, sizeof(buf), "/tmp/a\nb"), "/tmp/a\\x0ab", "a newline becomes \\x0a");
    is_str(esc_ctl(buf, sizeof(buf), "x\033[2Jy\x7f"), "x\\x1b[2Jy\\x7f",
           "an escape sequence and DEL are escaped");
    is_str(esc_ctl(buf, sizeof(buf), "plain/é\\x"), "plain/é\\x",
           "printable bytes, UTF-8 and backslashes are kept");
    is_str(esc_ctl(buf, 6, "ab\ncd"), "ab", "an escape is never cut in half");
    is_str(esc_ctl(buf, sizeof(buf), NULL), "", "NULL gives the empty string");
    is_str(esc_ctl(buf, sizeof(buf), "a\tb"), "a\\x09b", "a tab too");
}

static void test_err(void)
{
    struct err e;

    errno = 0;
    errprintf(&e, "bind source %s: missing", "/x\nisolation: forged");
    is_str(e.text, "bind source /x\\x0aisolation: forged: missing", "errprintf escapes its text");
    errprintf_errno(&e, ENOENT, "%s", "/a\rb");
    is_str(e.text, "/a\\x0db: No such file or directory", "errprintf_errno too");
}

static void test_log(void)
{
    log_set_sink(capture, NULL);
    log_error("job 1: cannot remove %s", "/base/job/1/tmp/evil\nslurmd: forged line");
    is_int(nlogged, 1, "one message is logged once");
    ok(!strchr(logged, '\n'), "...on one line");
    is_str(logged, "job 1: cannot remove /base/job/1/tmp/evil\\x0aslurmd: forged line",
           "...with the newline escaped");
    log_set_sink(NULL, NULL);
}

static void test_diag(void)
{
    struct diag_list d;
    char buf[512];

    diag_list_init(&d, "pol\nicy.yaml");
    diag_add(&d, DIAG_ERROR, 3, 7, "hidden path \"%s\" is wrong", "/a\nb");
    diag_format(&d, 0, buf, sizeof(buf));
    is_str(buf, "pol\\x0aicy.yaml:3:7: hidden path \"/a\\x0ab\" is wrong",
           "a diagnostic escapes the file name and the message");
    diag_list_free(&d);
}

int main(void)
{
    test_esc_ctl();
    test_err();
    test_log();
    test_diag();
    return done_testing();
}
