#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

/*
 * For a harness that checks more than the sanitizers do: a broken
 * invariant is said on stderr under the harness's name (FUZZ_NAME,
 * defined before this is included), then abort() for libFuzzer.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef FUZZ_NAME
#error "define FUZZ_NAME before including fuzz_check.h"
#endif

__attribute__((noreturn, format(printf, 1, 2)))
static void violated(const char *fmt, ...)
{
	va_list args;

	fprintf(stderr, "%s: invariant violated: ", FUZZ_NAME);
	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
	fputc('\n', stderr);
	abort();
}

#define CHECK(cond, ...) do { if (!(cond)) violated(__VA_ARGS__); } while (0)

#endif
