/* Decimal numbers; contracts in num.h. */

#include "num.h"

#include <stdbool.h>
#include <string.h>

enum num_result num_scan_u64(const char *s, size_t len, size_t *pos, uint64_t max,
			     uint64_t *value_r)
{
	size_t i = *pos;
	uint64_t v = 0;
	/* v * 10 + d <= max exactly when v < lim, or v == lim and d <= last:
	   one division per number, not one per digit. */
	uint64_t lim = max / 10, last = max % 10;
	bool over = false;

	if (i >= len || s[i] < '0' || s[i] > '9')
		return NUM_NONE;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');

		if (over || v > lim || (v == lim && d > last))
			over = true;
		else
			v = v * 10 + d;
	}
	*pos = i;
	if (over)
		return NUM_RANGE;
	*value_r = v;
	return NUM_OK;
}

enum num_result num_parse_u64(const char *s, size_t len, uint64_t max,
			      uint64_t *value_r)
{
	size_t pos = 0;
	uint64_t v;
	enum num_result r = num_scan_u64(s, len, &pos, max, &v);

	if (r == NUM_NONE || pos != len)
		return NUM_NONE;
	if (r == NUM_OK)
		*value_r = v;
	return r;
}

enum num_result num_parse_str(const char *s, uint64_t max, uint64_t *value_r)
{
	return s == NULL ? NUM_NONE : num_parse_u64(s, strlen(s), max, value_r);
}

enum num_result num_parse_u32(const char *s, size_t len, uint32_t max, uint32_t *value_r)
{
	uint64_t v;
	enum num_result r = num_parse_u64(s, len, max, &v);

	if (r == NUM_OK)
		*value_r = (uint32_t)v;
	return r;
}

size_t num_format_u64(uint64_t v, char *buf)
{
	char digits[NUM_U64_DIGITS];
	size_t len = 0;

	do {
		digits[len++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (size_t i = 0; i < len; i++)
		buf[i] = digits[len - 1 - i];
	return len;
}
