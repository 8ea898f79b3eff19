/* A kept listing as a binary value; contracts in imap_listing_blob.h. */

#include "imap_listing_blob.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_listing.h"

#define BLOB_HAS_MODSEQ 1u
#define BLOB_HAS_DATES 2u
/* enum imap_flag's \Seen and \Deleted (imap_resp.h). */
#define BLOB_FLAGS 3u
#define BLOB_SUM_AT 28

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* The checksum of a whole blob, its checksum field taken as 0. */
static uint64_t blob_sum(const uint8_t *blob, size_t len)
{
	static const uint8_t zero[8];
	uint64_t h = fnv(FNV_OFFSET, blob, BLOB_SUM_AT);

	h = fnv(h, zero, sizeof(zero));
	return fnv(h, blob + BLOB_SUM_AT + 8, len - BLOB_SUM_AT - 8);
}

size_t imap_listing_blob_size(size_t n)
{
	return IMAP_LISTING_BLOB_HEADER + n * IMAP_LISTING_BLOB_RECORD;
}

uint8_t *imap_listing_blob_encode(const struct imap_listing *l, uint32_t exists, size_t max,
				  size_t *len_r, const char **error_r)
{
	uint8_t *blob, *p;
	size_t len;

	*len_r = 0;
	if (max > IMAP_LISTING_BLOB_MAX)
		max = IMAP_LISTING_BLOB_MAX;
	if (l->count > max) {
		*error_r = "too large";
		return NULL;
	}
	if (l->uidvalidity == 0) {
		*error_r = "no UIDVALIDITY";
		return NULL;
	}
	if (l->count != exists) {
		*error_r = "the count is not EXISTS";
		return NULL;
	}
	for (size_t i = 0; i < l->count; i++) {
		if (l->msgs[i].uid == 0 || (i > 0 && l->msgs[i - 1].uid >= l->msgs[i].uid) ||
		    l->msgs[i].uid >= l->uidnext || l->msgs[i].size > INT64_MAX) {
			*error_r = "not a complete listing in UID order";
			return NULL;
		}
	}
	len = imap_listing_blob_size(l->count);
	if ((blob = malloc(len)) == NULL) {
		*error_r = "out of memory";
		return NULL;
	}
	memset(blob, 0, IMAP_LISTING_BLOB_HEADER);
	blob[0] = IMAP_LISTING_BLOB_VERSION;
	blob[1] = (uint8_t)((l->has_modseq ? BLOB_HAS_MODSEQ : 0) |
			    (l->has_dates ? BLOB_HAS_DATES : 0));
	put32(blob + 4, l->uidvalidity);
	put32(blob + 8, l->uidnext);
	put32(blob + 12, exists);
	put32(blob + 16, (uint32_t)l->count);
	put64(blob + 20, l->has_modseq ? l->highestmodseq : 0);
	p = blob + IMAP_LISTING_BLOB_HEADER;
	for (size_t i = 0; i < l->count; i++, p += IMAP_LISTING_BLOB_RECORD) {
		const struct imap_listing_msg *m = &l->msgs[i];

		put32(p, m->uid);
		put32(p + 4, m->flags & BLOB_FLAGS);
		put64(p + 8, m->size);
		put64(p + 16, l->has_dates ? (uint64_t)m->internaldate : 0);
	}
	put64(blob + BLOB_SUM_AT, blob_sum(blob, len));
	*len_r = len;
	return blob;
}

/* The header's checks; the count of records, or -1 with *error_r. */
static long blob_header(const uint8_t *blob, size_t len, size_t max, const char **error_r)
{
	uint32_t count;

	if (len < IMAP_LISTING_BLOB_HEADER) {
		*error_r = "truncated header";
		return -1;
	}
	if (blob[0] != IMAP_LISTING_BLOB_VERSION) {
		*error_r = "unknown version";
		return -1;
	}
	if ((blob[1] & ~(BLOB_HAS_MODSEQ | BLOB_HAS_DATES)) != 0 || blob[2] != 0 || blob[3] != 0) {
		*error_r = "unknown bits";
		return -1;
	}
	if (get32(blob + 4) == 0 || get32(blob + 8) == 0) {
		*error_r = "no UIDVALIDITY or UIDNEXT";
		return -1;
	}
	count = get32(blob + 16);
	if (count != get32(blob + 12)) {
		*error_r = "the count is not EXISTS";
		return -1;
	}
	if (max > IMAP_LISTING_BLOB_MAX)
		max = IMAP_LISTING_BLOB_MAX;
	if (count > max) {
		*error_r = "too large";
		return -1;
	}
	if (len != imap_listing_blob_size(count)) {
		*error_r = len < imap_listing_blob_size(count) ? "truncated records" :
			   "octets after the records";
		return -1;
	}
	if ((blob[1] & BLOB_HAS_MODSEQ) == 0 && get64(blob + 20) != 0) {
		*error_r = "HIGHESTMODSEQ without its bit";
		return -1;
	}
	if (get64(blob + BLOB_SUM_AT) != blob_sum(blob, len)) {
		*error_r = "bad checksum";
		return -1;
	}
	return (long)count;
}

struct imap_listing *imap_listing_blob_decode(const uint8_t *blob, size_t len, size_t max,
					      const char **error_r)
{
	struct imap_listing *l;
	const uint8_t *p = blob + IMAP_LISTING_BLOB_HEADER;
	long count = blob_header(blob, len, max, error_r);
	bool dates;
	uint32_t uidnext, last = 0;

	if (count < 0)
		return NULL;
	dates = (blob[1] & BLOB_HAS_DATES) != 0;
	uidnext = get32(blob + 8);
	if ((l = imap_listing_new((size_t)count)) == NULL) {
		*error_r = "out of memory";
		return NULL;
	}
	for (long i = 0; i < count; i++, p += IMAP_LISTING_BLOB_RECORD) {
		uint32_t uid = get32(p), flags = get32(p + 4);
		uint64_t size = get64(p + 8);
		int64_t date = (int64_t)get64(p + 16);

		if (uid == 0 || uid <= last || uid >= uidnext) {
			*error_r = "UIDs not ascending below UIDNEXT";
			goto bad;
		}
		if ((flags & ~BLOB_FLAGS) != 0 || size > INT64_MAX || (!dates && date != 0)) {
			*error_r = "a bad record";
			goto bad;
		}
		if (imap_listing_append(l, uid, size, flags) < 0) {
			*error_r = "out of memory";
			goto bad;
		}
		l->msgs[l->count - 1].internaldate = date;
		last = uid;
	}
	if (imap_listing_finish(l) < 0) {
		*error_r = "a UID twice";
		goto bad;
	}
	l->uidvalidity = get32(blob + 4);
	l->uidnext = uidnext;
	l->has_modseq = (blob[1] & BLOB_HAS_MODSEQ) != 0;
	l->highestmodseq = get64(blob + 20);
	l->has_dates = dates;
	l->max = max;
	return l;
bad:
	imap_listing_free(&l);
	return NULL;
}

void imap_listing_blob_id(const char *host, uint16_t port, const char *mailbox,
			  char out[17])
{
	char portbuf[8];
	uint64_t h = fnv(FNV_OFFSET, (const uint8_t *)host, strlen(host) + 1);

	snprintf(portbuf, sizeof(portbuf), "%u", (unsigned int)port);
	h = fnv(h, (const uint8_t *)portbuf, strlen(portbuf) + 1);
	h = fnv(h, (const uint8_t *)mailbox, strlen(mailbox));
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}
