#ifndef LOG_H
#define LOG_H

/*
 * Logging: one line per event, key=value, to stderr or syslog.
 * Callers put "session=<id>" first on every session line. Passwords are
 * never passed here.
 */

#include <stdarg.h>
#include <stddef.h>
#include "conf.h"

/* facility: a syslog LOG_* facility (ignored for stderr). May be called
   again to change the settings (reload). */
void log_open(enum conf_log_target target, enum conf_log_level level,
	      const char *ident, int facility);
void log_close(void);

/* Whether a message of this level would be written (skip costly
   formatting of debug traces). */
int log_enabled(enum conf_log_level level);

void log_msg(enum conf_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(CONF_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(CONF_LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(CONF_LOG_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { if (log_enabled(CONF_LOG_DEBUG)) log_msg(CONF_LOG_DEBUG, __VA_ARGS__); } while (0)

/*
 * Writes src into dst (size > 0) as a log-safe value: printable ASCII
 * except space, '"' and '\\' is copied, anything else becomes \xNN; the
 * result is truncated to fit. Returns dst.
 */
char *log_escape(const char *src, size_t len, char *dst, size_t size);

#endif
