/* Unit tests for retention's decision (cache/cache_retention.c) against
   a real redis-server: the done rule, devices with a max_age (the need
   per uid), forgotten devices, another device's lock, the bound, the
   intent and its clearing, the registered devices' names. */

#include "test_cache_fixture.h"

#include <time.h>

#include "cache_retention.h"

struct ret_res {
	int calls;
	enum cache_status st;
	uint32_t uids[64], need[64];
	size_t count;
	char forgotten[256], busy[64], devices[256];
};

static void ret_cb(void *ctx, enum cache_status st, const struct cache_retention *d)
{
	struct ret_res *r = ctx;

	r->calls++;
	r->st = st;
	if (d != NULL) {
		r->count = d->count < 64 ? d->count : 64;
		if (d->uids != NULL)
			memcpy(r->uids, d->uids, r->count * sizeof(*r->uids));
		if (d->need != NULL)
			memcpy(r->need, d->need, r->count * sizeof(*r->need));
		snprintf(r->devices, sizeof(r->devices), "%s", d->devices != NULL ? d->devices : "");
		snprintf(r->forgotten, sizeof(r->forgotten), "%s", d->forgotten);
		snprintf(r->busy, sizeof(r->busy), "%s", d->busy);
	}
}

static struct ret_res decide_aged(const char *dev, const char *token, uint32_t uidvalidity,
				  uint64_t forget_after, size_t max,
				  const struct cache_retention_age *ages, size_t n_ages,
				  const uint32_t *retr, size_t n)
{
	struct ret_res r = { 0 };

	ck_assert_ptr_nonnull(cache_retention_decide(cache, ACCOUNT, dev, token, uidvalidity,
						     (uint64_t)time(NULL), forget_after, max,
						     ages, n_ages, retr, n, ret_cb, &r));
	WAIT_ONE(r, 5000);
	return r;
}

static struct ret_res decide(const char *dev, const char *token, uint32_t uidvalidity,
			     uint64_t forget_after, size_t max, const uint32_t *retr, size_t n)
{
	return decide_aged(dev, token, uidvalidity, forget_after, max, NULL, 0, retr, n);
}

/* The need of uid in r, or -1 when it is not there. */
static long long need_of(const struct ret_res *r, uint32_t uid)
{
	for (size_t i = 0; i < r->count; i++)
		if (r->uids[i] == uid)
			return r->need[i];
	return -1;
}

static bool has(const struct ret_res *r, uint32_t uid)
{
	for (size_t i = 0; i < r->count; i++)
		if (r->uids[i] == uid)
			return true;
	return false;
}

static void two_devices(void)
{
	ck_assert_int_eq(do_view(ACCOUNT, "pc", 7, 11).st, CACHE_OK);
	ck_assert_int_eq(do_view(ACCOUNT, "phone", 7, 11).st, CACHE_OK);
}

START_TEST(done_needs_every_device)
{
	const uint32_t r123[] = { 1, 2, 3 }, r1[] = { 1 }, h3[] = { 3 }, h5[] = { 5 };
	struct ret_res r;

	two_devices();
	ck_assert_int_eq(do_lock("phone", "tph", 60), CACHE_OK);
	r = decide("phone", "tph", 7, 0, 100, r123, 3);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.count, 0);           /* pc has none of them */
	freeReplyObject(raw_cmd("DEL popgate:{%s}:lock:phone", ACCOUNT));

	ck_assert_int_eq(do_lock("pc", "tpc", 60), CACHE_OK);
	ck_assert_int_eq(do_hide("pc", "tpc", false, 7, h3, NULL, 1), CACHE_OK);
	ck_assert_int_eq(do_hide("pc", "tpc", true, 7, h5, NULL, 1), CACHE_OK);
	r = decide("pc", "tpc", 7, 0, 100, r1, 1);
	ck_assert_int_eq(r.st, CACHE_OK);
	/* 1: both retrieved; 3: phone retrieved, pc deleted; 5: hide-all;
	   2: only phone */
	ck_assert_uint_eq(r.count, 3);
	ck_assert(has(&r, 1) && has(&r, 3) && has(&r, 5) && !has(&r, 2));
	ck_assert_uint_eq(r.uids[0], 1);         /* ascending */
	ck_assert_uint_eq(r.uids[2], 5);
	ck_assert_str_eq(r.forgotten, "");
	/* the bound */
	r = decide("pc", "tpc", 7, 0, 2, NULL, 0);
	ck_assert_uint_eq(r.count, 2);
	ck_assert_int_eq(raw_int("HEXISTS popgate:{%s}:seen pc", ACCOUNT), 1);
}
END_TEST

