/*
 * libFuzzer harness for the Redis Cluster redirect parser and slot hash.
 *
 * Input: an error reply's text. A refused one leaves an all-zero result;
 * an accepted MOVED/ASK has a slot in range, a port, a terminated host of
 * printable bytes without ':'-port, and prints back to the same result.
 * The slot of the input as a key is in range and equals the slot of its
 * hash tag when it has one.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_slot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_cache_slot: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct cache_redirect zero;
	const char *s = (const char *)data;
	struct cache_redirect r, r2;
	char again[CACHE_REDIRECT_HOST_MAX + 64];
	char *copy = malloc(size > 0 ? size : 1);
	const char *open, *close;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);    /* exactly size bytes: ASan sees overreads */
	if (cache_redirect_parse(copy, size, &r) < 0) {
		if (memcmp(&r, &zero, sizeof(r)) != 0)
			fuzz_fail("refused but not wiped");
	} else if (r.kind == CACHE_REDIRECT_MOVED || r.kind == CACHE_REDIRECT_ASK) {
		if (memchr(r.host, '\0', sizeof(r.host)) == NULL ||
		    r.slot >= CACHE_SLOTS || r.port == 0)
			fuzz_fail("bad redirect");
		snprintf(again, sizeof(again), "%s %u %s:%u",
			 r.kind == CACHE_REDIRECT_MOVED ? "MOVED" : "ASK",
			 r.slot, r.host, r.port);
		if (cache_redirect_parse(again, strlen(again), &r2) < 0 ||
		    memcmp(&r, &r2, sizeof(r)) != 0)
			fuzz_fail("round trip differs");
	}
	if (cache_slot(copy, size) >= CACHE_SLOTS)
		fuzz_fail("slot out of range");
	open = memchr(s, '{', size);
	if (open != NULL) {
		close = memchr(open + 1, '}', size - (size_t)(open + 1 - s));
		if (close != NULL && close > open + 1 &&
		    cache_slot(copy, size) != cache_slot(open + 1,
							 (size_t)(close - open - 1)))
			fuzz_fail("hash tag ignored");
	}
	free(copy);
	return 0;
}
