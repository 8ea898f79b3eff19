#include "log.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

/* Set once at start-up (and on reload); read-only while serving. */
static enum conf_log_target log_target = CONF_LOG_STDERR;
static enum conf_log_level log_level = CONF_LOG_INFO;

static const char *const level_names[] = {
	[CONF_LOG_ERROR] = "error",
	[CONF_LOG_WARN] = "warn",
	[CONF_LOG_INFO] = "info",
	[CONF_LOG_DEBUG] = "debug",
};
_Static_assert(sizeof(level_names) / sizeof(level_names[0]) == CONF_LOG_DEBUG + 1,
	       "level_names must match enum conf_log_level");

static const int syslog_prio[] = {
	[CONF_LOG_ERROR] = LOG_ERR,
	[CONF_LOG_WARN] = LOG_WARNING,
	[CONF_LOG_INFO] = LOG_INFO,
	[CONF_LOG_DEBUG] = LOG_DEBUG,
};

void log_open(enum conf_log_target target, enum conf_log_level level,
	      const char *ident, int facility)
{
	/* openlog() keeps the pointer: the config holding ident may be
	   freed by a reload. */
	static char ident_buf[64];

	if (log_target == CONF_LOG_SYSLOG)
		closelog();
	log_target = target;
	log_level = level;
	snprintf(ident_buf, sizeof(ident_buf), "%s", ident != NULL ? ident : "popgate");
	if (target == CONF_LOG_SYSLOG)
		openlog(ident_buf, LOG_PID | LOG_NDELAY, facility);
}

void log_close(void)
{
	if (log_target == CONF_LOG_SYSLOG)
		closelog();
	log_target = CONF_LOG_STDERR;
}

int log_enabled(enum conf_log_level level)
{
	return level <= log_level;
}

void log_msg(enum conf_log_level level, const char *fmt, ...)
{
	char line[2048];
	va_list args;

	if (!log_enabled(level))
		return;
	va_start(args, fmt);
	vsnprintf(line, sizeof(line), fmt, args);
	va_end(args);

	if (log_target == CONF_LOG_SYSLOG) {
		syslog(syslog_prio[level], "level=%s %s", level_names[level], line);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ popgate level=%s %s\n", stamp,
		ts.tv_nsec / 1000000, level_names[level], line);
}

char *log_escape(const char *src, size_t len, char *dst, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c > 0x20 && c < 0x7f && c != '"' && c != '\\') {
			if (o + 1 >= size)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 4 >= size)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return dst;
}