START_TEST(other_lock_and_own_lock)
{
	const uint32_t r1[] = { 1 };
	struct ret_res r;

	two_devices();
	ck_assert_int_eq(do_lock("pc", "tpc", 60), CACHE_OK);
	ck_assert_int_eq(do_lock("phone", "tph", 60), CACHE_OK);
	r = decide("pc", "tpc", 7, 0, 100, r1, 1);
	ck_assert_int_eq(r.st, CACHE_IN_USE);
	ck_assert_str_eq(r.busy, "phone");
	/* recorded all the same */
	ck_assert_int_eq(raw_int("HEXISTS popgate:{%s}:retr:pc 1", ACCOUNT), 1);
	r = decide("pc", "not-mine", 7, 0, 100, r1, 1);
	ck_assert_int_eq(r.st, CACHE_IN_USE);
	ck_assert_str_eq(r.busy, "");
	r = decide("pc", "tpc", 8, 0, 100, r1, 1);
	ck_assert_int_eq(r.st, CACHE_CONFLICT);
	/* the intent is refused while phone holds its lock */
	{
		struct res s = { 0 };

		ck_assert_ptr_nonnull(cache_retention_intent(cache, ACCOUNT, "pc", "tpc",
							     7, (uint64_t)time(NULL), 0, r1, 1,
							     status_cb, &s));
		WAIT_ONE(s, 5000);
		ck_assert_int_eq(s.st, CACHE_IN_USE);
		ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:retention", ACCOUNT), 0);
	}
}
END_TEST

START_TEST(forgotten_device_stops_counting)
{
	const uint32_t r4[] = { 4 };
	struct ret_res r;

	two_devices();
	ck_assert_int_eq(do_lock("pc", "tpc", 60), CACHE_OK);
	r = decide("pc", "tpc", 7, 0, 100, r4, 1);
	ck_assert_uint_eq(r.count, 0);
	/* phone last seen 1000 s ago; a lock of a forgotten device does not
	   hold the pass either */
	freeReplyObject(raw_cmd("HSET popgate:{%s}:seen phone %lld", ACCOUNT,
				(long long)time(NULL) - 1000));
	r = decide("pc", "tpc", 7, 2000, 100, NULL, 0);
	ck_assert_uint_eq(r.count, 0);
	ck_assert_str_eq(r.forgotten, "");
	r = decide("pc", "tpc", 7, 100, 100, NULL, 0);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_str_eq(r.forgotten, "phone");
	ck_assert_uint_eq(r.count, 1);
	ck_assert_uint_eq(r.uids[0], 4);
}
END_TEST

START_TEST(intent_then_finish)
{
	const uint32_t r12[] = { 1, 2 }, one[] = { 1 };
	struct ret_res r;
	struct res s = { 0 }, f = { 0 };

	two_devices();
	ck_assert_int_eq(do_lock("phone", "tph", 60), CACHE_OK);
	decide("phone", "tph", 7, 0, 100, r12, 2);
	freeReplyObject(raw_cmd("DEL popgate:{%s}:lock:phone", ACCOUNT));
	ck_assert_int_eq(do_lock("pc", "tpc", 60), CACHE_OK);
	r = decide("pc", "tpc", 7, 0, 100, one, 1);
	ck_assert_uint_eq(r.count, 1);
	ck_assert_ptr_nonnull(cache_retention_intent(cache, ACCOUNT, "pc", "tpc",
						     7, (uint64_t)time(NULL), 0, one, 1,
						     status_cb, &s));
	WAIT_ONE(s, 5000);
	ck_assert_int_eq(s.st, CACHE_OK);
	ck_assert_int_eq(raw_int("SISMEMBER popgate:{%s}:retention 1", ACCOUNT), 1);
	ck_assert_ptr_nonnull(cache_retention_finish(cache, ACCOUNT, 7, one, 1, status_cb, &f));
	WAIT_ONE(f, 5000);
	ck_assert_int_eq(f.st, CACHE_OK);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:retention", ACCOUNT), 0);
	ck_assert_int_eq(raw_int("HEXISTS popgate:{%s}:retr:phone 1", ACCOUNT), 0);
	ck_assert_int_eq(raw_int("HEXISTS popgate:{%s}:retr:pc 1", ACCOUNT), 0);
	ck_assert_int_eq(raw_int("HEXISTS popgate:{%s}:retr:phone 2", ACCOUNT), 1);
	r = decide("pc", "tpc", 7, 0, 100, NULL, 0);
	ck_assert_uint_eq(r.count, 0);
}
END_TEST

