/* Unit tests for the listing's binary copy (proxy/imap/imap_listing_blob.c). */

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_listing.h"
#include "imap_listing_blob.h"
#include "imap_resp.h"

_Static_assert(IMAP_FLAG_SEEN == 1 && IMAP_FLAG_DELETED == 2,
	       "the blob's flag bits are enum imap_flag's");

/* UIDs 2, 4, .. 2n, size 1000 + uid, every third \Seen, every fifth
   \Deleted; validators 77 / 2n + 5 / modseq 900. */
static struct imap_listing *sample(size_t n, bool dates)
{
	struct imap_listing *l = imap_listing_new(n);

	ck_assert_ptr_nonnull(l);
	for (uint32_t i = 1; i <= n; i++) {
		unsigned int flags = (i % 3 == 0 ? IMAP_FLAG_SEEN : 0) |
				     (i % 5 == 0 ? IMAP_FLAG_DELETED : 0);

		ck_assert_int_eq(imap_listing_append(l, 2 * i, 1000 + 2 * i, flags), 0);
		if (dates)
			l->msgs[l->count - 1].internaldate = 1700000000 + i;
	}
	ck_assert_int_eq(imap_listing_finish(l), 0);
	l->uidvalidity = 77;
	l->uidnext = (uint32_t)(2 * n + 5);
	l->has_modseq = true;
	l->highestmodseq = 900;
	l->has_dates = dates;
	return l;
}

static void expect_same(const struct imap_listing *a, const struct imap_listing *b)
{
	ck_assert_uint_eq(a->uidvalidity, b->uidvalidity);
	ck_assert_uint_eq(a->uidnext, b->uidnext);
	ck_assert_int_eq(a->has_modseq, b->has_modseq);
	ck_assert_uint_eq(a->highestmodseq, b->highestmodseq);
	ck_assert_int_eq(a->has_dates, b->has_dates);
	ck_assert_uint_eq(a->count, b->count);
	ck_assert_uint_eq(b->sorted, b->count);
	for (size_t i = 0; i < a->count; i++) {
		ck_assert_uint_eq(a->msgs[i].uid, b->msgs[i].uid);
		ck_assert_uint_eq(a->msgs[i].size, b->msgs[i].size);
		ck_assert_uint_eq(a->msgs[i].flags & 3u, b->msgs[i].flags);
		ck_assert_int_eq(a->msgs[i].internaldate, b->msgs[i].internaldate);
	}
}

START_TEST(round_trip)
{
	static const size_t sizes[] = { 0, 1, 7, 1000 };

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (int dates = 0; dates <= 1; dates++) {
			struct imap_listing *l = sample(sizes[k], dates), *back;
			const char *error = NULL;
			size_t len;
			uint8_t *blob;

			if (sizes[k] > 0)    /* a mark left by a sync is not stored */
				l->msgs[0].flags |= IMAP_LISTING_MARK;
			blob = imap_listing_blob_encode(l, (uint32_t)l->count, 100000, &len, &error);
			ck_assert_ptr_nonnull(blob);
			ck_assert_uint_eq(len, 36 + 24 * sizes[k]);
			back = imap_listing_blob_decode(blob, len, 100000, &error);
			ck_assert_msg(back != NULL, "%s", error);
			expect_same(l, back);
			imap_listing_free(&back);
			imap_listing_free(&l);
			free(blob);
		}
	}
}
END_TEST

START_TEST(encode_refuses)
{
	struct imap_listing *l = sample(10, false);
	const char *error = NULL;
	size_t len = 9;

	/* Above the cap: refused, never cut. */
	ck_assert_ptr_null(imap_listing_blob_encode(l, 10, 9, &len, &error));
	ck_assert_str_eq(error, "too large");
	ck_assert_uint_eq(len, 0);
	ck_assert_ptr_null(imap_listing_blob_encode(l, 11, 100, &len, &error));
	ck_assert_str_eq(error, "the count is not EXISTS");
	l->msgs[3].uid = l->msgs[2].uid;
	ck_assert_ptr_null(imap_listing_blob_encode(l, 10, 100, &len, &error));
	l->msgs[3].uid = 8;
	l->uidnext = 20;     /* the last UID is 20 */
	ck_assert_ptr_null(imap_listing_blob_encode(l, 10, 100, &len, &error));
	l->uidnext = 21;
	l->uidvalidity = 0;
	ck_assert_ptr_null(imap_listing_blob_encode(l, 10, 100, &len, &error));
	ck_assert_str_eq(error, "no UIDVALIDITY");
	imap_listing_free(&l);
}
END_TEST

/* A change to a valid blob of 4 messages (UIDs 2 4 6 8, UIDNEXT 13),
   and whether the checksum is made right again after it (so that the
   check behind the checksum is what refuses it). */
struct blob_case {
	const char *name;
	size_t at;            /* octet changed */
	int value;            /* its new value; -1: none */
	long resize;          /* octets added (or cut, negative) at the end */
	bool resum;
	const char *error;
};

#define REC(i) (36 + 24 * (i))

