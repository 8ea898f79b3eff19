/*
 * The lazy import's marks: cache_legacy_claim(), cache_legacy_store(),
 * cache_legacy_release(), against a private redis-server: one login at a
 * time, once per account, the result whole or not at all.
 */

#include "test_cache_fixture.h"

struct cres {
	int calls;
	enum cache_status st;
	uint64_t value;
};

static void claim_cb(void *ctx, enum cache_status st, uint64_t value)
{
	struct cres *r = ctx;

	r->calls++;
	r->st = st;
	r->value = value;
}

static uint64_t do_claim(const char *token, unsigned int ttl_ms)
{
	struct cres r = { 0 };

	ck_assert_ptr_nonnull(cache_legacy_claim(cache, ACCOUNT, token, ttl_ms, claim_cb, &r));
	WAIT_ONE(r, 3000);
	ck_assert_int_eq(r.st, CACHE_OK);
	return r.value;
}

static enum cache_status do_store(const char *token, uint32_t uidv,
				  const struct cache_uidl_new *e, size_t n)
{
	struct res r = { 0 };

	ck_assert_ptr_nonnull(cache_legacy_store(cache, ACCOUNT, token, uidv, e, n,
						 "1700000000 old=2 matched=2", status_cb, &r));
	WAIT_ONE(r, 5000);
	return r.st;
}

static enum cache_status do_release(const char *token)
{
	struct res r = { 0 };

	ck_assert_ptr_nonnull(cache_legacy_release(cache, ACCOUNT, token, status_cb, &r));
	WAIT_ONE(r, 3000);
	return r.st;
}

static long long map_len(void)
{
	return raw_int("HLEN popgate:{%s}:uidl", ACCOUNT);
}

START_TEST(legacy_one_claim_at_a_time_then_done)
{
	const struct cache_uidl_new e[] = { { 2, "fpa", "old-a" }, { 5, "-", "old-b" } };

	do_view(ACCOUNT, "pc", 10, 8);
	ck_assert_uint_eq(do_claim("tok1", 60000), CACHE_LEGACY_CLAIMED);
	/* A second first login meanwhile: busy, whatever its token. */
	ck_assert_uint_eq(do_claim("tok2", 60000), CACHE_LEGACY_BUSY);
	ck_assert_uint_eq(do_claim("tok1", 60000), CACHE_LEGACY_BUSY);
	/* Only the holder stores. */
	ck_assert_int_eq(do_store("tok2", 10, e, 2), CACHE_CONFLICT);
	ck_assert_int_eq(map_len(), 0);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:legacy_done", ACCOUNT), 0);
	ck_assert_int_eq(do_store("tok1", 10, e, 2), CACHE_OK);
	ck_assert_int_eq(map_len(), 2);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:legacy_lease", ACCOUNT), 0);
	/* Done for good: no second import. */
	ck_assert_uint_eq(do_claim("tok3", 60000), CACHE_LEGACY_DONE);
	ck_assert_int_eq(do_store("tok1", 10, e, 2), CACHE_CONFLICT);
}
END_TEST

START_TEST(legacy_store_keeps_stored_uidls)
{
	const struct cache_uidl_new e[] = { { 2, "fpa", "old-a" }, { 3, "fpb", "old-b" } };
	redisReply *v;

	do_view(ACCOUNT, "pc", 10, 8);
	/* A UIDL given meanwhile (another route's login, before the switch). */
	freeReplyObject(raw_cmd("HSET popgate:{%s}:uidl 2 %s", ACCOUNT, "fpa given-before"));
	ck_assert_uint_eq(do_claim("t", 60000), CACHE_LEGACY_CLAIMED);
	ck_assert_int_eq(do_store("t", 10, e, 2), CACHE_OK);
	v = raw_cmd("HGET popgate:{%s}:uidl 2", ACCOUNT);
	ck_assert_str_eq(v->str, "fpa given-before");
	freeReplyObject(v);
	v = raw_cmd("HGET popgate:{%s}:uidl 3", ACCOUNT);
	ck_assert_str_eq(v->str, "fpb old-b");
	freeReplyObject(v);
}
END_TEST

START_TEST(legacy_other_uidvalidity_or_bad_entries_write_nothing)
{
	const struct cache_uidl_new e[] = { { 2, "fpa", "old-a" }, { 3, "fpb", "old-b" } };
	const struct cache_uidl_new bad[] = { { 3, "fpa", "old-a" }, { 2, "fpb", "old-b" } };
	const struct cache_uidl_new space[] = { { 2, "fpa", "old a" } };

	do_view(ACCOUNT, "pc", 10, 8);
	ck_assert_uint_eq(do_claim("t", 60000), CACHE_LEGACY_CLAIMED);
	ck_assert_int_eq(do_store("t", 11, e, 2), CACHE_CONFLICT);
	ck_assert_int_eq(do_store("t", 10, bad, 2), CACHE_ERROR);
	ck_assert_int_eq(do_store("t", 10, space, 1), CACHE_ERROR);
	ck_assert_int_eq(map_len(), 0);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:legacy_done", ACCOUNT), 0);
	/* Still the holder's: it gives the lease back, the next one claims. */
	ck_assert_int_eq(do_release("other"), CACHE_OK);
	ck_assert_uint_eq(do_claim("u", 60000), CACHE_LEGACY_BUSY);
	ck_assert_int_eq(do_release("t"), CACHE_OK);
	ck_assert_uint_eq(do_claim("u", 60000), CACHE_LEGACY_CLAIMED);
	/* Nothing to store (proceed): the mark alone. */
	ck_assert_int_eq(do_store("u", 10, NULL, 0), CACHE_OK);
	ck_assert_int_eq(map_len(), 0);
	ck_assert_uint_eq(do_claim("v", 60000), CACHE_LEGACY_DONE);
}
END_TEST

START_TEST(legacy_lease_expires)
{
	const struct cache_uidl_new e[] = { { 2, "fpa", "old-a" } };

	do_view(ACCOUNT, "pc", 10, 8);
	ck_assert_uint_eq(do_claim("t", 200), CACHE_LEGACY_CLAIMED);
	run_for(400);
	/* The holder died: another login takes over, the late one stores
	   nothing. */
	ck_assert_uint_eq(do_claim("u", 60000), CACHE_LEGACY_CLAIMED);
	ck_assert_int_eq(do_store("t", 10, e, 1), CACHE_CONFLICT);
	ck_assert_int_eq(map_len(), 0);
}
END_TEST

static Suite *legacy_suite(void)
{
	Suite *s = suite_create("cache_legacy");
	TCase *tc = cache_test_tcase("legacy");

	tcase_add_test(tc, legacy_one_claim_at_a_time_then_done);
	tcase_add_test(tc, legacy_store_keeps_stored_uidls);
	tcase_add_test(tc, legacy_other_uidvalidity_or_bad_entries_write_nothing);
	tcase_add_test(tc, legacy_lease_expires);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cache_test_run(legacy_suite());
}
