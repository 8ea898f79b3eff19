/*
 * The UIDL map: cache_uidl_load(), cache_uidl_assign(), and the map
 * following the messages through cache_remap(), against a private
 * redis-server (test_cache_fixture.h). Also the measured cost per message.
 */

#include <malloc.h>

#include "test_cache_fixture.h"

struct ures {
	int calls;
	enum cache_status st;
	size_t count, found, pruned;
	bool legacy;
	char (*uidls)[CACHE_UIDL_MAX + 1];   /* "" for NULL */
};

static void uidls_cb(void *ctx, enum cache_status st, const struct cache_uidls *u)
{
	struct ures *r = ctx;
	size_t i;

	r->calls++;
	r->st = st;
	ck_assert((st == CACHE_OK) == (u != NULL));
	if (u == NULL)
		return;
	r->count = u->count;
	r->found = u->found;
	r->pruned = u->pruned;
	r->legacy = u->legacy;
	r->uidls = calloc(u->count + 1, sizeof(*r->uidls));
	for (i = 0; i < u->count; i++)
		snprintf(r->uidls[i], sizeof(r->uidls[i]), "%s", u->uidls[i] != NULL ?
			 u->uidls[i] : "");
}

static struct ures do_load(uint32_t uidv, uint32_t uidnext, const uint32_t *uids, size_t n)
{
	struct cache_listing l = { .uidvalidity = uidv, .uidnext = uidnext, .uids = uids, .n = n };
	struct ures r = { 0 };

	ck_assert_ptr_nonnull(cache_uidl_load(cache, ACCOUNT, &l, uidls_cb, &r));
	WAIT_ONE(r, 20000);
	return r;
}

static struct ures do_assign(uint32_t uidv, const struct cache_uidl_new *e, size_t n)
{
	struct ures r = { 0 };

	ck_assert_ptr_nonnull(cache_uidl_assign(cache, ACCOUNT, uidv, e, n, uidls_cb, &r));
	WAIT_ONE(r, 20000);
	return r;
}

static void ures_free(struct ures *r)
{
	free(r->uidls);
	r->uidls = NULL;
}

static char *raw_get(const char *field)
{
	redisReply *r = raw_cmd("HGET popgate:{%s}:uidl %s", ACCOUNT, field);
	char *s = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;

	freeReplyObject(r);
	return s;
}

static void expect_raw(const char *field, const char *want)
{
	char *got = raw_get(field);

	if (want == NULL)
		ck_assert_ptr_null(got);
	else
		ck_assert_str_eq(got, want);
	free(got);
}

/* --- load and assign --- */

START_TEST(uidl_needs_the_view_first)
{
	static const uint32_t uids[] = { 1, 2 };
	struct ures r = do_load(7, 3, uids, 2);

	/* No uidvalidity stored: nothing can be answered. */
	ck_assert_int_eq(r.st, CACHE_CONFLICT);
	do_view(ACCOUNT, "pc", 7, 3);
	r = do_load(7, 3, uids, 2);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.count, 2);
	ck_assert_uint_eq(r.found, 0);
	ck_assert_str_eq(r.uidls[0], "");
	ures_free(&r);
}
END_TEST

START_TEST(uidl_assigned_once_never_replaced)
{
	static const uint32_t uids[] = { 1, 2, 3 };
	const struct cache_uidl_new first[] = {
		{ 1, "fpa", "000000010000000a" }, { 3, "", "legacy-3" },
	};
	const struct cache_uidl_new again[] = {
		{ 1, "fpa", "other" }, { 2, "fpb", "000000020000000a" },
	};
	struct ures r;

	do_view(ACCOUNT, "pc", 10, 4);
	r = do_assign(10, first, 2);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_str_eq(r.uidls[0], "");
	ck_assert_str_eq(r.uidls[1], "");
	ures_free(&r);
	expect_raw("1", "fpa 000000010000000a");
	expect_raw("3", "- legacy-3");
	/* A second session assigning the same message gets the first one's. */
	r = do_assign(10, again, 2);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_str_eq(r.uidls[0], "000000010000000a");
	ck_assert_str_eq(r.uidls[1], "");
	ures_free(&r);
	expect_raw("1", "fpa 000000010000000a");
	r = do_load(10, 4, uids, 3);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.found, 3);
	ck_assert_str_eq(r.uidls[0], "000000010000000a");
	ck_assert_str_eq(r.uidls[1], "000000020000000a");
	ck_assert_str_eq(r.uidls[2], "legacy-3");
	ures_free(&r);
}
END_TEST

