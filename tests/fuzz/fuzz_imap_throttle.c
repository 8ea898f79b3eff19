/*
 * libFuzzer harness for the throttle classifier (imap/imap_throttle.c).
 *
 * Input: one byte k, then a status response's code and text (the first
 * k bytes the code, the rest the text; any bytes). The result must be a
 * kind in range, the same when the code is given as NULL with length 0
 * and as an empty string, never read outside the input (ASan), and a code
 * that is exactly one of the throttle codes must decide whatever the text.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_throttle.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t k;
	char *code, *text;
	enum imap_throttle t;

	if (size < 1)
		return 0;
	k = data[0];
	data++;
	size--;
	if (k > size)
		k = size;
	/* Exact-size copies: ASan sees any read past either part. */
	code = malloc(k > 0 ? k : 1);
	text = malloc(size - k > 0 ? size - k : 1);
	CHECK(code != NULL && text != NULL);
	memcpy(code, data, k);
	memcpy(text, data + k, size - k);
	t = imap_throttle_of(k > 0 ? code : NULL, k, text, size - k);
	CHECK((unsigned int)t < IMAP_THROTTLE_COUNT);
	CHECK(strcmp(imap_throttle_name(t), "") != 0);
	if (k == 0)
		CHECK(imap_throttle_of(code, 0, text, size - k) == t);
	CHECK(imap_throttle_of(k > 0 ? code : NULL, k, NULL, 0) ==
	      imap_throttle_of(k > 0 ? code : NULL, k, text, 0));
	CHECK(imap_throttle_of("THROTTLED", 9, text, size - k) == IMAP_THROTTLE_THROTTLED);
	CHECK(imap_throttle_of("limit", 5, text, size - k) == IMAP_THROTTLE_LIMIT);
	free(code);
	free(text);
	return 0;
}
