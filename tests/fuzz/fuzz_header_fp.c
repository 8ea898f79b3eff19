/* libFuzzer harness for the fingerprint canonical form: bounded output,
   and the form of a canonical form is itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "header_fp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char a[HEADER_FP_MAX + 1], b[HEADER_FP_MAX + 1];
	size_t la = header_fp_canonical((const char *)data, size, a);
	size_t lb;

	if (la > HEADER_FP_MAX || a[la] != '\0')
		abort();
	{
		char mid[64];
		size_t m = header_fp_message_id((const char *)data, size, mid, sizeof(mid));

		if (m >= sizeof(mid) || (m > 0 && (mid[m] != '\0' || strlen(mid) != m)))
			abort();
	}
	lb = header_fp_canonical(a, la, b);
	/* NUL inside a value is kept as data, so compare by length too */
	if (memchr(a, '\0', la) == NULL && (lb != la || memcmp(a, b, la) != 0))
		abort();
	return 0;
}