START_TEST(uidl_other_uidvalidity_writes_nothing)
{
	const struct cache_uidl_new e[] = { { 1, "fpa", "x" } };
	static const uint32_t uids[] = { 1 };
	struct ures r;

	do_view(ACCOUNT, "pc", 10, 4);
	r = do_assign(11, e, 1);
	ck_assert_int_eq(r.st, CACHE_CONFLICT);
	expect_raw("1", NULL);
	r = do_load(11, 4, uids, 1);
	ck_assert_int_eq(r.st, CACHE_CONFLICT);
}
END_TEST

START_TEST(uidl_bad_arguments)
{
	static const uint32_t down[] = { 2, 1 };
	const struct cache_uidl_new bad[][1] = {
		{ { 0, "fp", "u" } },
		{ { 1, "f p", "u" } },
		{ { 1, "fp", "" } },
		{ { 1, "fp", "with space" } },
		{ { 1, "fp", "\x7f" } },
		{ { 1, "fp", "0123456789012345678901234567890123456789012345678901234567890123456789x" } },
		{ { 1, NULL, "u" } },
		{ { 1, "fp", NULL } },
	};
	const struct cache_uidl_new order[] = { { 2, "a", "a" }, { 2, "b", "b" } };
	struct ures r;
	size_t i;

	do_view(ACCOUNT, "pc", 10, 4);
	for (i = 0; i < N(bad); i++) {
		r = do_assign(10, bad[i], 1);
		ck_assert_msg(r.st == CACHE_ERROR, "entry %zu accepted", i);
	}
	r = do_assign(10, order, 2);
	ck_assert_int_eq(r.st, CACHE_ERROR);
	r = do_assign(0, order, 1);
	ck_assert_int_eq(r.st, CACHE_ERROR);
	r = do_load(10, 4, down, 2);
	ck_assert_int_eq(r.st, CACHE_ERROR);
	r = do_load(10, 2, down + 1, 1);     /* uid 1 below uidnext 2: fine */
	ck_assert_int_eq(r.st, CACHE_OK);
	ures_free(&r);
	r = do_load(10, 1, down + 1, 1);     /* not below uidnext */
	ck_assert_int_eq(r.st, CACHE_ERROR);
	ck_assert(cache_uidl_valid("0123456789012345678901234567890123456789012345678901234567890123456789"));
	ck_assert(!cache_uidl_valid(""));
	expect_raw("1", NULL);
}
END_TEST

START_TEST(uidl_prune_of_expunged_messages)
{
	static const uint32_t left[] = { 2, 4 };
	const struct cache_uidl_new e[] = {
		{ 1, "a", "u1" }, { 2, "b", "u2" }, { 3, "c", "u3" }, { 4, "d", "u4" },
		{ 9, "e", "u9" },
	};
	struct ures r;

	do_view(ACCOUNT, "pc", 10, 10);
	r = do_assign(10, e, 5);
	ck_assert_int_eq(r.st, CACHE_OK);
	ures_free(&r);
	/* 1 and 3 expunged; 9 is at or above the listing's uidnext (appended
	   after it was taken): kept. */
	r = do_load(10, 5, left, 2);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.pruned, 2);
	ck_assert_str_eq(r.uidls[0], "u2");
	ures_free(&r);
	expect_raw("1", NULL);
	expect_raw("3", NULL);
	expect_raw("4", "d u4");
	expect_raw("9", "e u9");
	/* An emptied mailbox: everything below uidnext goes. */
	r = do_load(10, 20, NULL, 0);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.pruned, 3);
	ures_free(&r);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:uidl", ACCOUNT), 0);
}
END_TEST

