/* Logging to stderr with a level. Never pass a token or password. */
#ifndef PD_LOG_H
#define PD_LOG_H

#include "config.h"

void pd_log_set_level(enum pd_log_level level);
void pd_log(enum pd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pd_error(...) pd_log(PD_LOG_ERROR, __VA_ARGS__) /* not pd_err: that is the error enum */
#define pd_warn(...) pd_log(PD_LOG_WARN, __VA_ARGS__)
#define pd_info(...) pd_log(PD_LOG_INFO, __VA_ARGS__)
#define pd_debug(...) pd_log(PD_LOG_DEBUG, __VA_ARGS__)

#endif
