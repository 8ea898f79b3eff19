#include "log.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

/* Set once at start-up (and on reload); read-only while serving. */
static enum log_target log_target = LOG_TARGET_STDERR;
static enum log_level log_level = LOG_LEVEL_INFO;

const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
	NULL
};
_Static_assert(sizeof(log_level_names) / sizeof(log_level_names[0]) == LOG_LEVEL_DEBUG + 2,
	       "log_level_names must match enum log_level");

const char *const log_target_names[] = {
	[LOG_TARGET_STDERR] = "stderr",
	[LOG_TARGET_SYSLOG] = "syslog",
	NULL
};
_Static_assert(sizeof(log_target_names) / sizeof(log_target_names[0]) ==
	       LOG_TARGET_SYSLOG + 2, "log_target_names must match enum log_target");

static const int syslog_prio[] = {
	[LOG_LEVEL_ERROR] = LOG_ERR,
	[LOG_LEVEL_WARN] = LOG_WARNING,
	[LOG_LEVEL_INFO] = LOG_INFO,
	[LOG_LEVEL_DEBUG] = LOG_DEBUG,
};

void log_open(enum log_target target, enum log_level level,
	      const char *ident, int facility)
{
	/* openlog() keeps the pointer: the config holding ident may be
	   freed by a reload. */
	static char ident_buf[64];

	if (log_target == LOG_TARGET_SYSLOG)
		closelog();
	log_target = target;
	log_level = level;
	snprintf(ident_buf, sizeof(ident_buf), "%s", ident != NULL ? ident : "popgate");
	if (target == LOG_TARGET_SYSLOG)
		openlog(ident_buf, LOG_PID | LOG_NDELAY, facility);
}

void log_close(void)
{
	if (log_target == LOG_TARGET_SYSLOG)
		closelog();
	log_target = LOG_TARGET_STDERR;
}

int log_enabled(enum log_level level)
{
	return level <= log_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	va_list args;

	if (!log_enabled(level))
		return;
	va_start(args, fmt);
	vsnprintf(line, sizeof(line), fmt, args);
	va_end(args);

	if (log_target == LOG_TARGET_SYSLOG) {
		syslog(syslog_prio[level], "level=%s %s", log_level_names[level], line);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ popgate level=%s %s\n", stamp,
		ts.tv_nsec / 1000000, log_level_names[level], line);
}
