/* Unit tests for the expiring counters and marks (cache/cache_count.c)
   against a real redis-server. */

#include "test_cache_fixture.h"

struct count_res {
	int calls;
	enum cache_status st;
	uint64_t v;
};

static void count_cb(void *ctx, enum cache_status st, uint64_t v)
{
	struct count_res *r = ctx;

	r->calls++;
	r->st = st;
	r->v = v;
}

#define DO(call) ({ struct count_res r_ = { 0 }; \
	void *ctx_ = &r_; (void)ctx_; \
	ck_assert_ptr_nonnull(call); \
	ck_assert(run_until(&r_.calls, 1, 5000)); r_; })

static struct count_res incr(const char *tag, unsigned int ttl)
{
	return DO(cache_count_incr(cache, tag, "authfail", ttl, count_cb, ctx_));
}

static struct count_res get(const char *tag)
{
	return DO(cache_count_get(cache, tag, "authfail", count_cb, ctx_));
}

START_TEST(count_increments_and_expires)
{
	struct count_res r;

	ck_assert_uint_eq(get("ip:192.0.2.7").v, 0);
	for (unsigned int i = 1; i <= 3; i++) {
		r = incr("ip:192.0.2.7", 60000);
		ck_assert_int_eq(r.st, CACHE_OK);
		ck_assert_uint_eq(r.v, i);
	}
	r = get("ip:192.0.2.7");
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.v, 3);
	ck_assert_uint_eq(get("ip:192.0.2.8").v, 0);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:authfail", "ip:192.0.2.7"), 1);
	ck_assert_int_gt(raw_int("PTTL popgate:{%s}:authfail", "ip:192.0.2.7"), 50000);
	/* each failure moves the expiry */
	incr("ip:192.0.2.9", 60000);
	incr("ip:192.0.2.9", 120000);
	ck_assert_int_gt(raw_int("PTTL popgate:{%s}:authfail", "ip:192.0.2.9"), 60000);
	/* and the key goes with it */
	incr("ip:192.0.2.10", 300);
	run_for(1000);
	ck_assert_uint_eq(get("ip:192.0.2.10").v, 0);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:authfail", "ip:192.0.2.10"), 0);
}
END_TEST

START_TEST(count_saturates)
{
	freeReplyObject(raw_cmd("SET popgate:{%s}:authfail %d", ACCOUNT, CACHE_COUNT_MAX));
	ck_assert_uint_eq(incr(ACCOUNT, 1000).v, CACHE_COUNT_MAX);
	ck_assert_uint_eq(incr(ACCOUNT, 1000).v, CACHE_COUNT_MAX);
	ck_assert_int_gt(raw_int("PTTL popgate:{%s}:authfail", ACCOUNT), 0);
}
END_TEST

START_TEST(count_sub_keeps_expiry_and_deletes_at_zero)
{
	struct count_res r;

	for (int i = 0; i < 5; i++)
		incr("ip:10.0.0.1", 60000);
	r = DO(cache_count_sub(cache, "ip:10.0.0.1", "authfail", 2, count_cb, ctx_));
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.v, 3);
	ck_assert_int_gt(raw_int("PTTL popgate:{%s}:authfail", "ip:10.0.0.1"), 50000);
	r = DO(cache_count_sub(cache, "ip:10.0.0.1", "authfail", UINT64_MAX, count_cb, ctx_));
	ck_assert_uint_eq(r.v, 0);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:authfail", "ip:10.0.0.1"), 0);
	r = DO(cache_count_sub(cache, "ip:10.0.0.1", "authfail", 1, count_cb, ctx_));
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.v, 0);
}
END_TEST

START_TEST(mark_left)
{
	struct count_res r;

	r = DO(cache_mark_left(cache, ACCOUNT, "logindelay:pc", count_cb, ctx_));
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.v, 0);
	r = DO(cache_mark_set(cache, ACCOUNT, "logindelay:pc", 30000, count_cb, ctx_));
	ck_assert_int_eq(r.st, CACHE_OK);
	r = DO(cache_mark_left(cache, ACCOUNT, "logindelay:pc", count_cb, ctx_));
	ck_assert_uint_gt(r.v, 25000);
	ck_assert_uint_le(r.v, 30000);
	r = DO(cache_mark_left(cache, ACCOUNT, "logindelay:phone", count_cb, ctx_));
	ck_assert_uint_eq(r.v, 0);
}
END_TEST

START_TEST(bad_arguments)
{
	ck_assert_int_eq(DO(cache_count_incr(cache, "a{b", "x", 10, count_cb, ctx_)).st,
			 CACHE_ERROR);
	ck_assert_int_eq(DO(cache_count_incr(cache, "ip:1", "x y", 10, count_cb, ctx_)).st,
			 CACHE_ERROR);
	ck_assert_int_eq(DO(cache_count_incr(cache, "ip:1", "x", 0, count_cb, ctx_)).st,
			 CACHE_ERROR);
	ck_assert_int_eq(DO(cache_count_incr(cache, "ip:1", "x", CACHE_COUNT_TTL_MAX + 1,
					     count_cb, ctx_)).st, CACHE_ERROR);
	ck_assert_int_eq(DO(cache_count_get(cache, "", "x", count_cb, ctx_)).st, CACHE_ERROR);
	ck_assert_int_eq(DO(cache_mark_set(cache, "ip:1", "", 10, count_cb, ctx_)).st,
			 CACHE_ERROR);
	/* not a count */
	freeReplyObject(raw_cmd("SET popgate:{ip:1}:authfail abc"));
	ck_assert_int_eq(DO(cache_count_get(cache, "ip:1", "authfail", count_cb, ctx_)).st,
			 CACHE_ERROR);
	ck_assert_int_eq(DO(cache_count_incr(cache, "ip:1", "authfail", 10, count_cb,
					     ctx_)).st, CACHE_ERROR);
	ck_assert_int_eq(DO(cache_count_sub(cache, "ip:1", "authfail", 1, count_cb,
					    ctx_)).st, CACHE_ERROR);
	/* NULL callback: fire and forget */
	ck_assert_ptr_nonnull(cache_count_incr(cache, "ip:2", "authfail", 60000, NULL, NULL));
	ck_assert_uint_eq(get("ip:2").v, 1);
}
END_TEST

static Suite *count_suite(void)
{
	Suite *s = suite_create("cache_count");
	TCase *tc = cache_test_tcase("count");

	tcase_add_test(tc, count_increments_and_expires);
	tcase_add_test(tc, count_saturates);
	tcase_add_test(tc, count_sub_keeps_expiry_and_deletes_at_zero);
	tcase_add_test(tc, mark_left);
	tcase_add_test(tc, bad_arguments);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cache_test_run(count_suite());
}
