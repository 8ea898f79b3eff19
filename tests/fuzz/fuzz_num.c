/*
 * libFuzzer harness for the decimal-number parser (core/num.c).
 *
 * Input: 8 bytes of max (little-endian), then the text. The result is
 * checked against a reference computed with 128-bit arithmetic: NUM_OK
 * exactly when the text is all digits and its value is <= max.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t max = 0, v = 7;
	unsigned __int128 ref = 0;
	const char *s;
	size_t len, i, pos = 0;
	int digits = 0, big = 0;
	enum num_result r;

	if (size < 8)
		return 0;
	for (i = 0; i < 8; i++)
		max |= (uint64_t)data[i] << (8 * i);
	s = (const char *)data + 8;
	len = size - 8;
	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		digits++;
		if (ref <= (unsigned __int128)UINT64_MAX * 10)
			ref = ref * 10 + (unsigned)(s[i] - '0');
		if (ref > max)
			big = 1;
	}
	r = num_parse_u64(s, len, max, &v);
	if (digits == 0 || i != len) {
		CHECK(r == NUM_NONE && v == 7);
	} else if (big) {
		CHECK(r == NUM_RANGE && v == 7);
	} else {
		CHECK(r == NUM_OK && v == (uint64_t)ref);
	}
	r = num_scan_u64(s, len, &pos, max, &v);
	CHECK(digits == 0 ? r == NUM_NONE && pos == 0 : pos == (size_t)digits);
	return 0;
}
