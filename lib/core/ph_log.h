/* Logging: one function, level checked before any formatting, every line prefixed with time,
 * level and component. Lines go to stderr with a single write so threads never interleave.
 * Thread-safe. Not async-signal-safe: signal handlers use write(2) only. */
#ifndef PH_LOG_H
#define PH_LOG_H

enum ph_log_level { PH_LOG_ERROR = 0, PH_LOG_WARN, PH_LOG_INFO, PH_LOG_DEBUG };

/* The current threshold; read without locking (a torn read only affects one line). */
extern volatile int ph_log_threshold;

/* Parses "error", "warn", "info", "debug". Returns 0 or PH_EINVAL. */
int ph_log_level_parse(const char *name, int *level);

/* Sets the threshold. */
void ph_log_set_level(int level);

void ph_log_write(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The macro is what callers use: arguments are not evaluated when the level is off. */
#define ph_log(level, component, ...)                                                              \
    do {                                                                                           \
        if ((level) <= ph_log_threshold)                                                           \
            ph_log_write((level), (component), __VA_ARGS__);                                       \
    } while (0)

#define ph_log_error(c, ...) ph_log(PH_LOG_ERROR, c, __VA_ARGS__)
#define ph_log_warn(c, ...)  ph_log(PH_LOG_WARN, c, __VA_ARGS__)
#define ph_log_info(c, ...)  ph_log(PH_LOG_INFO, c, __VA_ARGS__)
#define ph_log_debug(c, ...) ph_log(PH_LOG_DEBUG, c, __VA_ARGS__)

#endif