/* pc (no age) retrieved 1..4; phone (max_age 1d) retrieved 3, deleted
   4; tab (max_age 1h) has nothing. 1, 2: done once older than the
   largest age of those without them (1d); with tab given no age, none
   of them. */
START_TEST(ages_give_needs)
{
	const uint32_t r1234[] = { 1, 2, 3, 4 }, r3[] = { 3 }, h4[] = { 4 };
	const struct cache_retention_age phone_tab[] = { { "phone", 86400 }, { "tab", 3600 } };
	const struct cache_retention_age phone_only[] = { { "phone", 86400 } };
	const struct cache_retention_age tab_only[] = { { "tab", 3600 } };
	struct ret_res r;

	two_devices();
	ck_assert_int_eq(do_view(ACCOUNT, "tab", 7, 11).st, CACHE_OK);
	ck_assert_int_eq(do_lock("phone", "tph", 60), CACHE_OK);
	ck_assert_int_eq(do_hide("phone", "tph", false, 7, h4, NULL, 1), CACHE_OK);
	decide("phone", "tph", 7, 0, 100, r3, 1);
	freeReplyObject(raw_cmd("DEL popgate:{%s}:lock:phone", ACCOUNT));
	ck_assert_int_eq(do_lock("pc", "tpc", 60), CACHE_OK);

	r = decide("pc", "tpc", 7, 0, 100, r1234, 4);   /* no ages: tab has none */
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.count, 0);

	r = decide_aged("pc", "tpc", 7, 0, 100, phone_tab, 2, NULL, 0);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.count, 4);
	ck_assert_int_eq(need_of(&r, 1), 86400);
	ck_assert_int_eq(need_of(&r, 2), 86400);
	ck_assert_int_eq(need_of(&r, 3), 3600);        /* only tab lacks it */
	ck_assert_int_eq(need_of(&r, 4), 3600);
	ck_assert_uint_eq(r.uids[0], 1);               /* ascending */

	/* tab without an age holds back all four */
	r = decide_aged("pc", "tpc", 7, 0, 100, phone_only, 1, NULL, 0);
	ck_assert_uint_eq(r.count, 0);
	/* phone without an age: 3 and 4 only, it has them */
	r = decide_aged("pc", "tpc", 7, 0, 100, tab_only, 1, NULL, 0);
	ck_assert_uint_eq(r.count, 2);
	ck_assert_int_eq(need_of(&r, 3), 3600);
	ck_assert_int_eq(need_of(&r, 4), 3600);

	/* tab gets 4 too: done outright, and it fills the bound first */
	freeReplyObject(raw_cmd("HSET popgate:{%s}:retr:tab 4 1", ACCOUNT));
	r = decide_aged("pc", "tpc", 7, 0, 1, phone_tab, 2, NULL, 0);
	ck_assert_uint_eq(r.count, 1);
	ck_assert_int_eq(need_of(&r, 4), 0);
	r = decide_aged("pc", "tpc", 7, 0, 2, phone_tab, 2, NULL, 0);
	ck_assert_uint_eq(r.count, 2);
	ck_assert_int_eq(need_of(&r, 4), 0);

	/* an age for a device that is not registered changes nothing */
	{
		const struct cache_retention_age ghost[] = { { "phone", 86400 }, { "tab", 3600 },
							     { "ghost", 60 } };

		r = decide_aged("pc", "tpc", 7, 0, 100, ghost, 3, NULL, 0);
		ck_assert_uint_eq(r.count, 4);
		ck_assert_int_eq(need_of(&r, 1), 86400);
	}
}
END_TEST