/* --- through a re-created mailbox --- */

START_TEST(uidl_follows_the_messages_through_a_remap)
{
	/* Old uids 1..5: two copies of one message (fpd), one without
	   fingerprint, one that is gone. */
	const struct cache_uidl_new e[] = {
		{ 1, "fpa", "A" }, { 2, "fpd", "D1" }, { 3, "-", "NOFP" }, { 4, "fpd", "D2" },
		{ 5, "fpgone", "G" },
	};
	const struct cache_remap_msg msgs[] = {
		{ 10, "fpd", 1 }, { 11, "fpa", 1 }, { 12, "none:12", 1 }, { 13, "fpd", 1 },
		{ 14, "fpnew", 1 },
	};
	static const uint32_t now[] = { 10, 11, 12, 13, 14 };
	struct ures r;
	struct res v = { 0 };

	do_view(ACCOUNT, "pc", 10, 6);
	r = do_assign(10, e, 5);
	ck_assert_int_eq(r.st, CACHE_OK);
	ures_free(&r);
	ck_assert_ptr_nonnull(cache_remap(cache, ACCOUNT, 10, 20, 15, msgs, 5, status_cb, &v));
	WAIT_ONE(v, 10000);
	ck_assert_int_eq(v.st, CACHE_OK);
	r = do_load(20, 15, now, 5);
	ck_assert_int_eq(r.st, CACHE_OK);
	/* The lower old uid of the copies takes the lower new uid. */
	ck_assert_str_eq(r.uidls[0], "D1");
	ck_assert_str_eq(r.uidls[1], "A");
	ck_assert_str_eq(r.uidls[2], "");
	ck_assert_str_eq(r.uidls[3], "D2");
	ck_assert_str_eq(r.uidls[4], "");
	ck_assert_uint_eq(r.found, 3);
	ures_free(&r);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:uidl", ACCOUNT), 3);
}
END_TEST

/* Retention's records of what a device retrieved, and a pass's intent,
   follow their messages the way the UIDL map does; those the map does
   not move (no fingerprint, gone, never listed) are dropped. */
START_TEST(retention_records_follow_the_messages_through_a_remap)
{
	const struct cache_uidl_new e[] = {
		{ 1, "fpa", "A" }, { 2, "fpd", "D1" }, { 3, "-", "NOFP" }, { 4, "fpd", "D2" },
		{ 5, "fpgone", "G" },
	};
	const struct cache_remap_msg msgs[] = {
		{ 10, "fpd", 1 }, { 11, "fpa", 1 }, { 12, "none:12", 1 }, { 13, "fpd", 1 },
		{ 14, "fpnew", 1 },
	};
	struct ures r;
	struct res v = { 0 };
	redisReply *reply;

	do_view(ACCOUNT, "pc", 10, 6);
	do_view(ACCOUNT, "phone", 10, 6);
	r = do_assign(10, e, 5);
	ck_assert_int_eq(r.st, CACHE_OK);
	ures_free(&r);
	freeReplyObject(raw_cmd("HSET popgate:{%s}:retr:pc 1 101 2 102 3 103 4 104 5 105 99 199",
				ACCOUNT));
	freeReplyObject(raw_cmd("HSET popgate:{%s}:retr:phone 4 204", ACCOUNT));
	freeReplyObject(raw_cmd("SADD popgate:{%s}:retention 1 3 4 5", ACCOUNT));
	ck_assert_ptr_nonnull(cache_remap(cache, ACCOUNT, 10, 20, 15, msgs, 5, status_cb, &v));
	WAIT_ONE(v, 10000);
	ck_assert_int_eq(v.st, CACHE_OK);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:retr:pc", ACCOUNT), 3);
	reply = raw_cmd("HGET popgate:{%s}:retr:pc 11", ACCOUNT);
	ck_assert_str_eq(reply->str, "101");          /* 1 (fpa) -> 11 */
	freeReplyObject(reply);
	reply = raw_cmd("HGET popgate:{%s}:retr:pc 10", ACCOUNT);
	ck_assert_str_eq(reply->str, "102");          /* the first copy -> 10 */
	freeReplyObject(reply);
	reply = raw_cmd("HGET popgate:{%s}:retr:pc 13", ACCOUNT);
	ck_assert_str_eq(reply->str, "104");          /* the second -> 13 */
	freeReplyObject(reply);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:retr:phone", ACCOUNT), 1);
	ck_assert_int_eq(raw_int("HEXISTS popgate:{%s}:retr:phone 13", ACCOUNT), 1);
	ck_assert_int_eq(raw_int("SCARD popgate:{%s}:retention", ACCOUNT), 2);
	ck_assert_int_eq(raw_int("SISMEMBER popgate:{%s}:retention 11", ACCOUNT), 1);
	ck_assert_int_eq(raw_int("SISMEMBER popgate:{%s}:retention 13", ACCOUNT), 1);
}
END_TEST

