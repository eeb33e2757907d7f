/* Logging to stderr: one line per call, "2024-05-01T12:00:00.123Z warn  text".
 * The level is the server's one global: every thread (HTTP, store, loop)
 * reads it, so it is accessed atomically. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int log_level = PD_LOG_INFO;

void pd_log_set_level(enum pd_log_level level)
{
    __atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

static const char *level_name(enum pd_log_level level)
{
    switch (level) {
    case PD_LOG_ERROR:
        return "error";
    case PD_LOG_WARN:
        return "warn ";
    case PD_LOG_INFO:
        return "info ";
    case PD_LOG_DEBUG:
        return "debug";
    }
    return "?    ";
}

void pd_log(enum pd_log_level level, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int m;
    va_list ap;

    if ((int)level > __atomic_load_n(&log_level, __ATOMIC_RELAXED))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    m = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s ", ts.tv_nsec / 1000000,
                 level_name(level));
    if (m > 0)
        n += (size_t)m;
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (m > 0)
        n += (size_t)m;
    /* Truncated lines keep room for the newline. */
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    /* Control characters from client-supplied text must not forge lines. */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    line[n++] = '\n';
    /* One write() per line so lines from several threads never interleave. */
    if (write(STDERR_FILENO, line, n) < 0) {
        /* Nowhere left to report it. */
    }
}
