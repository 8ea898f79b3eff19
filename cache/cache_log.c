/* The cache's log lines go to its owner's hook; see cache_log.h. */

#include "cache_log.h"

#include <stdarg.h>
#include <stdio.h>

void cache_log(const struct cache_hooks *hooks, enum cache_log_level level,
	       const char *fmt, ...)
{
	char line[1024];
	va_list args;

	if (hooks->log == NULL)
		return;
	va_start(args, fmt);
	vsnprintf(line, sizeof(line), fmt, args);
	va_end(args);
	hooks->log(hooks->ctx, level, line);
}

void cache_failover(const struct cache_hooks *hooks)
{
	if (hooks->failover != NULL)
		hooks->failover(hooks->ctx);
}
