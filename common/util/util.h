/* The util module's door: error messages carried to the edge (err), control bytes escaped in
 * what reaches a log (escape), one logging interface with a sink per front end (log),
 * FILE:LINE:COL diagnostics about a policy (diag), and libmount and libyaml loaded on first use
 * (lazylib).
 * Depends on nothing else in common/. */
#ifndef ISO_UTIL_H
#define ISO_UTIL_H

#include <libmount/libmount.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <yaml.h>

/* An error message carried from where a failure happens to the front end that shows it. */

struct err {
    char text[1024];
};

/* Fill E (if not NULL) and return -1, so a failing function can `return errprintf(...)`. */
int errprintf(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like errprintf, with ": strerror(errnum)" appended. errno is preserved. */
int errprintf_errno(struct err *e, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Text that reaches a log or a terminal: control bytes (a newline in a file name, an escape
 * sequence) are written as \xNN, so one message stays one line and cannot forge another. */

/* Copy SRC to DST (SIZE bytes, always terminated) with every byte below 0x20 and 0x7f written as
 * \xNN. An escape is never cut in half. Returns DST. */
char *esc_ctl(char *dst, size_t size, const char *src);

/* One logging interface for common/; each front end chooses the sink
 * (slurm_error/slurm_info in the plugin, stderr in isolationctl). */

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

typedef void (*log_sink_f)(enum log_level level, const char *msg, void *arg);

/* Replace the sink; NULL restores the default (stderr, info and above). */
void log_set_sink(log_sink_f sink, void *arg);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Diagnostics about a policy file, printed as FILE:LINE:COL: [warning: ]message. */

enum diag_severity { DIAG_ERROR, DIAG_WARNING };

struct diag {
    enum diag_severity severity;
    int line; /* 1-based; 0 when the problem is the file as a whole */
    int col;  /* 1-based; 0 when unknown */
    char *msg;
};

struct diag_list {
    char *file; /* the name printed in front of each diagnostic */
    struct diag *v;
    size_t count;
    size_t errors;
    size_t warnings;
};

void diag_list_init(struct diag_list *d, const char *file);
void diag_list_free(struct diag_list *d);

void diag_add(struct diag_list *d, enum diag_severity sev, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Sort by position (stable) and print every diagnostic, one per line. */
void diag_print(struct diag_list *d, FILE *out);

/* Format diagnostic I into BUF as it would be printed (without the newline). */
void diag_format(const struct diag_list *d, size_t i, char *buf, size_t size);

/* libmount and libyaml, loaded (dlopen) the first time they are needed rather than linked: most
 * processes that load the plugin never read a mount table or parse a policy. Only their types
 * and constants come from their headers; call their functions through libmount_get() and
 * libyaml_get(): lm->mnt_new_table(), ly->yaml_parser_parse(), ... */

#define LIBMOUNT_FUNCS(X)                                                                          \
    X(mnt_new_table)                                                                               \
    X(mnt_unref_table)                                                                             \
    X(mnt_table_parse_file)                                                                        \
    X(mnt_table_set_parser_errcb)                                                                  \
    X(mnt_table_set_userdata)                                                                      \
    X(mnt_table_get_userdata)                                                                      \
    X(mnt_table_next_fs)                                                                           \
    X(mnt_table_find_next_fs)                                                                      \
    X(mnt_new_iter)                                                                                \
    X(mnt_free_iter)                                                                               \
    X(mnt_fs_get_id)                                                                               \
    X(mnt_fs_get_parent_id)                                                                        \
    X(mnt_fs_get_target)                                                                           \
    X(mnt_fs_get_source)                                                                           \
    X(mnt_fs_get_root)                                                                             \
    X(mnt_fs_get_fstype)                                                                           \
    X(mnt_fs_get_vfs_options)                                                                      \
    X(mnt_fs_get_fs_options)                                                                       \
    X(mnt_fs_get_propagation)                                                                      \
    X(mnt_fs_is_netfs)                                                                             \
    X(mnt_get_builtin_optmap)                                                                      \
    X(mnt_optstr_next_option)                                                                      \
    X(mnt_optstr_get_flags)

struct libmount {
#define LIBMOUNT_MEMBER(f) __typeof__(f) *f;
    LIBMOUNT_FUNCS(LIBMOUNT_MEMBER)
#undef LIBMOUNT_MEMBER
};

#define LIBYAML_FUNCS(X)                                                                           \
    X(yaml_parser_initialize)                                                                      \
    X(yaml_parser_set_input_string)                                                                \
    X(yaml_parser_set_encoding)                                                                    \
    X(yaml_parser_parse)                                                                           \
    X(yaml_event_delete)                                                                           \
    X(yaml_parser_delete)

struct libyaml {
#define LIBYAML_MEMBER(f) __typeof__(f) *f;
    LIBYAML_FUNCS(LIBYAML_MEMBER)
#undef LIBYAML_MEMBER
};

/* The libraries' functions, loaded once per process (thread-safe); NULL with the reason in E if
 * one cannot be loaded. */
const struct libmount *libmount_get(struct err *e);
const struct libyaml *libyaml_get(struct err *e);

#endif
