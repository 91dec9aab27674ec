/* One logging interface for common/; each front end chooses the sink
 * (slurm_error/slurm_info in the plugin, stderr in isolationctl). */
#ifndef ISO_LOG_H
#define ISO_LOG_H

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

typedef void (*log_sink_f)(enum log_level level, const char *msg, void *arg);

/* Replace the sink; NULL restores the default (stderr, info and above). */
void log_set_sink(log_sink_f sink, void *arg);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
