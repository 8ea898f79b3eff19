/*
 * libFuzzer harness for the listing's binary copy
 * (proxy/imap/imap_listing_blob.c).
 *
 * Input: a blob as read back from Redis. The first octet, when the input
 * is long enough, may also fix the checksum (so the checks behind it are
 * reached). Whatever is accepted is a listing in strict UID order below
 * UIDNEXT, within the cap, with only \Seen and \Deleted, and encodes
 * back to the very same octets.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_listing.h"
#include "imap_listing_blob.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void resum(uint8_t *b, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (i >= 28 && i < 36) ? 0 : b[i];
		h *= 0x100000001b3ull;
	}
	for (int i = 0; i < 8; i++)
		b[28 + i] = (uint8_t)(h >> (56 - 8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *b;
	const char *error = NULL;
	struct imap_listing *l;
	size_t n, len;
	uint8_t *again;

	if (size == 0)
		return 0;
	n = size - 1;
	b = malloc(n + 1);
	CHECK(b != NULL);
	memcpy(b, data + 1, n);
	if ((data[0] & 1) && n >= IMAP_LISTING_BLOB_HEADER)
		resum(b, n);
	l = imap_listing_blob_decode(b, n, 1000, &error);
	if (l == NULL) {
		CHECK(error != NULL && error[0] != '\0');
		free(b);
		return 0;
	}
	CHECK(l->count <= 1000 && l->uidvalidity != 0 && l->sorted == l->count);
	for (size_t i = 0; i < l->count; i++) {
		CHECK(l->msgs[i].uid != 0 && l->msgs[i].uid < l->uidnext);
		CHECK(i == 0 || l->msgs[i - 1].uid < l->msgs[i].uid);
		CHECK((l->msgs[i].flags & ~3u) == 0);
		CHECK(imap_listing_find(l, l->msgs[i].uid) == &l->msgs[i]);
	}
	again = imap_listing_blob_encode(l, (uint32_t)l->count, 1000, &len, &error);
	CHECK(again != NULL && len == n && memcmp(again, b, n) == 0);
	free(again);
	imap_listing_free(&l);
	free(b);
	return 0;
}