/* --- an import --- */

static enum cache_status do_import(const struct cache_uidl_legacy_entry *e, size_t n)
{
	struct res r = { 0 };

	ck_assert_ptr_nonnull(cache_uidl_import(cache, ACCOUNT, e, n, status_cb, &r));
	WAIT_ONE(r, 10000);
	return r.st;
}

static struct ures do_legacy(const struct cache_uidl_query *q, size_t n)
{
	struct ures r = { 0 };

	ck_assert_ptr_nonnull(cache_uidl_legacy(cache, ACCOUNT, q, n, uidls_cb, &r));
	WAIT_ONE(r, 10000);
	return r;
}

START_TEST(uidl_import_matched_by_message_id_then_size)
{
	const struct cache_uidl_legacy_entry e[] = {
		{ "<a@x>", 100, "old-a" },
		{ "<b@x>", 200, "old-b1" }, { "<b@x>", 300, "old-b2" },
		{ "<c d@x>", 5, "old-c" },
	};
	const struct cache_uidl_query q[] = {
		{ "<a@x>", 999 },       /* the only one: its size may differ */
		{ "<b@x>", 300 },       /* two: the one of that size */
		{ "<b@x>", 250 },       /* two, none of that size: none */
		{ "<c d@x>", 5 },
		{ "<none@x>", 1 },
		{ "", 100 },
	};
	struct ures r;

	ck_assert_int_eq(do_import(e, N(e)), CACHE_OK);
	r = do_legacy(q, N(q));
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_str_eq(r.uidls[0], "old-a");
	ck_assert_str_eq(r.uidls[1], "old-b2");
	ck_assert_str_eq(r.uidls[2], "");
	ck_assert_str_eq(r.uidls[3], "old-c");
	ck_assert_str_eq(r.uidls[4], "");
	ck_assert_str_eq(r.uidls[5], "");
	ck_assert_uint_eq(r.found, 3);
	ures_free(&r);
	/* A second import replaces the first, as a whole. */
	ck_assert_int_eq(do_import(e, 1), CACHE_OK);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:legacy", ACCOUNT), 1);
}
END_TEST