START_TEST(devices_listed)
{
	struct ret_res r = { 0 };

	ck_assert_ptr_nonnull(cache_retention_devices(cache, ACCOUNT, ret_cb, &r));
	WAIT_ONE(r, 5000);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_str_eq(r.devices, "");
	two_devices();
	memset(&r, 0, sizeof(r));
	ck_assert_ptr_nonnull(cache_retention_devices(cache, ACCOUNT, ret_cb, &r));
	WAIT_ONE(r, 5000);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert(strcmp(r.devices, "pc phone") == 0 || strcmp(r.devices, "phone pc") == 0);
}
END_TEST

START_TEST(bad_arguments)
{
	struct ret_res r;
	const uint32_t zero[] = { 0 };

	two_devices();
	r = decide("pc", "tpc", 7, 0, 0, NULL, 0);
	ck_assert_int_eq(r.st, CACHE_ERROR);
	r = decide("pc", "tpc", 7, 0, CACHE_RETENTION_MAX + 1, NULL, 0);
	ck_assert_int_eq(r.st, CACHE_ERROR);
	r = decide("pc", "tpc", 7, 0, 10, zero, 1);
	ck_assert_int_eq(r.st, CACHE_ERROR);
	r = decide("bad/dev", "tpc", 7, 0, 10, NULL, 0);
	ck_assert_int_eq(r.st, CACHE_ERROR);
	{
		const struct cache_retention_age zero_age[] = { { "phone", 0 } };
		const struct cache_retention_age bad_name[] = { { "ph one", 60 } };

		r = decide_aged("pc", "tpc", 7, 0, 10, zero_age, 1, NULL, 0);
		ck_assert_int_eq(r.st, CACHE_ERROR);
		r = decide_aged("pc", "tpc", 7, 0, 10, bad_name, 1, NULL, 0);
		ck_assert_int_eq(r.st, CACHE_ERROR);
		r = decide_aged("pc", "tpc", 7, 0, 10, NULL, 1, NULL, 0);
		ck_assert_int_eq(r.st, CACHE_ERROR);
		r = decide_aged("pc", "tpc", 7, 0, 10, zero_age, CACHE_DEVICES_MAX + 1, NULL, 0);
		ck_assert_int_eq(r.st, CACHE_ERROR);
	}
	{
		const uint32_t one[] = { 1 };
		struct res s = { 0 }, f = { 0 };

		ck_assert_ptr_nonnull(cache_retention_intent(cache, ACCOUNT, "pc", "tpc", 0,
							     (uint64_t)time(NULL), 0, one, 1,
							     status_cb, &s));
		WAIT_ONE(s, 5000);
		ck_assert_int_eq(s.st, CACHE_ERROR);
		ck_assert_ptr_nonnull(cache_retention_finish(cache, ACCOUNT, 0, one, 1,
							     status_cb, &f));
		WAIT_ONE(f, 5000);
		ck_assert_int_eq(f.st, CACHE_ERROR);
	}
}
END_TEST

/* A pass cut off after its intent was written: the next one takes the
   intent's uids first (here 2 rather than 1, which the records list
   first), still checked against the rule. */
START_TEST(intent_taken_up_first)
{
	const uint32_t r12[] = { 1, 2 }, two[] = { 2 };
	struct ret_res r;
	struct res s = { 0 };

	two_devices();
	ck_assert_int_eq(do_lock("phone", "tph", 60), CACHE_OK);
	decide("phone", "tph", 7, 0, 100, r12, 2);
	freeReplyObject(raw_cmd("DEL popgate:{%s}:lock:phone", ACCOUNT));
	ck_assert_int_eq(do_lock("pc", "tpc", 60), CACHE_OK);
	r = decide("pc", "tpc", 7, 0, 100, r12, 2);
	ck_assert_uint_eq(r.count, 2);
	ck_assert_ptr_nonnull(cache_retention_intent(cache, ACCOUNT, "pc", "tpc",
						     7, (uint64_t)time(NULL), 0, two, 1,
						     status_cb, &s));
	WAIT_ONE(s, 5000);
	ck_assert_int_eq(s.st, CACHE_OK);
	r = decide("pc", "tpc", 7, 0, 1, NULL, 0);
	ck_assert_uint_eq(r.count, 1);
	ck_assert_uint_eq(r.uids[0], 2);
	/* a device reset since: the intent's uid is no longer done */
	freeReplyObject(raw_cmd("DEL popgate:{%s}:retr:phone", ACCOUNT));
	r = decide("pc", "tpc", 7, 0, 100, NULL, 0);
	ck_assert_uint_eq(r.count, 0);
}
END_TEST