static const struct blob_case blob_cases[] = {
	{ "empty", 0, -1, -1000, false, "truncated header" },
	{ "header cut", 0, -1, -(long)REC(4) + 35, false, "truncated header" },
	{ "a record cut", 0, -1, -1, false, "truncated records" },
	{ "a record missing", 0, -1, -24, false, "truncated records" },
	{ "octets after", 0, -1, 1, false, "octets after the records" },
	{ "version 0", 0, 0, 0, true, "unknown version" },
	{ "version 2", 0, 2, 0, true, "unknown version" },
	{ "unknown bit", 1, 0x81, 0, true, "unknown bits" },
	{ "reserved", 3, 1, 0, true, "unknown bits" },
	{ "uidvalidity 0", 7, 0, 0, true, "no UIDVALIDITY or UIDNEXT" },
	{ "count above exists", 19, 5, 0, true, "the count is not EXISTS" },
	{ "huge count", 16, 0x7f, 0, true, "the count is not EXISTS" },
	{ "a bit flipped", REC(1) + 9, 0x55, 0, false, "bad checksum" },
	{ "checksum", 35, 0, 0, false, "bad checksum" },
	{ "uid 0", REC(0) + 3, 0, 0, true, "UIDs not ascending below UIDNEXT" },
	{ "unsorted", REC(1) + 3, 1, 0, true, "UIDs not ascending below UIDNEXT" },
	{ "duplicate", REC(2) + 3, 4, 0, true, "UIDs not ascending below UIDNEXT" },
	{ "at uidnext", REC(3) + 3, 13, 0, true, "UIDs not ascending below UIDNEXT" },
	{ "unknown flag", REC(2) + 7, 4, 0, true, "a bad record" },
	{ "mark bit", REC(2) + 4, 0x80, 0, true, "a bad record" },
	{ "size above 2^63", REC(2) + 8, 0x80, 0, true, "a bad record" },
	{ "date without its bit", REC(2) + 23, 1, 0, true, "a bad record" },
	{ "modseq without its bit", 0, -1, 0, true, NULL },   /* below */
};

static uint64_t fnv_sum(const uint8_t *b, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (i >= 28 && i < 36) ? 0 : b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void resum(uint8_t *b, size_t len)
{
	uint64_t h = fnv_sum(b, len);

	for (int i = 0; i < 8; i++)
		b[28 + i] = (uint8_t)(h >> (56 - 8 * i));
}

START_TEST(adversarial_table)
{
	const struct blob_case *tc = &blob_cases[_i];
	struct imap_listing *l = sample(4, false);
	const char *error = NULL;
	size_t len, n;
	uint8_t *blob = imap_listing_blob_encode(l, 4, 100, &len, &error), *b;

	ck_assert_ptr_nonnull(blob);
	ck_assert_uint_eq(l->uidnext, 13);
	n = tc->resize < 0 && (size_t)-tc->resize > len ? 0 : (size_t)((long)len + tc->resize);
	b = calloc(1, n + 1);
	memcpy(b, blob, n < len ? n : len);
	if (tc->value >= 0)
		b[tc->at] = (uint8_t)tc->value;
	if (tc->error == NULL) {
		b[1] = 0;      /* the modseq stays, its bit goes */
	}
	if (tc->resum && n >= 36)
		resum(b, n);
	ck_assert_msg(imap_listing_blob_decode(b, n, 100, &error) == NULL, "%s accepted", tc->name);
	ck_assert_str_eq(error, tc->error != NULL ? tc->error : "HIGHESTMODSEQ without its bit");
	free(b);
	free(blob);
	imap_listing_free(&l);
}
END_TEST

START_TEST(decode_bounded)
{
	struct imap_listing *l = sample(50, true), *back;
	const char *error = NULL;
	size_t len;
	uint8_t *blob = imap_listing_blob_encode(l, 50, 100, &len, &error);

	/* The reader's cap, not the writer's. */
	ck_assert_ptr_null(imap_listing_blob_decode(blob, len, 49, &error));
	ck_assert_str_eq(error, "too large");
	back = imap_listing_blob_decode(blob, len, 50, &error);
	ck_assert_ptr_nonnull(back);
	ck_assert_uint_eq(back->max, 50);
	imap_listing_free(&back);
	free(blob);
	imap_listing_free(&l);
}
END_TEST

START_TEST(ids)
{
	char a[17], b[17], c[17], d[17];

	imap_listing_blob_id("imap.example.com", 993, "INBOX", a);
	imap_listing_blob_id("imap.example.com", 143, "INBOX", b);
	imap_listing_blob_id("imap.example.com", 993, "Archive", c);
	imap_listing_blob_id("imap.example.co", 993, "mINBOX", d);
	ck_assert_uint_eq(strlen(a), 16);
	ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 16);
	ck_assert_str_ne(a, b);
	ck_assert_str_ne(a, c);
	ck_assert_str_ne(a, d);
	imap_listing_blob_id("imap.example.com", 993, "INBOX", b);
	ck_assert_str_eq(a, b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("imap_listing_blob");
	TCase *tc = tcase_create("imap_listing_blob");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, encode_refuses);
	tcase_add_loop_test(tc, adversarial_table, 0, sizeof(blob_cases) / sizeof(blob_cases[0]));
	tcase_add_test(tc, decode_bounded);
	tcase_add_test(tc, ids);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