START_TEST(uidl_import_bad_entries_write_nothing)
{
	const struct cache_uidl_legacy_entry bad[][2] = {
		{ { "<a@x>", 1, "ok" }, { "", 1, "u" } },
		{ { "<a@x>", 1, "ok" }, { "<b@x>", 1, "has space" } },
		{ { "<a@x>", 1, "ok" }, { "<b@x>", 1, NULL } },
		{ { "<a@x>", 1, "ok" }, { NULL, 1, "u" } },
	};
	struct res r = { 0 };

	for (size_t i = 0; i < N(bad); i++)
		ck_assert_int_eq(do_import(bad[i], 2), CACHE_ERROR);
	ck_assert_ptr_nonnull(cache_uidl_import(cache, ACCOUNT, bad[0], 0, status_cb, &r));
	WAIT_ONE(r, 3000);
	ck_assert_int_eq(r.st, CACHE_ERROR);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:legacy", ACCOUNT), 0);
}
END_TEST

static void dump_cb(void *ctx, enum cache_status st, const struct cache_uidl_dump *d)
{
	struct ures *r = ctx;

	r->calls++;
	r->st = st;
	ck_assert((st == CACHE_OK) == (d != NULL));
	if (d == NULL)
		return;
	r->count = d->map_n;
	r->found = d->legacy_n;
	r->pruned = d->uidvalidity;
	r->uidls = calloc(2 * (d->map_n + d->legacy_n) + 1, sizeof(*r->uidls));
	for (size_t i = 0; i < 2 * d->map_n; i++)
		snprintf(r->uidls[i], sizeof(r->uidls[i]), "%s", d->map[i]);
	for (size_t i = 0; i < 2 * d->legacy_n; i++)
		snprintf(r->uidls[2 * d->map_n + i], sizeof(r->uidls[0]), "%s", d->legacy[i]);
}

START_TEST(uidl_dump_shows_map_and_import)
{
	const struct cache_uidl_new e[] = { { 4, "fpa", "u4" } };
	const struct cache_uidl_legacy_entry l[] = { { "<a@x>", 7, "old" } };
	struct ures r = { 0 };

	ck_assert_ptr_nonnull(cache_uidl_dump(cache, ACCOUNT, dump_cb, &r));
	WAIT_ONE(r, 3000);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.count + r.found + r.pruned, 0);
	ures_free(&r);
	do_view(ACCOUNT, "pc", 10, 5);
	r = do_assign(10, e, 1);
	ures_free(&r);
	ck_assert_int_eq(do_import(l, 1), CACHE_OK);
	memset(&r, 0, sizeof(r));
	ck_assert_ptr_nonnull(cache_uidl_dump(cache, ACCOUNT, dump_cb, &r));
	WAIT_ONE(r, 3000);
	ck_assert_uint_eq(r.pruned, 10);
	ck_assert_uint_eq(r.count, 1);
	ck_assert_uint_eq(r.found, 1);
	ck_assert_str_eq(r.uidls[0], "4");
	ck_assert_str_eq(r.uidls[1], "fpa u4");
	ck_assert_str_eq(r.uidls[2], "<a@x>");
	ck_assert_str_eq(r.uidls[3], "7 old");
	ures_free(&r);
}
END_TEST

/* The load says whether there is an import to match against. */
START_TEST(uidl_load_tells_of_an_import)
{
	const struct cache_uidl_legacy_entry l[] = { { "<a@x>", 7, "old" } };
	static const uint32_t uids[] = { 1 };
	struct ures r;

	do_view(ACCOUNT, "pc", 10, 2);
	r = do_load(10, 2, uids, 1);
	ck_assert(!r.legacy);
	ures_free(&r);
	ck_assert_int_eq(do_import(l, 1), CACHE_OK);
	r = do_load(10, 2, uids, 1);
	ck_assert(r.legacy);
	ures_free(&r);
}
END_TEST

/* --- the map's limit --- */

/* The map filled to CACHE_UIDL_MAP_MAX - 1 entries straight in Redis
   (fields past any UID the test assigns), then one assignment fills it
   and the next is refused, writing nothing: the real limit, not a
   smaller stand-in. */
