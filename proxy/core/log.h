#ifndef LOG_H
#define LOG_H

/*
 * Logging: one line per event, key=value, to stderr or syslog.
 * Callers put "session=<id>" first on every session line. Passwords are
 * never passed here.
 */

#include <stdarg.h>
#include <stddef.h>

enum log_target {
	LOG_TARGET_STDERR,
	LOG_TARGET_SYSLOG,
};

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* "stderr", "syslog" and "error" .. "debug", indexed by the enums,
   NULL-terminated: the config's words for them. */
extern const char *const log_target_names[];
extern const char *const log_level_names[];

/* facility: a syslog LOG_* facility (ignored for stderr). May be called
   again to change the settings (reload). */
void log_open(enum log_target target, enum log_level level,
	      const char *ident, int facility);
void log_close(void);

/* Whether a message of this level would be written (skip costly
   formatting of debug traces). */
int log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { if (log_enabled(LOG_LEVEL_DEBUG)) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)

#endif