/* A remap (uidvalidity 7 -> 8, another session found the mailbox
   recreated) between the decision and the intent or the finish: the
   decided uids are of the old numbering, so the intent is refused
   (CACHE_CONFLICT, none written) and the finish touches nothing (the
   record of the new numbering's uid 1 stays); with the new uidvalidity
   both go through. */
START_TEST(remap_between_decide_and_write)
{
	static const struct cache_remap_msg msgs[] = { { 1, "fpA", 1 }, { 2, "fpB", 1 } };
	const uint32_t r12[] = { 1, 2 }, one[] = { 1 };
	struct ret_res r;
	struct res s = { 0 }, f = { 0 }, m = { 0 };

	two_devices();
	ck_assert_int_eq(do_lock("phone", "tph", 60), CACHE_OK);
	decide("phone", "tph", 7, 0, 100, r12, 2);
	freeReplyObject(raw_cmd("DEL popgate:{%s}:lock:phone", ACCOUNT));
	ck_assert_int_eq(do_lock("pc", "tpc", 60), CACHE_OK);
	r = decide("pc", "tpc", 7, 0, 100, r12, 2);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_uint_eq(r.count, 2);
	ck_assert_ptr_nonnull(cache_remap(cache, ACCOUNT, 7, 8, 3, msgs, 2, status_cb, &m));
	WAIT_ONE(m, 5000);
	ck_assert_int_eq(m.st, CACHE_OK);
	freeReplyObject(raw_cmd("HSET popgate:{%s}:retr:phone 1 100", ACCOUNT));
	freeReplyObject(raw_cmd("HSET popgate:{%s}:retr:pc 1 100", ACCOUNT));

	ck_assert_ptr_nonnull(cache_retention_intent(cache, ACCOUNT, "pc", "tpc", 7,
						     (uint64_t)time(NULL), 0, one, 1,
						     status_cb, &s));
	WAIT_ONE(s, 5000);
	ck_assert_int_eq(s.st, CACHE_CONFLICT);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:retention", ACCOUNT), 0);
	ck_assert_ptr_nonnull(cache_retention_finish(cache, ACCOUNT, 7, one, 1, status_cb, &f));
	WAIT_ONE(f, 5000);
	ck_assert_int_eq(f.st, CACHE_CONFLICT);
	ck_assert_int_eq(raw_int("HEXISTS popgate:{%s}:retr:phone 1", ACCOUNT), 1);
	ck_assert_int_eq(raw_int("HEXISTS popgate:{%s}:retr:pc 1", ACCOUNT), 1);

	s = (struct res){ 0 };
	ck_assert_ptr_nonnull(cache_retention_intent(cache, ACCOUNT, "pc", "tpc", 8,
						     (uint64_t)time(NULL), 0, one, 1,
						     status_cb, &s));
	WAIT_ONE(s, 5000);
	ck_assert_int_eq(s.st, CACHE_OK);
	ck_assert_int_eq(raw_int("SISMEMBER popgate:{%s}:retention 1", ACCOUNT), 1);
	f = (struct res){ 0 };
	ck_assert_ptr_nonnull(cache_retention_finish(cache, ACCOUNT, 8, one, 1, status_cb, &f));
	WAIT_ONE(f, 5000);
	ck_assert_int_eq(f.st, CACHE_OK);
	ck_assert_int_eq(raw_int("HEXISTS popgate:{%s}:retr:phone 1", ACCOUNT), 0);
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:retention", ACCOUNT), 0);
}
END_TEST

static Suite *retention_suite(void)
{
	Suite *s = suite_create("cache_retention");
	TCase *tc = cache_test_tcase("retention");

	tcase_add_test(tc, done_needs_every_device);
	tcase_add_test(tc, other_lock_and_own_lock);
	tcase_add_test(tc, forgotten_device_stops_counting);
	tcase_add_test(tc, intent_then_finish);
	tcase_add_test(tc, intent_taken_up_first);
	tcase_add_test(tc, remap_between_decide_and_write);
	tcase_add_test(tc, ages_give_needs);
	tcase_add_test(tc, devices_listed);
	tcase_add_test(tc, bad_arguments);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cache_test_run(retention_suite());
}
