#include "ph_log.h"
#include "ph_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

volatile int ph_log_threshold = PH_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int ph_log_level_parse(const char *name, int *level)
{
    for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *level = i;
            return PH_OK;
        }
    }
    if (strcasecmp(name, "warning") == 0) {
        *level = PH_LOG_WARN;
        return PH_OK;
    }
    return PH_EINVAL;
}

void ph_log_set_level(int level)
{
    ph_log_threshold = level;
}

void ph_log_write(int level, const char *component, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    if (level < 0 || level > PH_LOG_DEBUG)
        level = PH_LOG_ERROR;
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level], component);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* One write(2) per line: atomic for pipes up to PIPE_BUF and never interleaved mid-line. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