START_TEST(uidl_map_limit_refuses_and_writes_nothing)
{
	const struct cache_uidl_new one[] = { { 1, "fpa", "000000010000000a" } };
	const struct cache_uidl_new two[] = { { 2, "fpb", "000000020000000a" } };
	const long long fill = CACHE_UIDL_MAP_MAX - 1, chunk = 250000;
	struct ures r;
	redisReply *x;

	do_view(ACCOUNT, "pc", 10, 3);
	for (long long from = 0; from < fill; from += chunk) {
		long long to = from + chunk < fill ? from + chunk : fill;

		x = raw_cmd("EVAL %s 1 popgate:{%s}:uidl %lld %lld",
			    "for i = tonumber(ARGV[1]), tonumber(ARGV[2]) - 1 do "
			    "redis.call('HSET', KEYS[1], 100000000 + i, 'x') end return 0",
			    ACCOUNT, from, to);
		ck_assert_int_eq(x->type, REDIS_REPLY_INTEGER);
		freeReplyObject(x);
	}
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:uidl", ACCOUNT), fill);
	r = do_assign(10, one, 1);
	ck_assert_int_eq(r.st, CACHE_OK);
	ures_free(&r);
	expect_raw("1", "fpa 000000010000000a");
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:uidl", ACCOUNT), CACHE_UIDL_MAP_MAX);
	r = do_assign(10, two, 1);
	ck_assert_int_eq(r.st, CACHE_LIMIT);
	ures_free(&r);
	expect_raw("2", NULL);
	ck_assert_int_eq(raw_int("HLEN popgate:{%s}:uidl", ACCOUNT), CACHE_UIDL_MAP_MAX);
}
END_TEST

/* --- memory --- */

struct heap_res {
	struct ures r;
	size_t heap;        /* in use when the answer came */
};

static void heap_cb(void *ctx, enum cache_status st, const struct cache_uidls *u)
{
	struct heap_res *h = ctx;

	h->heap = mallinfo2().uordblks;
	uidls_cb(&h->r, st, u);
}

/* A load of n UIDLs of Dovecot's form holds them at their own length (17
   octets with the NUL, a pointer and an offset each), not CACHE_UIDL_MAX
   + 1 each, while the answer is read and handed on. */
START_TEST(uidl_load_holds_uidls_at_their_length)
{
	enum { n = 10000 };
	struct cache_uidl_new *e = calloc(n, sizeof(*e));
	char (*ul)[CACHE_UIDL_MAX + 1] = calloc(n, sizeof(*ul));
	uint32_t *uids = uids_upto(n);
	struct cache_listing l = { .uidvalidity = 9, .uidnext = n + 1, .uids = uids, .n = n };
	struct heap_res h = { 0 };
	size_t before;
	struct ures r;

	for (size_t i = 0; i < n; i++) {
		snprintf(ul[i], sizeof(ul[i]), "%08x%08x", (unsigned int)(i + 1), 9u);
		e[i] = (struct cache_uidl_new){ (uint32_t)(i + 1), "fp", ul[i] };
	}
	/* One of each length. */
	memset(ul[0], 'a', 1);
	ul[0][1] = '\0';
	memset(ul[1], 'z', CACHE_UIDL_MAX);
	ul[1][CACHE_UIDL_MAX] = '\0';
	do_view(ACCOUNT, "pc", 9, n + 1);
	r = do_assign(9, e, n);
	ck_assert_int_eq(r.st, CACHE_OK);
	ures_free(&r);
	before = mallinfo2().uordblks;
	ck_assert_ptr_nonnull(cache_uidl_load(cache, ACCOUNT, &l, heap_cb, &h));
	WAIT_ONE(h.r, 20000);
	ck_assert_int_eq(h.r.st, CACHE_OK);
	ck_assert_uint_eq(h.r.found, n);
	ck_assert_str_eq(h.r.uidls[0], ul[0]);
	ck_assert_str_eq(h.r.uidls[1], ul[1]);
	ck_assert_str_eq(h.r.uidls[n - 1], ul[n - 1]);
	ck_assert_msg(h.heap - before <= (size_t)n * 40, "%zu octets held for %d UIDLs",
		      h.heap - before, n);
	ures_free(&h.r);
	free(e);
	free(ul);
	free(uids);
}
END_TEST

