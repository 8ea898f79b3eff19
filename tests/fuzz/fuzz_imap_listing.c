/*
 * libFuzzer harness for the kept listing (proxy/imap/imap_listing.c).
 *
 * Input: the text of a UID set as VANISHED sends it. The listing holds
 * the UIDs 1..64 and a few large ones, appended out of order. When the
 * set is accepted, exactly the UIDs a naive reading of the set names are
 * gone and the rest is in UID order; when refused, nothing changed.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_listing.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t extra[] = { 4294967295u, 100000, 65, 4294967294u };

/* Whether uid is named by the set (the set already accepted). */
static int named(const char *s, size_t len, uint32_t uid)
{
	size_t i = 0;

	while (i < len) {
		uint64_t a = 0, b;

		while (i < len && s[i] >= '0' && s[i] <= '9')
			a = a * 10 + (uint64_t)(s[i++] - '0');
		b = a;
		if (i < len && s[i] == ':') {
			b = 0;
			i++;
			while (i < len && s[i] >= '0' && s[i] <= '9')
				b = b * 10 + (uint64_t)(s[i++] - '0');
		}
		if ((uid >= a && uid <= b) || (uid >= b && uid <= a))
			return 1;
		i++;    /* the comma */
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_listing *l = imap_listing_new(1000);
	const char *set = (const char *)data;
	size_t removed = 7, kept = 0, total = 0;

	CHECK(l != NULL);
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++, total++)
		CHECK(imap_listing_append(l, extra[i], extra[i], 0) == 0);
	for (uint32_t uid = 64; uid >= 1; uid--, total++)
		CHECK(imap_listing_append(l, uid, uid, 0) == 0);
	if (imap_listing_vanish(l, set, size, &removed) < 0) {
		CHECK(removed == 0 && l->count == total);
		imap_listing_free(&l);
		return 0;
	}
	for (uint32_t uid = 1; uid <= 64; uid++)
		kept += !named(set, size, uid);
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		kept += !named(set, size, extra[i]);
	CHECK(l->count == kept && removed == total - kept);
	for (size_t i = 0; i < l->count; i++) {
		CHECK(!named(set, size, l->msgs[i].uid));
		CHECK(l->msgs[i].size == l->msgs[i].uid);
		CHECK(i == 0 || l->msgs[i - 1].uid < l->msgs[i].uid);
		CHECK(imap_listing_find(l, l->msgs[i].uid) == &l->msgs[i]);
	}
	CHECK(imap_listing_finish(l) == 0);
	imap_listing_free(&l);
	return 0;
}