/* --- cost --- */

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static long long used_memory(void)
{
	redisReply *r = raw_cmd("INFO memory");
	const char *p = strstr(r->str, "used_memory:");
	long long v = atoll(p + strlen("used_memory:"));

	freeReplyObject(r);
	return v;
}

/* n messages with 64-hex fingerprints and Dovecot-form UIDLs: what one
   first login stores, and what each login after it reads. */
static void measure(size_t n)
{
	struct cache_uidl_new *e = calloc(n, sizeof(*e));
	char (*fps)[65] = calloc(n, sizeof(*fps));
	char (*ul)[24] = calloc(n, sizeof(*ul));
	uint32_t *uids = uids_upto(n);
	struct timespec t0;
	long long before;
	double assign_ms, load_ms;
	struct ures r;
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(fps[i], sizeof(fps[i]), "%016zx%016zx%016zx%016zx", i * 7919, i, ~i, i * 31);
		snprintf(ul[i], sizeof(ul[i]), "%08x%08x", (unsigned int)(i + 1), 1700000000u);
		e[i] = (struct cache_uidl_new){ (uint32_t)(i + 1), fps[i], ul[i] };
	}
	do_view(ACCOUNT, "pc", 1700000000u, (uint32_t)n + 1);
	before = used_memory();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = do_assign(1700000000u, e, n);
	assign_ms = ms_since(&t0);
	ck_assert_int_eq(r.st, CACHE_OK);
	ures_free(&r);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = do_load(1700000000u, (uint32_t)n + 1, uids, n);
	load_ms = ms_since(&t0);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.found, n);
	ck_assert_str_eq(r.uidls[n - 1], ul[n - 1]);
	ures_free(&r);
	fprintf(stderr, "uidl map of %zu messages: %.1f bytes/message in Redis, first "
		"assignment %.0f ms, each later login's load %.0f ms\n", n,
		(double)(used_memory() - before) / (double)n, assign_ms, load_ms);
	free(e);
	free(fps);
	free(ul);
	free(uids);
}

START_TEST(uidl_cost_10k)
{
	measure(10000);
}
END_TEST

START_TEST(uidl_cost_100k)
{
	measure(100000);
}
END_TEST

static Suite *uidl_suite(void)
{
	Suite *s = suite_create("cache_uidl");
	TCase *tc = cache_test_tcase("uidl");

	tcase_add_test(tc, uidl_needs_the_view_first);
	tcase_add_test(tc, uidl_assigned_once_never_replaced);
	tcase_add_test(tc, uidl_other_uidvalidity_writes_nothing);
	tcase_add_test(tc, uidl_bad_arguments);
	tcase_add_test(tc, uidl_prune_of_expunged_messages);
	tcase_add_test(tc, uidl_follows_the_messages_through_a_remap);
	tcase_add_test(tc, retention_records_follow_the_messages_through_a_remap);
	tcase_add_test(tc, uidl_import_matched_by_message_id_then_size);
	tcase_add_test(tc, uidl_import_bad_entries_write_nothing);
	tcase_add_test(tc, uidl_dump_shows_map_and_import);
	tcase_add_test(tc, uidl_load_tells_of_an_import);
	tcase_add_test(tc, uidl_load_holds_uidls_at_their_length);
	tcase_add_test(tc, uidl_cost_10k);
	tcase_add_test(tc, uidl_cost_100k);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	/* Its own case: two million entries take a while on a loaded machine. */
	tc = cache_test_tcase("uidl_limit");
	tcase_add_test(tc, uidl_map_limit_refuses_and_writes_nothing);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cache_test_run(uidl_suite());
}
